"""Loading a topic reads every committed transaction, and an open one delays it only briefly."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaProducer, ConsumerRecord

from ingest.topic_reader import TopicFollower
from streams.admin import ensure_topics
from streams.topics import TopicSpec


async def _topic(bootstrap: str) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}.reader"
    await ensure_topics(bootstrap, [TopicSpec(name=name, partitions=2, key="test key")])
    return name


async def _load(bootstrap: str, topic: str, settle_timeout_s: float = 10.0) -> list[bytes]:
    values: list[bytes] = []

    def keep(record: ConsumerRecord) -> None:
        values.append(record.value)

    reader = TopicFollower(bootstrap, topic, keep, follow=False,
                           settle_timeout_s=settle_timeout_s)
    await reader.start()
    await reader.stop()
    return values


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap,
                            transactional_id=f"test-reader-{uuid.uuid4().hex[:8]}")


async def test_reads_transactions_committed_just_before(kafka_bootstrap: str) -> None:
    topic = await _topic(kafka_bootstrap)
    producer = _producer(kafka_bootstrap)
    await producer.start()
    try:
        for round_number in range(5):
            async with producer.transaction():
                for key in (b"a", b"b", b"c"):
                    await producer.send(topic, key=key, value=b"%d" % round_number)

            # Read at once, while the broker may still be writing the commit markers.
            values = await _load(kafka_bootstrap, topic)

            assert sorted(values).count(b"%d" % round_number) == 3
    finally:
        await producer.stop()


async def test_open_transaction_waits_only_until_timeout(kafka_bootstrap: str) -> None:
    topic = await _topic(kafka_bootstrap)
    producer = _producer(kafka_bootstrap)
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, key=b"a", value=b"committed")
        await producer.begin_transaction()
        await producer.send_and_wait(topic, key=b"a", value=b"open")

        values = await _load(kafka_bootstrap, topic, settle_timeout_s=0.5)

        assert values == [b"committed"]
        await producer.abort_transaction()
    finally:
        await producer.stop()
