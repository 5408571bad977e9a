"""G4 and G2: a live run from the ingress through the worker, then two replays.

The run gets its own uuid-prefixed topics. It imports a generated site by writing
each issue as ``IssueObserved(origin="import")`` to ``jira.inbound``, starts the
worker (:mod:`bench.worker_process`, with its read API) and waits until the graph
has every issue. It then starts the ingress (:mod:`bench.servers`) with an active
connection for that site and sends ``jira:issue_updated`` deliveries of real site
edits, signed like Jira's, open-loop at each phase's rate.

G4 traces every delivery to its first graph change. The ingress stamps
``WebhookReceived.received_at_ms`` when it accepts the delivery. The fold and the
projection give each output record the id ``derived_id(input id, index)``, so the
first ``naumu.graph.changes`` record caused by a delivery has a known id. Its broker
timestamp minus ``received_at_ms`` is that delivery's latency. Each phase waits
until the worker has drained before the next one starts, so a backlog of the
500/s phase never counts against the 50/s phase.

G2 reads the live graph hash from the worker's read API once the worker is idle,
then runs :func:`service.replay.replay` twice from offset 0 of ``jira.events``, each
into a new state directory. All three hashes must be equal.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import broker
from bench.children import child, free_port
from bench.inputs import (
    SPACE_ID,
    IssueSite,
    KeyedRecord,
    issue_payloads,
    issue_site,
    observed_envelope,
    webhook_bodies,
)
from bench.load import Deliveries, app_token, open_loop, percentile
from bench.report import Measurement, Row, Target, absolute_row
from bench.servers import BENCH_CLIENT_ID, BENCH_CLIENT_SECRET
from service.pipeline import derived_id
from service.replay import replay
from streams import codec
from streams.admin import ensure_topics
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames

log = logging.getLogger(__name__)

GRAPH_READY_TIMEOUT_S = 300.0
# A phase has drained when every delivery is traced, or when no new graph change
# appeared for this long (some deliveries then had no graph change).
DRAIN_QUIET_S = 10.0
DRAIN_TIMEOUT_S = 180.0
# The fold writes its events first and its refetch requests after them, so a
# delivery's first event has one of the first few output indexes.
FOLD_OUTPUT_INDEXES = range(4)


@dataclass(frozen=True)
class Phase:
    """Deliveries sent open-loop at ``rate`` per second, ``count`` in all."""

    rate: float
    count: int
    target_ms: float


@dataclass(frozen=True)
class LiveLoad:
    """The site imported before the live run, and the phases of deliveries sent to it."""

    issues: int = 300
    warmup: Phase = Phase(rate=50.0, count=100, target_ms=float("inf"))
    phases: tuple[Phase, ...] = (
        Phase(rate=50.0, count=1000, target_ms=250.0),
        Phase(rate=500.0, count=2500, target_ms=1000.0),
    )

    @property
    def deliveries(self) -> int:
        return self.warmup.count + sum(phase.count for phase in self.phases)


@dataclass(frozen=True)
class Traced:
    """The deliveries of one phase that reached the graph, and those that did not."""

    latencies_ms: list[float]
    untraced: int
    # Milliseconds from the first acceptance to the latest first graph change of a delivery.
    span_ms: float = 0.0

    @property
    def rate(self) -> float:
        """Deliveries per second that reached the graph over the phase's span."""
        return len(self.latencies_ms) * 1000 / self.span_ms if self.span_ms else float("nan")


# --- reading the topics -------------------------------------------------------------------


async def read_new(bootstrap: str, topic: str,
                   since: dict[int, int]) -> list[tuple[int, bytes, bytes]]:
    """Return (timestamp ms, key, value) of every record between ``since`` and the end now."""
    async with broker.reader(bootstrap, topic) as consumer:
        ends = await consumer.end_offsets(list(consumer.assignment()))
        remaining = set()
        for tp, end in ends.items():
            start = since.get(tp.partition, 0)
            if end > start:
                consumer.seek(tp, start)
                remaining.add(tp)
        found: list[tuple[int, bytes, bytes]] = []
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for tp, messages in batches.items():
                found.extend((m.timestamp, m.key or b"", m.value or b"") for m in messages)
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
    return found


