"""G3: the ingress's webhook endpoint against a bare Starlette endpoint (B_http).

Both servers run in child processes on the same uvicorn settings; the load comes
from this process over loopback. Each repetition measures the p99 latency at a
fixed offered rate and the saturation throughput, baseline first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.children import child, free_port
from bench.load import Deliveries, app_token, closed_loop, open_loop, percentile
from bench.report import Measurement, Row, Target, ratio_row
from bench.servers import BENCH_CLIENT_ID, BENCH_CLIENT_SECRET

log = logging.getLogger(__name__)

SPACE_ID = "bench-space"
P99_TARGET = Target("at_most", 3.0)
SATURATION_TARGET = Target("at_least", 0.4)


@dataclass(frozen=True)
class IngressLoad:
    """How hard and how long each repetition pushes: bounded by request counts."""

    rate: float = 200.0
    rate_requests: int = 2000
    concurrency: int = 32
    saturation_requests: int = 4000


@dataclass(frozen=True)
class ServerFigures:
    p99_ms: list[float]
    throughput: list[float]
    failures: int


async def _measure(port: int, bodies: Sequence[bytes], token: str, load: IngressLoad,
                   repetitions: int) -> ServerFigures:
    deliveries = Deliveries(port, f"/webhooks/jira/{SPACE_ID}", bodies, token)
    p99: list[float] = []
    throughput: list[float] = []
    failures = 0

    for repetition in range(repetitions + 1):
        # The first pass is the warm-up and is not kept.
        sent = await open_loop(deliveries, port, rate=load.rate, count=load.rate_requests)
        succeeded, seconds = await closed_loop(deliveries, port, concurrency=load.concurrency,
                                               count=load.saturation_requests)
        failures += sum(1 for item in sent if not 200 <= item.status < 300)
        failures += load.saturation_requests - succeeded
        if repetition == 0:
            continue
        p99.append(percentile([item.latency_s for item in sent], 0.99) * 1000)
        throughput.append(succeeded / seconds)
    return ServerFigures(p99, throughput, failures)


async def measure_ingress(
    *, bootstrap: str, prefix: str, cloud_id: str, bodies: Sequence[bytes],
    load: IngressLoad, repetitions: int, log_dir: Path,
) -> tuple[list[Row], list[Measurement]]:
    """Measure B_http and the ingress; return the G3 rows and their measurements."""
    token = app_token(BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, cloud_id)

    bare_port = free_port()
    async with child(["-m", "bench.servers", "bare", "--port", str(bare_port)],
                     log_dir / "bare.log"):
        bare = await _measure(bare_port, bodies, token, load, repetitions)

    ingress_port = free_port()
    ingress_args = ["-m", "bench.servers", "ingress", "--port", str(ingress_port),
                    "--bootstrap", bootstrap, "--prefix", prefix, "--space-id", SPACE_ID,
                    "--cloud-id", cloud_id, "--log-level", "INFO"]
    async with child(ingress_args, log_dir / "ingress.log"):
        ingress = await _measure(ingress_port, bodies, token, load, repetitions)

    bare_p99 = Measurement("B_http p99", "ms", tuple(bare.p99_ms))
    ingress_p99 = Measurement("ingress p99", "ms", tuple(ingress.p99_ms))
    bare_rate = Measurement("B_http", "req/s", tuple(bare.throughput))
    ingress_rate = Measurement("ingress", "req/s", tuple(ingress.throughput))
    rows = [
        ratio_row("G3", f"ingress p99 at {load.rate:.0f} req/s", ingress_p99, bare_p99,
                  P99_TARGET),
        ratio_row("G3", f"ingress saturation ({load.concurrency} connections)", ingress_rate,
                  bare_rate, SATURATION_TARGET),
    ]
    if ingress.failures or bare.failures:
        log.warning("non-2xx responses: ingress=%d bare=%d; see %s",
                    ingress.failures, bare.failures, log_dir)
        note = f"{ingress.failures} ingress and {bare.failures} baseline requests failed"
        rows = [replace(row, note=note) for row in rows]
    return rows, [bare_p99, ingress_p99, bare_rate, ingress_rate]
