"""``naumu-jira replay``: rebuild the graph projection from the event log.

A replay reads ``jira.events`` from offset 0 under a new consumer group, folds
every event through the same :func:`projections.graph.project` the worker runs,
writes the resulting node states into a fresh RocksDB directory, and prints the
graph hash of each space. The hash equals the live worker's
(``GET /spaces/{space}/graph/summary``) when both folded the same events, which
is how operators check that the graph can be rebuilt. With ``--publish`` the
graph changes are also written to a topic, for rebuilding a consumer's copy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from rocksdict import Rdict

from projections.readmodel import graph_hash
from service.cli import Command, register
from service.pipeline import live_node, projection_step
from streams import codec
from streams.errors import SyncError
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings
from streams.steps import Record
from streams.topics import TopicNames

log = logging.getLogger(__name__)

REPLAY_MARKER = "REPLAY"


class ReplayError(SyncError):
    """A replay cannot start with the options given."""


def _prepare_state_dir(state_dir: Path) -> bool:
    """Empty ``state_dir`` for a replay, refusing one that a replay did not write.

    Returns whether the directory was created, as opposed to emptied.
    """
    created = not state_dir.exists()
    marker = state_dir / REPLAY_MARKER
    if state_dir.exists() and any(state_dir.iterdir()):
        if not marker.exists():
            raise ReplayError(
                f"state directory {state_dir} is not empty and was not written by a replay; "
                "pass a new directory with --state-dir (a replay never reuses a worker's state)"
            )
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by naumu-jira replay\n")
    return created


@dataclass
class ReplayResult:
    """Counts, time and per-space graph hashes of one replay."""

    events: int = 0
    changes: int = 0
    seconds: float = 0.0
    hashes: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, int] = field(default_factory=dict)


def worker_input_topics(names: TopicNames) -> frozenset[str]:
    """Return the topics the worker process consumes under ``names``."""
    return frozenset({
        names.inbound, names.events, names.edits, names.schema_values, names.schemas,
        names.refetch, names.connections, names.spaces,
    })


def check_publish_topic(names: TopicNames, topic: str) -> None:
    """Reject a ``--publish`` topic that the worker reads, before any record is sent."""
    inputs = worker_input_topics(names)
    if topic in inputs:
        raise ReplayError(
            f"--publish topic {topic!r} is an input topic of the worker, which would consume "
            f"the replayed graph changes as new input; the worker reads "
            f"{', '.join(sorted(inputs))}, so pass another topic"
        )


async def _start_consumer(consumer: AIOKafkaConsumer, bootstrap: str) -> None:
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise ReplayError(
            f"Kafka at {bootstrap} did not respond ({exc}); "
            "start the broker or set KAFKA_BOOTSTRAP_SERVERS"
        ) from exc


async def _check_topics(consumer: AIOKafkaConsumer, bootstrap: str, names: TopicNames,
                        publish_topic: str | None) -> None:
    """Raise :class:`ReplayError` naming the first topic the replay needs that is missing."""
    try:
        existing: set[str] = await consumer.topics()
    except KafkaError as exc:
        raise ReplayError(
            f"Kafka at {bootstrap} did not return its topics ({exc}); "
            "start the broker or set KAFKA_BOOTSTRAP_SERVERS"
        ) from exc

    if names.events not in existing:
        raise ReplayError(
            f"topic {names.events!r} not found on Kafka at {bootstrap}; "
            "run `naumu-jira topics ensure` with the same TOPIC_PREFIX to create the "
            "contract topics"
        )

    if publish_topic is not None and publish_topic not in existing:
        contract = {spec.name for spec in names.specs()}
        fix = ("run `naumu-jira topics ensure` with the same TOPIC_PREFIX"
               if publish_topic in contract else "create it first")
        raise ReplayError(
            f"--publish topic {publish_topic!r} not found on Kafka at {bootstrap}; {fix} "
            "(a replay never creates topics)"
        )


async def replay(
    settings: StreamsSettings,
    *,
    state_dir: Path,
    names: TopicNames | None = None,
    publish_topic: str | None = None,
    group_id: str | None = None,
    batch: int = 2000,
) -> ReplayResult:
    """Rebuild the projection from offset 0 of ``jira.events`` into ``state_dir``.

    First it checks that the broker responds, that ``jira.events`` and the
    ``publish_topic`` exist, and that ``publish_topic`` is not a worker input. Then
    it notes the log's end offsets, so the replay has a defined end while the live
    worker keeps appending. It reads every partition from its beginning in batches
    and runs the projection step per event against the RocksDB state, publishing
    graph changes when requested. Last, it hashes every space's live nodes.

    Raises :class:`ReplayError` when a check fails, before ``state_dir`` is touched.
    A later failure removes ``state_dir`` when this replay created it and folded no
    event into it.
    """
    names = names or TopicNames(settings.topic_prefix)
    if publish_topic is not None:
        check_publish_topic(names, publish_topic)
    group_id = group_id or f"{names.prefix}naumu-jira-replay-{uuid.uuid4()}"
    bootstrap = settings.kafka_bootstrap_servers
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id,
        auto_offset_reset="earliest", enable_auto_commit=False,
        isolation_level="read_committed", max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await _start_consumer(consumer, bootstrap)

    producer: Producer | None = None
    try:
        await _check_topics(consumer, bootstrap, names, publish_topic)
        if publish_topic is not None:
            producer = Producer(settings)
            await producer.start()
        result = await _replay_into(state_dir, consumer, names, producer, publish_topic, batch)
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()

    log.info("replay done group_id=%s events=%d seconds=%.1f", group_id, result.events,
             result.seconds)
    return result


async def _replay_into(state_dir: Path, consumer: AIOKafkaConsumer, names: TopicNames,
                       producer: Producer | None, publish_topic: str | None,
                       batch: int) -> ReplayResult:
    created = await asyncio.to_thread(_prepare_state_dir, state_dir)
    result = ReplayResult()
    started = time.perf_counter()
    try:
        await _fold_events(state_dir, consumer, names, producer, publish_topic, batch, result)
    except BaseException:
        # Nothing but the marker and an empty store exists yet, so removing it loses nothing.
        if created and result.events == 0:
            await asyncio.to_thread(shutil.rmtree, state_dir, ignore_errors=True)
        raise
    result.seconds = time.perf_counter() - started
    return result


async def _fold_events(state_dir: Path, consumer: AIOKafkaConsumer, names: TopicNames,
                       producer: Producer | None, publish_topic: str | None, batch: int,
                       result: ReplayResult) -> None:
    step = projection_step(names)
    store = Rdict(str(state_dir / "nodes"))
    try:
        partitions = [TopicPartition(names.events, p)
                      for p in sorted(consumer.partitions_for_topic(names.events) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(names.events, p)
                          for p in sorted(consumer.partitions_for_topic(names.events) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}

        def lookup(key: str) -> dict[str, Any] | None:
            stored = store.get(key.encode())
            return None if stored is None else orjson.loads(stored)

        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
            for tp, records in fetched.items():
                for message in records:
                    envelope = codec.decode(message.value)
                    record = Record(tp.topic, tp.partition, message.offset,
                                    (message.key or b"").decode())
                    outcome = step(lookup, envelope, record)
                    for key, state in outcome.states.items():
                        store[key.encode()] = orjson.dumps(state)
                    if producer is not None and publish_topic is not None:
                        for output in outcome.outputs:
                            if output.topic == names.graph_changes:
                                await producer.send(publish_topic, output.key, output.envelope)
                    result.changes += sum(1 for o in outcome.outputs
                                          if o.topic == names.graph_changes)
                    result.events += 1
                    if message.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        by_space: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for _, stored in store.items():
            node = live_node(orjson.loads(stored))
            if node is not None:
                by_space[node["space_id"]].append(node)
        result.hashes = {space: graph_hash(nodes) for space, nodes in sorted(by_space.items())}
        result.nodes = {space: len(nodes) for space, nodes in sorted(by_space.items())}
    finally:
        store.close()


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="directory for the rebuilt state (default: STATE_DIR/replay-<id>); "
                             "it stays on disk after a successful replay, so delete it when "
                             "done")
    parser.add_argument("--publish", metavar="TOPIC", default=None,
                        help="also write the rebuilt graph changes to TOPIC, which must exist "
                             "and must not be one of the worker's input topics (such as "
                             "jira.inbound, jira.events or naumu.edits)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _run(args: argparse.Namespace) -> int:
    settings = StreamsSettings.from_env()
    state_dir = args.state_dir or settings.state_dir / f"replay-{uuid.uuid4().hex[:8]}"
    result = asyncio.run(replay(settings, state_dir=state_dir, publish_topic=args.publish))
    if args.json:
        print(json.dumps(vars(result)))
        return 0
    print(f"replayed {result.events} events in {result.seconds:.1f} s "
          f"({result.events / max(result.seconds, 1e-9):.0f} events/s) into {state_dir}")
    for space, digest in result.hashes.items():
        print(f"space {space}: {result.nodes[space]} nodes, graph hash {digest}")
    return 0


register(Command("replay", "rebuild the graph projection from offset 0 of jira.events",
                 _arguments, _run))