def received_deliveries(records: Sequence[tuple[int, bytes, bytes]]) -> dict[str, tuple[str, int]]:
    """Map each delivery id in ``jira.inbound`` records to (envelope id, received_at_ms)."""
    found: dict[str, tuple[str, int]] = {}
    for _, _, value in records:
        envelope = codec.decode(value)
        if envelope.type != "jira.webhook.received":
            continue
        found[str(envelope.data["delivery_id"])] = (envelope.id,
                                                    int(envelope.data["received_at_ms"]))
    return found


def change_stamps(records: Sequence[tuple[int, bytes, bytes]]) -> dict[str, int]:
    """Map each ``naumu.graph.changes`` envelope id to its broker timestamp in ms."""
    return {codec.decode(value).id: timestamp for timestamp, _, value in records}


def first_change_ids(webhook_envelope_id: str) -> Iterator[str]:
    """Yield the ids the first graph change caused by one delivery can have, likeliest first."""
    for index in FOLD_OUTPUT_INDEXES:
        yield derived_id(derived_id(webhook_envelope_id, index), 0)


def trace(delivery_ids: Sequence[str], received: dict[str, tuple[str, int]],
          changes: dict[str, int]) -> Traced:
    """Return the latency from acceptance to first graph change of each delivery."""
    latencies: list[float] = []
    untraced = 0
    first_accepted: int | None = None
    last_change: int | None = None
    for delivery_id in delivery_ids:
        accepted = received.get(delivery_id)
        if accepted is None:
            untraced += 1
            continue

        envelope_id, received_at_ms = accepted
        stamps = [changes[c] for c in first_change_ids(envelope_id) if c in changes]
        if not stamps:
            untraced += 1
            continue
        latencies.append(float(stamps[0] - received_at_ms))
        first_accepted = min(received_at_ms, first_accepted or received_at_ms)
        last_change = max(stamps[0], last_change or stamps[0])

    span_ms = 0.0
    if first_accepted is not None and last_change is not None:
        span_ms = float(last_change - first_accepted)
    return Traced(latencies, untraced, span_ms)


# --- the run ------------------------------------------------------------------------------


async def _import_site(bootstrap: str, names: TopicNames, source: IssueSite) -> int:
    records = []
    for index, issue in enumerate(issue_payloads(source)):
        envelope = observed_envelope(source, issue, index)
        records.append(KeyedRecord(envelope.subject, codec.encode(envelope)))
    return await broker.produce(bootstrap, names.inbound, records)


async def _summary(http: httpx.AsyncClient, read_port: int) -> dict[str, Any]:
    response = await http.get(f"http://127.0.0.1:{read_port}/spaces/{SPACE_ID}/graph/summary")
    response.raise_for_status()
    summary: dict[str, Any] = response.json()
    return summary


async def _wait_for_graph(http: httpx.AsyncClient, read_port: int, issues: int) -> None:
    """Wait until the worker's read API shows as many nodes as issues were imported."""
    deadline = time.monotonic() + GRAPH_READY_TIMEOUT_S
    seen = 0
    while time.monotonic() < deadline:
        try:
            # Imported issues are the only nodes, and an issue node's type is its issue type.
            seen = int((await _summary(http, read_port))["node_count"])
        except httpx.HTTPError:
            seen = 0
        if seen >= issues:
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"the worker's graph had {seen} nodes for {issues} issues after "
                       f"{GRAPH_READY_TIMEOUT_S:.0f} s; check the worker's log")


