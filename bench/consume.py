"""Consume-side baselines over one topic, and the pure fold and projection in process.

- R0 reads every record with ``getmany()`` and does nothing with it: the raw rate.
- R2 also decodes each record and validates its data into the event model, the
  floor any Python consumer of these events pays.
- B_relay copies every record to another topic with an ``acks=all`` idempotent
  producer, waiting for each fetched batch to be acknowledged.
- "pure fold+project" runs :func:`projections.fold.fold` and
  :func:`projections.graph.project` over in-memory records, with no Kafka at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from bench.broker import Timed, reader
from projections.fold import fold
from projections.graph import project
from streams import codec

FETCH_RECORDS = 5000
IDLE_TIMEOUT_S = 30.0


async def _consume(
    bootstrap: str,
    topic: str,
    expected: int,
    handle: Callable[[list[ConsumerRecord[bytes, bytes]]], Any],
) -> Timed:
    async with reader(bootstrap, topic) as consumer:
        seen = 0
        started = time.perf_counter()
        idle_since = started
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=200, max_records=FETCH_RECORDS)
            if not batches:
                if time.perf_counter() - idle_since > IDLE_TIMEOUT_S:
                    raise TimeoutError(
                        f"topic {topic} returned {seen} of {expected} records and then nothing "
                        f"for {IDLE_TIMEOUT_S:.0f} s"
                    )
                continue
            idle_since = time.perf_counter()
            for messages in batches.values():
                seen += len(messages)
                result = handle(messages)
                if asyncio.iscoroutine(result):
                    await result
        return Timed(seen, time.perf_counter() - started)


async def raw_consume(bootstrap: str, topic: str, expected: int) -> Timed:
    """R0: fetch every record and discard it."""
    return await _consume(bootstrap, topic, expected, lambda messages: None)


async def decode_consume(bootstrap: str, topic: str, expected: int) -> Timed:
    """R2: fetch every record, decode its envelope and validate its data."""

    def handle(messages: list[ConsumerRecord[bytes, bytes]]) -> None:
        for message in messages:
            codec.parse(codec.decode(message.value or b""))

    return await _consume(bootstrap, topic, expected, handle)


async def relay(bootstrap: str, source: str, target: str, expected: int) -> Timed:
    """B_relay: copy every record of ``source`` to ``target`` with ``acks=all``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()

    async def handle(messages: list[ConsumerRecord[bytes, bytes]]) -> None:
        pending = [await producer.send(target, m.value, key=m.key) for m in messages]
        await asyncio.gather(*pending)

    try:
        return await _consume(bootstrap, source, expected, handle)
    finally:
        await producer.stop()


def fold_and_project(records: Sequence[bytes]) -> Timed:
    """Run the fold and the projection over ``jira.inbound`` records, with states in dicts.

    Each record is decoded, folded, and every event the fold returns is encoded
    (the fold agent's output), decoded and parsed (the projection agent's input),
    projected, and its graph changes encoded: the agents' per-record work
    without Kafka or RocksDB.
    """
    fold_states: dict[str, dict[str, Any]] = {}
    node_states: dict[str, dict[str, Any]] = {}

    started = time.perf_counter()
    for raw in records:
        observed = codec.decode(raw)
        folded = fold(fold_states.get(observed.subject), observed)
        fold_states[observed.subject] = folded.state

        for event in folded.events:
            written = codec.encode(codec.make(event, source="bench", subject=observed.subject))
            envelope = codec.decode(written)
            projected = project(node_states.get(envelope.subject), codec.parse(envelope))
            node_states[envelope.subject] = projected.state
            for change in projected.changes:
                codec.encode(codec.make(change, source="bench", subject=envelope.subject))
    return Timed(len(records), time.perf_counter() - started)
