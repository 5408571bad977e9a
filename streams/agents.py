"""Thin Faust agents: decode, run a pure step, store its state, publish its outputs.

Every agent here has the same shape, so the per-record work is written once:

1. decode the record with the codec (older schema versions are upcast there);
2. call the step with a lookup into the agent's table;
3. store the states the step returned;
4. publish the step's outputs;
5. on a record the step cannot handle, publish it to the dead-letter topic
   with the reason and its source offset, and go on with the next record.

Faust acknowledges a record once the loop moves past it, and commits offsets
only after the producer has flushed what the loop sent, so offsets never run
ahead of the work: a crash replays the records since the last commit, and the
steps are idempotent, so a replayed record changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from faust.types.enums import ProcessingGuarantee

from streams import codec, metrics
from streams.contract import ObservationRejected
from streams.errors import SyncError
from streams.steps import Record, Step
from streams.topics import PARTITIONS

log = logging.getLogger(__name__)


@dataclass
class AgentStats:
    """Counters an agent keeps for metrics and the main job's summary."""

    processed: int = 0
    published: int = 0
    dead_lettered: int = 0
    last_offset: int = -1
    busy_s: float = 0.0


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """Declare a topic whose keys and values the codec handles, not Faust."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", partitions=PARTITIONS)


# Faust opens one RocksDB database per table partition. Its defaults give each one
# 64 MiB write buffers (up to 3) and a 2 GiB block cache, so a worker with 3 tables of
# 6 partitions could grow to gigabytes before RocksDB flushes. These bounds keep the
# worst case near 24 MiB per database. A state is read once per event, as a point
# lookup through the bloom filter, so a small cache costs little.
STORE_WRITE_BUFFER_BYTES = 8 * 1024 * 1024
STORE_WRITE_BUFFERS = 2
STORE_BLOCK_CACHE_BYTES = 8 * 1024 * 1024


def store_options() -> dict[str, int]:
    """Return the RocksDB settings of every table (a new dict: Faust edits the one it gets)."""
    return {
        "write_buffer_size": STORE_WRITE_BUFFER_BYTES,
        "max_write_buffer_number": STORE_WRITE_BUFFERS,
        "target_file_size_base": STORE_WRITE_BUFFER_BYTES,
        "block_cache_size": STORE_BLOCK_CACHE_BYTES,
    }


def raw_table(app: faust.App, name: str, *, help_text: str,
              use_partitioner: bool = False) -> faust.Table[bytes, bytes]:
    """Declare a RocksDB-backed table of orjson-encoded states keyed by text.

    With ``use_partitioner`` a key's changelog partition comes from hashing the
    key instead of from the record being processed, and reads search every
    partition the worker holds.
    """
    # The app's default serializers are "raw" (see streams.app), so keys and
    # values stay bytes; Faust tables take no per-table serializer arguments.
    table: faust.Table[bytes, bytes] = app.Table(  # type: ignore[assignment]
        name, default=None, partitions=PARTITIONS, key_type=bytes, value_type=bytes,
        help=help_text, use_partitioner=use_partitioner, options=store_options(),
    )
    return table


def stateful_agent(
    app: faust.App,
    *,
    name: str,
    source: str,
    table: faust.Table[bytes, bytes],
    step: Step,
    dead_letter: str,
    on_processed: Callable[[Record, float], None] | None = None,
) -> AgentStats:
    """Declare an agent that runs ``step`` over ``source`` with ``table`` as its state."""
    stats = AgentStats()
    topics: dict[str, faust.TopicT] = {}
    guarantee = ProcessingGuarantee(app.conf.processing_guarantee)
    transactional = guarantee is ProcessingGuarantee.EXACTLY_ONCE
    crashing: set[asyncio.Task[None]] = set()

    def topic(topic_name: str) -> faust.TopicT:
        if topic_name not in topics:
            topics[topic_name] = raw_topic(app, topic_name)
        return topics[topic_name]

    def lookup(key: str) -> dict[str, Any] | None:
        stored = table.get(key.encode())
        return None if stored is None else orjson.loads(stored)

    async def dead_letter_record(record: Record, raw: bytes, reason: str) -> None:
        rejected = ObservationRejected(
            space_id=None, cloud_id=record.key.split(":", 1)[0] or None, reason=reason,
            source_topic=record.topic, source_partition=record.partition,
            source_offset=record.offset, raw=raw.decode("utf-8", "replace"),
        )
        envelope = codec.make(rejected, source=f"/agents/{name}", subject=record.key)
        await topic(dead_letter).send(key=record.key.encode(), value=codec.encode(envelope))
        stats.dead_lettered += 1
        metrics.DEAD_LETTERS.labels(name).inc()

    def on_delivered(delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled() or delivery.exception() is None:
            return
        # Offsets are committed once the producer has flushed, delivered or not, so an
        # undelivered output stops the worker instead of being only logged. A restart
        # then processes the input again from the last commit, unless a commit
        # already ran between the failure and the stop.
        exc = delivery.exception()
        log.critical("agent %s could not publish an output, stopping the worker: %r", name, exc)
        task = asyncio.ensure_future(app.crash(exc))  # type: ignore[arg-type]
        crashing.add(task)
        task.add_done_callback(crashing.discard)

    async def publish(topic_name: str, key: bytes, value: bytes) -> None:
        if transactional:
            # Faust routes a send to the transaction of the partition being processed.
            await topic(topic_name).send(key=key, value=value)
            return
        # Straight to the producer under Faust's: the topic layer's future and
        # sensors cost more per record than the rest of the send.
        delivery = await app.producer.send(topic_name, key, value, None, None, None)
        delivery.add_done_callback(on_delivered)  # type: ignore[attr-defined]

    async def process(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            message = event.message
            key = (event.key or b"").decode("utf-8", "replace")
            raw = event.value or b""
            record = Record(message.topic, message.partition, message.offset, key)
            metrics.EVENTS_IN.labels(name).inc()

            try:
                envelope = codec.decode(raw)
                result = step(lookup, envelope, record)
            except SyncError as exc:
                log.warning(
                    "dead-lettering record topic=%s partition=%d offset=%d key=%s: %s",
                    record.topic, record.partition, record.offset, key, exc,
                )
                await dead_letter_record(record, raw, str(exc))
                continue
            except Exception as exc:
                # A bug must not stall the partition: the record is kept for a fix
                # and replay, and the error is logged with its traceback.
                log.exception(
                    "step %s failed on topic=%s partition=%d offset=%d key=%s",
                    name, record.topic, record.partition, record.offset, key,
                )
                await dead_letter_record(record, raw, f"{type(exc).__name__}: {exc}")
                continue

            for state_key, state in result.states.items():
                if state is None:
                    table.pop(state_key.encode(), None)
                else:
                    table[state_key.encode()] = orjson.dumps(state)

            for output in result.outputs:
                await publish(output.topic, output.key.encode(), codec.encode(output.envelope))
                metrics.EVENTS_OUT.labels(name, output.topic).inc()
            stats.published += len(result.outputs)
            stats.processed += 1
            stats.last_offset = record.offset
            elapsed = time.perf_counter() - started
            stats.busy_s += elapsed
            metrics.STEP_SECONDS.labels(name).observe(elapsed)
            if on_processed is not None:
                on_processed(record, elapsed)

    app.agent(raw_topic(app, source), name=name)(process)
    return stats