async def _drain(bootstrap: str, names: TopicNames, delivery_ids: Sequence[str],
                 since_inbound: dict[int, int], since_changes: dict[int, int]) -> Traced:
    """Wait until every delivery of a phase is traced or the graph goes quiet; trace them."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    quiet_since = time.monotonic()
    known = -1
    while True:
        received = received_deliveries(await read_new(bootstrap, names.inbound, since_inbound))
        changes = change_stamps(await read_new(bootstrap, names.graph_changes, since_changes))
        traced = trace(delivery_ids, received, changes)
        now = time.monotonic()
        if len(changes) != known:
            known, quiet_since = len(changes), now
        if not traced.untraced or now - quiet_since > DRAIN_QUIET_S or now > deadline:
            return traced
        await asyncio.sleep(2.0)


async def _run_phase(bootstrap: str, names: TopicNames, ingress_port: int, token: str,
                     bodies: Sequence[bytes], phase: Phase) -> tuple[Traced, float]:
    """Send one phase's deliveries and trace them; also return the HTTP p99 in ms."""
    since_inbound = await broker.end_offsets(bootstrap, names.inbound)
    since_changes = await broker.end_offsets(bootstrap, names.graph_changes)
    deliveries = Deliveries(ingress_port, f"/webhooks/jira/{SPACE_ID}", bodies, token)
    sent = await open_loop(deliveries, ingress_port, rate=phase.rate, count=phase.count)
    rejected = sum(1 for item in sent if not 200 <= item.status < 300)
    if rejected:
        log.warning("ingress rejected %d of %d deliveries at %.0f/s", rejected, len(sent),
                    phase.rate)
    http_p99 = percentile([item.latency_s for item in sent], 0.99) * 1000
    traced = await _drain(bootstrap, names, [item.delivery_id for item in sent],
                          since_inbound, since_changes)
    log.info("live phase %.0f/s: %d traced, %d untraced, p99 %.0f ms, HTTP p99 %.0f ms",
             phase.rate, len(traced.latencies_ms), traced.untraced,
             percentile(traced.latencies_ms, 0.99), http_p99)
    return traced, http_p99


async def _agent_busy(http: httpx.AsyncClient, read_port: int) -> str:
    """Describe the time each agent spent in its step per record, from the worker's ``/stats``."""
    response = await http.get(f"http://127.0.0.1:{read_port}/stats")
    response.raise_for_status()
    parts = []
    for name, stats in sorted(response.json().items()):
        processed = int(stats["processed"])
        if processed:
            parts.append(f"{name} {processed:,} records, "
                         f"{float(stats['busy_s']) * 1000 / processed:.2f} ms each")
    return ("worker agents over the live run, import included, time from decode to the "
            "last send: " + ("; ".join(parts) or "no records"))


async def _stable_hash(http: httpx.AsyncClient, read_port: int) -> tuple[str, int]:
    """Return the live graph hash and node count once two reads 2 s apart agree."""
    previous = await _summary(http, read_port)
    for _ in range(30):
        await asyncio.sleep(2.0)
        current = await _summary(http, read_port)
        if current["graph_hash"] == previous["graph_hash"]:
            return str(current["graph_hash"]), int(current["node_count"])
        previous = current
    raise TimeoutError("the live graph hash kept changing for 60 s; the worker is not idle")


def _phase_rows(load: LiveLoad, results: list[tuple[Traced, float]]) -> tuple[list[Row],
                                                                              list[Measurement]]:
    rows: list[Row] = []
    measurements: list[Measurement] = []
    for phase, (traced, http_p99) in zip(load.phases, results, strict=True):
        p99 = Measurement(f"webhook -> graph change p99 at {phase.rate:.0f}/s", "ms",
                          (percentile(traced.latencies_ms, 0.99),))
        median = percentile(traced.latencies_ms, 0.5)
        row = absolute_row("G4", f"webhook accepted -> graph change, p99 at {phase.rate:.0f}/s "
                                 f"({phase.count:,} deliveries)",
                           p99, Target("at_most", phase.target_ms))
        note = (f"median {median:.0f} ms; ingress HTTP p99 {http_p99:.0f} ms; "
                f"{traced.rate:.0f} deliveries/s reached the graph")
        if traced.untraced:
            note += f"; {traced.untraced} deliveries without a graph change"
        rows.append(Row(row.goal, row.what, row.figure, row.baseline, row.ratio, row.target,
                        row.verdict, note))
        measurements.append(p99)
    return rows, measurements


