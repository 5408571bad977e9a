"""Measure the fold and the projection against the cost of decoding their input records.

Run with ``python tests/projections/speed_check.py [--count N] [--profile fold|project]``.
It builds ``N`` realistic ``IssueChanged`` records (generated REST v3 issues folded
from ``IssueObserved`` envelopes), then times, per record:

- ``decode+parse``: :func:`streams.codec.decode` and :func:`streams.codec.parse` only;
- ``replay``: the same, then :func:`projections.graph.project` with the key's state;
- ``project``: :func:`projections.graph.project` alone, on already parsed events;
- the same three for the fold of the ``IssueObserved`` records.

The figures are printed, not asserted, because they depend on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable
from typing import Any

from jira_sandbox.generator import generate_issue_payloads
from projections.fold import fold
from projections.graph import project
from streams import codec
from streams.contract import EventData, IssueObserved
from streams.envelope import Envelope

SPACE = "space-speed"
CLOUD = "cloud-speed"


def build_records(count: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    """Return encoded ``IssueObserved`` records and the ``IssueChanged`` records they fold to."""
    observed: list[bytes] = []
    changed: list[bytes] = []
    for issue in generate_issue_payloads(seed, count):
        data = IssueObserved(
            space_id=SPACE, cloud_id=CLOUD, origin="import", issue=issue, observed_at_ms=1
        )
        envelope = codec.make(data, source="/speed", subject=f"{CLOUD}:{issue['id']}")
        observed.append(codec.encode(envelope))
        for event in fold(None, envelope).events:
            out = codec.make(event, source="/speed", subject=envelope.subject)
            changed.append(codec.encode(out))
    return observed, changed


def rate(count: int, run: Callable[[], object]) -> float:
    """Return records per second of the best of three runs of ``run``."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def decode_parse(records: list[bytes]) -> list[tuple[Envelope, EventData]]:
    decoded = []
    for raw in records:
        envelope = codec.decode(raw)
        decoded.append((envelope, codec.parse(envelope)))
    return decoded


def replay(records: list[bytes]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for raw in records:
        envelope = codec.decode(raw)
        event = codec.parse(envelope)
        result = project(states.get(envelope.subject), event, event_time=envelope.time.isoformat())
        states[envelope.subject] = result.state
    return states


def project_only(events: list[tuple[Envelope, EventData]]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for envelope, event in events:
        result = project(states.get(envelope.subject), event, event_time="")
        states[envelope.subject] = result.state
    return states


def fold_all(records: list[bytes]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for raw in records:
        envelope = codec.decode(raw)
        states[envelope.subject] = fold(states.get(envelope.subject), envelope).state
    return states


def fold_only(envelopes: list[Envelope]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for envelope in envelopes:
        states[envelope.subject] = fold(states.get(envelope.subject), envelope).state
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="issues to generate")
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    parser.add_argument(
        "--profile", choices=["fold", "project"], help="print a cProfile of one step instead"
    )
    options = parser.parse_args()

    started = time.perf_counter()
    observed, changed = build_records(options.count, options.seed)
    print(
        f"built {len(observed)} IssueObserved and {len(changed)} IssueChanged records "
        f"in {time.perf_counter() - started:.1f} s"
    )
    parsed = decode_parse(changed)
    envelopes = [codec.decode(raw) for raw in observed]

    if options.profile is not None:
        profiler = cProfile.Profile()
        profiler.enable()
        if options.profile == "project":
            project_only(parsed)
        else:
            fold_only(envelopes)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        return

    baseline = rate(len(changed), lambda: decode_parse(changed))
    replayed = rate(len(changed), lambda: replay(changed))
    projected = rate(len(changed), lambda: project_only(parsed))
    print(f"IssueChanged decode+parse  {baseline:10.0f} records/s")
    print(f"IssueChanged replay        {replayed:10.0f} records/s  ratio {replayed / baseline:.2f}")
    print(f"project alone              {projected:10.0f} records/s")

    observed_baseline = rate(len(observed), lambda: decode_parse(observed))
    folded = rate(len(observed), lambda: fold_all(observed))
    fold_alone = rate(len(observed), lambda: fold_only(envelopes))
    print(f"IssueObserved decode+parse {observed_baseline:10.0f} records/s")
    print(
        f"IssueObserved decode+fold  {folded:10.0f} records/s  "
        f"ratio {folded / observed_baseline:.2f}"
    )
    print(f"fold alone                 {fold_alone:10.0f} records/s")


if __name__ == "__main__":
    main()
