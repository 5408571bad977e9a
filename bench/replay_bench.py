"""R0, R2, B_relay, the pure fold and projection, G1 and G6 over one ``jira.events`` topic.

G1 runs the real worker (:mod:`bench.worker_process`) in a child process with a
new consumer group each repetition, so it replays ``jira.events`` from offset 0.
Its rate comes from the broker timestamps of the ``naumu.graph.nodes`` records it
writes (one per issue projected), which leaves the worker's start-up and the
observer's lag out of the figure. The last repetition runs to the end of the
topic, and its peak RSS is G6.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.broker import end_offsets, wait_for_records
from bench.children import child, free_port
from bench.consume import decode_consume, fold_and_project, raw_consume, relay
from bench.report import Measurement, Row, Target, absolute_row, ratio_row
from streams.topics import TopicNames

log = logging.getLogger(__name__)

REPLAY_TARGET = Target("at_least", 0.5)
MEMORY_TARGET = Target("at_most", 600.0)


async def measure_consumers(
    bootstrap: str, names: TopicNames, relay_topic: str, events: int, repetitions: int
) -> list[Measurement]:
    """Measure R0, R2 and B_relay over ``names.events``, interleaved per repetition."""
    r0: list[float] = []
    r2: list[float] = []
    relayed: list[float] = []
    for repetition in range(repetitions + 1):
        raw = await raw_consume(bootstrap, names.events, events)
        decoded = await decode_consume(bootstrap, names.events, events)
        copied = await relay(bootstrap, names.events, relay_topic, events)
        if repetition:
            r0.append(raw.rate)
            r2.append(decoded.rate)
            relayed.append(copied.rate)
    return [Measurement("R0", "events/s", tuple(r0)), Measurement("R2", "events/s", tuple(r2)),
            Measurement("B_relay", "events/s", tuple(relayed))]


def measure_pure(records: Sequence[bytes], repetitions: int) -> Measurement:
    rates = []
    for repetition in range(repetitions + 1):
        timed = fold_and_project(records)
        if repetition:
            rates.append(timed.rate)
    return Measurement("pure fold+project", "events/s", tuple(rates))


async def _replay_once(bootstrap: str, names: TopicNames, app_id: str, expected: int,
                       sample: int, log_dir: Path, limit_s: float = 600.0
                       ) -> tuple[float, float, int]:
    """Run the worker until ``expected`` nodes are written or ``limit_s`` passed.

    Returns the rate over the first ``sample`` nodes (the same span in every
    repetition), the worker's peak RSS in MiB, and the nodes written.
    """
    since = await end_offsets(bootstrap, names.graph_nodes)
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as state_dir:
        args = ["-m", "bench.worker_process", "--bootstrap", bootstrap, "--prefix", names.prefix,
                "--app-id", app_id, "--state-dir", state_dir, "--web-port", str(free_port())]
        async with child(args, log_dir / f"{app_id}.log") as worker:
            written = await wait_for_records(bootstrap, names.graph_nodes, expected, since=since,
                                             timeout_s=limit_s, partial=True)
            peak = _peak_rss_mb(worker.pid)
    stamps = sorted(timestamp for timestamp, _, _ in written)[:sample]
    span_s = (stamps[-1] - stamps[0]) / 1000
    rate = (len(stamps) - 1) / span_s if span_s > 0 else float("nan")
    return rate, peak, len(written)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure_replay(
    bootstrap: str, names: TopicNames, *, issues: int, sample: int, repetitions: int,
    r2: Measurement, log_dir: Path, memory_limit_s: float,
) -> tuple[list[Row], list[Measurement]]:
    """G1 over the first ``sample`` nodes of each repetition; G6 after all ``issues``.

    The last repetition stops after ``memory_limit_s`` even when fewer issues were
    projected, so that a slow worker cannot stretch the run past its time bound.
    """
    rates: list[float] = []
    peak = float("nan")
    projected = 0
    for repetition in range(repetitions + 1):
        last = repetition == repetitions
        app_id = f"{names.prefix}worker-{repetition}"
        started = time.perf_counter()
        rate, rss, written = await _replay_once(
            bootstrap, names, app_id, issues if last else sample, sample, log_dir,
            memory_limit_s if last else 600.0)
        log.info("replay %d: %.0f events/s, peak RSS %.0f MiB, %.0f s", repetition, rate, rss,
                 time.perf_counter() - started)
        if repetition:
            rates.append(rate)
        if last:
            peak, projected = rss, written

    worker = Measurement("worker replay", "events/s", tuple(rates))
    memory = Measurement("worker peak RSS", "MiB", (peak,))
    memory_row = absolute_row("G6", f"worker RSS after {projected:,} issues projected",
                              memory, MEMORY_TARGET)
    if projected < issues and memory_row.verdict == "pass":
        # A partial pass proves nothing about the bound: memory grows with the issues.
        memory_row = replace(memory_row, verdict="not measured",
                             note=f"only {projected:,} of {issues:,} issues projected within "
                                  f"{memory_limit_s:.0f} s")
    rows = [
        ratio_row("G1", f"replay jira.events -> graph (worker, first {sample:,})", worker, r2,
                  REPLAY_TARGET),
        memory_row,
    ]
    return rows, [worker, memory]
