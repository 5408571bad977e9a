"""A stateful agent on a real broker: each input's outputs are published under either guarantee."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from streams import codec
from streams.agents import raw_table, stateful_agent
from streams.app import create_app
from streams.contract import IssueRefetchRequested
from streams.envelope import Envelope
from streams.producer import Producer
from streams.settings import Settings
from streams.steps import Output, Record, StateLookup, StepResult

pytestmark = pytest.mark.kafka

NewTopicFactory = Callable[..., Awaitable[str]]
HANG_GUARD_SECONDS = 90.0
INPUTS = 4


def _request(issue_id: str) -> Envelope:
    data = IssueRefetchRequested(space_id="space-1", cloud_id="cloud-1", issue_id=issue_id,
                                 reason="description", min_updated_ms=1)
    return codec.make(data, source="/tests/agent", subject=f"cloud-1:{issue_id}")


async def _read(bootstrap: str, topic: str, count: int) -> list[Envelope]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    found: list[Envelope] = []
    try:
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=500)
                found.extend(codec.decode(r.value) for rs in batches.values() for r in rs)
    finally:
        await consumer.stop()
    return found


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_outputs_published(guarantee: str, kafka_bootstrap: str,
                                 new_topic: NewTopicFactory, tmp_path: Path) -> None:
    source = await new_topic(partitions=6)
    target = await new_topic(partitions=6)
    dead_letter = await new_topic(partitions=1)
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                                  "STATE_DIR": str(tmp_path), "WORKER_WEB_ENABLED": "false",
                                  "PROCESSING_GUARANTEE": guarantee})
    app = create_app(settings, app_id=f"agent-{uuid.uuid4().hex}")
    table = raw_table(app, "seen", help_text="inputs seen per key")

    def step(lookup: StateLookup, envelope: Envelope, record: Record) -> StepResult:
        count = (lookup(record.key) or {"count": 0})["count"] + 1
        return StepResult({record.key: {"count": count}},
                          [Output(target, record.key, envelope)])

    stats = stateful_agent(app, name="copy", source=source, table=table, step=step,
                           dead_letter=dead_letter)
    sent = [_request(str(10_000 + number)) for number in range(INPUTS)]
    async with Producer(settings) as producer:
        await producer.send_batch(source, [(envelope.subject, envelope) for envelope in sent])

    await app.start()
    try:
        received = await _read(kafka_bootstrap, target, INPUTS)
    finally:
        await app.stop()

    assert sorted(envelope.id for envelope in received) == sorted(e.id for e in sent)
    assert stats.processed == INPUTS
    assert stats.dead_lettered == 0
