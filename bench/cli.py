"""``python -m bench``: measure every goal against its baselines in one run.

Steps: connect to the broker (``KAFKA_BOOTSTRAP_SERVERS``, or a local broker
started for the run), create uuid-prefixed topics, generate the input from the
seed, run each group of measurements, print the table, write the JSON, and
delete the topics.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import broker
from bench.consume import FETCH_RECORDS
from bench.ingress_bench import IngressLoad, measure_ingress
from bench.inputs import IssueInput, KeyedRecord, issue_inputs, issue_site, webhook_bodies
from bench.jira_bench import JiraLoad, measure_jira
from bench.live_bench import LiveLoad, Phase, measure_live
from bench.replay_bench import measure_consumers, measure_pure, measure_replay
from bench.report import Report, Row, missing_row, ratio_row, this_machine
from streams import localkafka
from streams.topics import TopicNames

log = logging.getLogger(__name__)

GROUPS = ("replay", "worker", "ingress", "jira", "live")


@dataclass(frozen=True)
class Scale:
    """How much input each group gets; ``--quick`` uses the small one."""

    events: int
    sample: int
    memory_limit_s: float
    ingress: IngressLoad
    jira: JiraLoad
    live: LiveLoad


FULL = Scale(events=100_000, sample=2_000, memory_limit_s=330.0,
             ingress=IngressLoad(rate_requests=2000, saturation_requests=4000),
             jira=JiraLoad(issues=3000, edits=300), live=LiveLoad())
QUICK = Scale(events=10_000, sample=1_000, memory_limit_s=120.0,
              ingress=IngressLoad(rate_requests=600, saturation_requests=1000),
              jira=JiraLoad(issues=1000, edits=100),
              live=LiveLoad(issues=200, warmup=Phase(50.0, 50, float("inf")),
                            phases=(Phase(50.0, 300, 250.0), Phase(500.0, 1500, 1000.0))))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"use {QUICK.events:,} events and smaller loads (for development)")
    parser.add_argument("--events", type=int, default=None,
                        help="issues written to jira.events (default 100,000; 10,000 with --quick)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated input")
    parser.add_argument("--repetitions", type=int, default=3,
                        help="measured repetitions after one warm-up; the table shows the median")
    parser.add_argument("--only", choices=GROUPS, action="append",
                        help="run only this group of measurements (repeatable)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="directory for the child processes' logs (default: a temporary one)")
    return parser.parse_args(argv)


async def _fill_events(bootstrap: str, names: TopicNames, seed: int, events: int,
                       sample: int) -> list[bytes]:
    """Write every issue's fold output to ``jira.events``; return the first observations."""
    site = issue_site(seed, events)
    observed: list[bytes] = []

    def records(inputs: list[IssueInput]) -> list[KeyedRecord]:
        return [record for item in inputs for record in item.events]

    batch: list[IssueInput] = []
    written = 0
    for item in issue_inputs(site):
        if len(observed) < sample:
            observed.append(item.observed.value)
        batch.append(item)
        if len(batch) >= FETCH_RECORDS:
            written += await broker.produce(bootstrap, names.events, records(batch))
            batch = []
    written += await broker.produce(bootstrap, names.events, records(batch))
    log.info("wrote %d records to %s", written, names.events)
    return observed


async def run(args: argparse.Namespace, bootstrap: str, kafka_version: str,
              log_dir: Path) -> Report:
    scale = QUICK if args.quick else FULL
    events = args.events or scale.events
    sample = min(scale.sample, events)
    groups = set(args.only or GROUPS)
    command = "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = Report(this_machine(kafka_version), command.strip(), events, args.repetitions)

    names = TopicNames(prefix=broker.new_prefix())
    await broker.create_topics(bootstrap, names)
    try:
        await _run_groups(args, bootstrap, names, scale, events, sample, groups, log_dir, report)
    finally:
        await broker.delete_prefixed(bootstrap, names.prefix)
    return report


