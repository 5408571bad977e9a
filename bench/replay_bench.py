"""R0, R2, B_relay, the pure fold and projection, G1 and G6 over one ``jira.events`` topic.

G1 runs the real worker (:mod:`bench.worker_process`) in a child process with a
new consumer group each repetition, so it replays ``jira.events`` from offset 0.
Its rate comes from the broker timestamps of the ``naumu.graph.nodes`` records it
writes (one per issue projected), which leaves the worker's start-up and the
observer's lag out of the figure. The last repetition runs to the end of the
topic, and its peak RSS is G6. When a time limit stops it early, the RSS samples
taken every few seconds give a linear estimate for the whole topic.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.broker import end_offsets, wait_for_records
from bench.children import child, free_port, rss_mb
from bench.consume import decode_consume, fold_and_project, raw_consume, relay
from bench.report import Measurement, Row, Target, absolute_row, ratio_row
from streams.topics import TopicNames

log = logging.getLogger(__name__)

REPLAY_TARGET = Target("at_least", 0.5)
MEMORY_TARGET = Target("at_most", 600.0)
RSS_SAMPLE_INTERVAL_S = 2.0
# The relay baseline is an information row that no goal divides by. At about
# 2,400 events/s on 2 cores, copying all 100,000 events in every repetition would
# take most of three minutes, so it copies the first 20,000 only.
RELAY_EVENTS = 20_000

# (wall-clock time in ms, resident set size in MiB)
RssSample = tuple[float, float]


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
        copied = await relay(bootstrap, names.events, relay_topic, min(events, RELAY_EVENTS))
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


async def _sample_rss(pid: int, samples: list[RssSample]) -> None:
    """Append the resident set size of ``pid`` every few seconds until cancelled or it exits."""
    while True:
        try:
            samples.append((time.time() * 1000, rss_mb(pid)))
        except (OSError, RuntimeError):
            return
        await asyncio.sleep(RSS_SAMPLE_INTERVAL_S)


async def _replay_once(bootstrap: str, names: TopicNames, app_id: str, expected: int,
                       sample: int, log_dir: Path, limit_s: float = 600.0
                       ) -> tuple[float, float, int, list[tuple[int, float]]]:
    """Run the worker until ``expected`` nodes are written or ``limit_s`` passed.

    Returns the rate over the first ``sample`` nodes (the same span in every
    repetition), the worker's peak RSS in MiB, the nodes written, and RSS samples
    as (nodes written by then, MiB).
    """
    since = await end_offsets(bootstrap, names.graph_nodes)
    samples: list[RssSample] = []
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as state_dir:
        args = ["-m", "bench.worker_process", "--bootstrap", bootstrap, "--prefix", names.prefix,
                "--app-id", app_id, "--state-dir", state_dir, "--web-port", str(free_port())]
        async with child(args, log_dir / f"{app_id}.log") as worker:
            sampler = asyncio.create_task(_sample_rss(worker.pid, samples))
            try:
                written = await wait_for_records(bootstrap, names.graph_nodes, expected,
                                                 since=since, timeout_s=limit_s, partial=True)
            finally:
                sampler.cancel()
            peak = _peak_rss_mb(worker.pid)
    stamps = sorted(timestamp for timestamp, _, _ in written)
    first = stamps[:sample]
    span_s = (first[-1] - first[0]) / 1000
    rate = (len(first) - 1) / span_s if span_s > 0 else float("nan")
    return rate, peak, len(written), rss_by_progress(samples, stamps)


def rss_by_progress(samples: Sequence[RssSample],
                    stamps: Sequence[int]) -> list[tuple[int, float]]:
    """Pair each RSS sample with the nodes written up to its time (``stamps`` sorted, in ms)."""
    return [(bisect_right(stamps, at_ms), mib) for at_ms, mib in samples]


def estimate_rss(progress: Sequence[tuple[int, float]], issues: int) -> float | None:
    """Extrapolate RSS to ``issues`` with a least-squares line through the later samples.

    It uses only the samples past half of the final progress count, so that start-up and
    table recovery do not set the slope. Returns None with fewer than three such
    samples or no progress between them.
    """
    if not progress:
        return None
    final = max(count for count, _ in progress)
    later = [(float(count), mib) for count, mib in progress if count >= final / 2]
    if len(later) < 3:
        return None

    mean_x = sum(x for x, _ in later) / len(later)
    mean_y = sum(y for _, y in later) / len(later)
    spread = sum((x - mean_x) ** 2 for x, _ in later)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in later) / spread
    return mean_y + slope * (issues - mean_x)


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
    progress: list[tuple[int, float]] = []
    for repetition in range(repetitions + 1):
        last = repetition == repetitions
        app_id = f"{names.prefix}worker-{repetition}"
        started = time.perf_counter()
        rate, rss, written, samples = await _replay_once(
            bootstrap, names, app_id, issues if last else sample, sample, log_dir,
            memory_limit_s if last else 600.0)
        log.info("replay %d: %.0f events/s, peak RSS %.0f MiB, %.0f s", repetition, rate, rss,
                 time.perf_counter() - started)
        if repetition:
            rates.append(rate)
        if last:
            peak, projected, progress = rss, written, samples

    worker = Measurement("worker replay", "events/s", tuple(rates))
    memory = Measurement("worker peak RSS", "MiB", (peak,))
    memory_row = absolute_row("G6", f"worker RSS after {projected:,} issues projected",
                              memory, MEMORY_TARGET)
    if projected < issues and memory_row.verdict == "pass":
        # A partial pass proves nothing about the bound: memory grows with the issues.
        estimate = estimate_rss(progress, issues)
        note = f"only {projected:,} of {issues:,} issues projected within {memory_limit_s:.0f} s"
        if estimate is not None:
            note += f"; linear estimate at {issues:,}: {estimate:.0f} MiB"
        memory_row = replace(memory_row, verdict="not measured", note=note)
    rows = [
        ratio_row("G1", f"replay jira.events -> graph (worker, first {sample:,})", worker, r2,
                  REPLAY_TARGET),
        memory_row,
    ]
    return rows, [worker, memory]