async def measure_live(*, bootstrap: str, seed: int, load: LiveLoad,
                       log_dir: Path) -> tuple[list[Row], list[Measurement], list[str]]:
    """Run G4's phases and then G2's replays; return their rows, measurements and notes."""
    names = TopicNames(prefix=broker.new_prefix("bench-live"))
    await ensure_topics(bootstrap, names.specs())
    try:
        return await _measure(bootstrap, names, seed, load, log_dir)
    finally:
        await broker.delete_prefixed(bootstrap, names.prefix)


async def _measure(bootstrap: str, names: TopicNames, seed: int, load: LiveLoad,
                   log_dir: Path) -> tuple[list[Row], list[Measurement], list[str]]:
    source = issue_site(seed, load.issues)
    imported = await _import_site(bootstrap, names, source)
    bodies = webhook_bodies(seed, load.deliveries, issues=load.issues)
    token = app_token(BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, source.cloud_id)
    notes = [f"live run: {imported:,} issues imported, then {load.deliveries:,} webhook "
             f"deliveries ({load.warmup.count} of them a warm-up at {load.warmup.rate:.0f}/s)"]

    read_port, ingress_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as scratch:
        worker_args = ["-m", "bench.worker_process", "--bootstrap", bootstrap,
                       "--prefix", names.prefix, "--app-id", f"{names.prefix}worker",
                       "--state-dir", str(Path(scratch) / "worker"),
                       "--web-port", str(free_port()), "--read-api-port", str(read_port)]
        ingress_args = ["-m", "bench.servers", "ingress", "--port", str(ingress_port),
                        "--bootstrap", bootstrap, "--prefix", names.prefix,
                        "--space-id", SPACE_ID, "--cloud-id", source.cloud_id]
        async with (httpx.AsyncClient(timeout=60.0) as http,
                    child(worker_args, log_dir / "live-worker.log"),
                    child(ingress_args, log_dir / "live-ingress.log")):
            await _wait_for_graph(http, read_port, imported)

            offset = 0
            results: list[tuple[Traced, float]] = []
            for index, phase in enumerate((load.warmup, *load.phases)):
                # Each body is a newer edit than the ones before it, so none is sent twice.
                phase_bodies = bodies[offset:offset + phase.count]
                offset += phase.count
                outcome = await _run_phase(bootstrap, names, ingress_port, token, phase_bodies,
                                           phase)
                if index:
                    results.append(outcome)
            rows, measurements = _phase_rows(load, results)
            notes.append(await _agent_busy(http, read_port))

            live_hash, live_nodes = await _stable_hash(http, read_port)
            replay_rows, replay_notes = await _replays(bootstrap, names, Path(scratch),
                                                       live_hash, live_nodes)
            if (await _summary(http, read_port))["graph_hash"] != live_hash:
                replay_notes.append("the live graph changed during the replays")
    return [*rows, *replay_rows], measurements, notes + replay_notes


async def _replays(bootstrap: str, names: TopicNames, scratch: Path, live_hash: str,
                   live_nodes: int) -> tuple[list[Row], list[str]]:
    settings = StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                                         "TOPIC_PREFIX": names.prefix})
    hashes: list[str] = []
    notes: list[str] = []
    for run in (1, 2):
        result = await replay(settings, state_dir=scratch / f"replay-{run}", names=names)
        hashes.append(result.hashes.get(SPACE_ID, "none"))
        notes.append(f"replay {run}: {result.events:,} events in {result.seconds:.1f} s, "
                     f"{result.nodes.get(SPACE_ID, 0):,} nodes, hash {hashes[-1][:16]}")
    identical = all(digest == live_hash for digest in hashes)
    row = Row("G2", "replay twice from offset 0: graph hash = live hash",
              f"{'identical' if identical else 'different'} ({live_nodes:,} nodes, "
              f"live {live_hash[:16]})", target="identical",
              verdict="pass" if identical else "miss")
    return [row], notes