async def _run_groups(args: argparse.Namespace, bootstrap: str, names: TopicNames, scale: Scale,
                      events: int, sample: int, groups: set[str], log_dir: Path,
                      report: Report) -> None:
    """Run each requested group; a group that fails is reported and the others still run."""
    if groups & {"replay", "worker"}:
        try:
            await _replay_group(args, bootstrap, names, scale, events, sample, groups, log_dir,
                                report)
        except Exception as exc:
            log.exception("replay measurements failed; see %s", log_dir)
            report.add(missing_row("G1", "replay jira.events -> graph", ">= 0.5",
                                   f"failed: {exc!r}"))

    if "ingress" in groups:
        try:
            bodies = webhook_bodies(args.seed, 2000)
            rows, measurements = await measure_ingress(
                bootstrap=bootstrap, prefix=names.prefix, cloud_id="bench-cloud", bodies=bodies,
                load=scale.ingress, repetitions=args.repetitions, log_dir=log_dir)
            report.add(*rows)
            report.keep(*measurements)
        except Exception as exc:
            log.exception("ingress measurements failed; see %s", log_dir)
            report.add(missing_row("G3", "ingress", "<= 3; >= 0.4", f"failed: {exc!r}"))

    if "jira" in groups:
        try:
            rows, measurements, notes = await measure_jira(
                bootstrap=bootstrap, names=names, seed=args.seed, load=scale.jira,
                repetitions=args.repetitions, log_dir=log_dir)
            report.add(*rows)
            report.keep(*measurements)
            report.notes.extend(notes)
        except Exception as exc:
            log.exception("Jira sandbox measurements failed; see %s", log_dir)
            report.add(missing_row("G5/G7", "import and write-back", ">= 0.5; >= 0.8",
                                   f"failed: {exc!r}"))

    if "live" in groups:
        try:
            rows, measurements, notes = await measure_live(
                bootstrap=bootstrap, seed=args.seed, load=scale.live, log_dir=log_dir)
            report.add(*rows)
            report.keep(*measurements)
            report.notes.extend(notes)
        except Exception as exc:
            log.exception("live measurements failed; see %s", log_dir)
            report.add(
                missing_row("G4", "webhook accepted -> graph change published, p99",
                            "<= 250 ms at 50/s; <= 1 s at 500/s", f"failed: {exc!r}"),
                missing_row("G2", "replay twice from offset 0: graph hash = live hash",
                            "identical", f"failed: {exc!r}"),
            )


async def _replay_group(args: argparse.Namespace, bootstrap: str, names: TopicNames,
                        scale: Scale, events: int, sample: int, groups: set[str], log_dir: Path,
                        report: Report) -> None:
    started = time.perf_counter()
    observed = await _fill_events(bootstrap, names, args.seed, events, sample)
    report.notes.append(f"input: {events:,} generated issues folded into jira.events "
                        f"in {time.perf_counter() - started:.0f} s (not measured)")

    r0, r2, b_relay = await measure_consumers(
        bootstrap, names, broker.relay_spec(names).name, events, args.repetitions)
    pure = measure_pure(observed, args.repetitions)
    report.keep(r0, r2, b_relay, pure)
    report.add(
        Row("R0", "getmany() over jira.events, no decoding", r0.describe()),
        Row("R2", "R0 + decode + parse", r2.describe()),
        Row("B_relay", "bare aiokafka relay, acks=all", b_relay.describe()),
        ratio_row("-", f"pure fold+project in process ({sample:,} issues)", pure, r2, None),
    )

    if "worker" in groups:
        rows, measurements = await measure_replay(
            bootstrap, names, issues=events, sample=sample, repetitions=args.repetitions,
            r2=r2, log_dir=log_dir, memory_limit_s=scale.memory_limit_s)
        report.add(*rows)
        report.keep(*measurements)


def _start_local_broker(data_dir: Path) -> str:
    started = localkafka.start(localkafka.free_port(), data_dir=data_dir,
                               controller_port=localkafka.free_port())
    return started.bootstrap


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the process exit code (0 also when a target is missed)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("jira_sandbox").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        log_dir = args.log_dir or Path(scratch) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)

        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        data_dir: Path | None = None
        if not bootstrap:
            data_dir = Path(scratch) / "kafka"
            bootstrap = _start_local_broker(data_dir)
        # NOTE: a broker given by KAFKA_BOOTSTRAP_SERVERS is assumed to run the
        # Kafka version the local broker uses; the client cannot read it.
        kafka_version = localkafka.KAFKA_VERSION
        try:
            report = asyncio.run(run(args, bootstrap, kafka_version, log_dir))
        finally:
            if data_dir is not None:
                localkafka.stop(data_dir)

    print(report.table())
    if args.json is not None:
        report.write_json(args.json)
    return 0
