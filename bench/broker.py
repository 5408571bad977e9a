"""The benchmark's Kafka side: its uuid-prefixed topics, filling them, and reading them back."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.inputs import KeyedRecord
from streams.admin import delete_topics, ensure_topics
from streams.topics import PARTITIONS, TopicNames, TopicSpec

log = logging.getLogger(__name__)

SEND_BATCH = 2000


def new_prefix(label: str = "bench") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}."


def relay_spec(names: TopicNames) -> TopicSpec:
    """The output topic of the bare relay baseline."""
    return TopicSpec(f"{names.prefix}bench.relay", "{key}", PARTITIONS,
                     {"cleanup.policy": "delete"})


async def create_topics(bootstrap: str, names: TopicNames) -> None:
    """Create every contract topic under ``names.prefix``, plus the relay's output."""
    await ensure_topics(bootstrap, [*names.specs(), relay_spec(names)])


async def delete_prefixed(bootstrap: str, prefix: str) -> None:
    """Delete every topic whose name starts with ``prefix``, Faust's internal ones included."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
    finally:
        await admin.close()
    await delete_topics(bootstrap, names)
    log.info("deleted %d topics with prefix %s", len(names), prefix)


async def produce(bootstrap: str, topic: str, records: Iterable[KeyedRecord]) -> int:
    """Write ``records`` with ``acks=all`` in batches and return how many were written."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()
    written = 0
    try:
        pending: list[asyncio.Future[object]] = []
        for record in records:
            pending.append(await producer.send(topic, record.value, key=record.key.encode()))
            if len(pending) >= SEND_BATCH:
                await asyncio.gather(*pending)
                written += len(pending)
                pending = []
        await asyncio.gather(*pending)
        written += len(pending)
    finally:
        await producer.stop()
    return written


@asynccontextmanager
async def reader(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """Yield a consumer without a group, assigned every partition of ``topic`` from offset 0."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or range(PARTITIONS))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield consumer
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    async with reader(bootstrap, topic) as consumer:
        ends = await consumer.end_offsets(list(consumer.assignment()))
    return {tp.partition: offset for tp, offset in ends.items()}


@dataclass(frozen=True)
class Timed:
    """A run over a topic: records seen and seconds taken."""

    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


async def wait_for_records(
    bootstrap: str, topic: str, expected: int, *, since: dict[int, int] | None = None,
    timeout_s: float = 600.0, partial: bool = False,
) -> list[tuple[int, bytes, bytes]]:
    """Return (timestamp ms, key, value) of ``expected`` records past ``since``, waiting for them.

    After ``timeout_s`` it raises, or with ``partial`` returns the records found so far.
    """
    found: list[tuple[int, bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    async with reader(bootstrap, topic) as consumer:
        if since:
            for tp in consumer.assignment():
                consumer.seek(tp, since.get(tp.partition, 0))
        while len(found) < expected:
            if time.monotonic() > deadline:
                if partial:
                    return found
                raise TimeoutError(
                    f"topic {topic} received {len(found)} of {expected} records within "
                    f"{timeout_s:.0f} s; check the worker's log"
                )
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                found.extend((m.timestamp, m.key or b"", m.value or b"") for m in messages)
    return found
