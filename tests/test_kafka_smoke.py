"""End to end on a real broker: envelopes through the producer into a Faust agent,
transactions, and a producer whose broker stops under it."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams import codec, localkafka
from streams.admin import ensure_topics
from streams.app import app_topics, create_app
from streams.contract import CURRENT_VERSION, IssueRefetchRequested, WebhookReceived
from streams.envelope import Envelope
from streams.errors import BrokerError
from streams.producer import Producer
from streams.settings import Settings
from streams.topics import TopicNames, TopicSpec

pytestmark = pytest.mark.kafka

# The type of the `new_topic` fixture of tests/conftest.py.
NewTopicFactory = Callable[..., Awaitable[str]]

# Upper bound for waits that only guard against a hung test; nothing asserts on time.
HANG_GUARD_SECONDS = 90.0


def _settings(bootstrap: str, state_dir: Path, **overrides: str) -> Settings:
    values = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "STATE_DIR": str(state_dir),
              "WORKER_WEB_ENABLED": "false", **overrides}
    return Settings.from_env(values)


def _refetch(issue_id: str) -> Envelope:
    data = IssueRefetchRequested(space_id="space-1", cloud_id="cloud-1", issue_id=issue_id,
                                 reason="description", min_updated_ms=1_700_000_000_000)
    return codec.make(data, source="/tests/smoke", subject=f"cloud-1:{issue_id}")


def _webhook_v1(delivery_id: str) -> bytes:
    return orjson.dumps({
        "specversion": "1.0", "id": delivery_id, "source": "/tests/smoke",
        "type": "jira.webhook.received", "subject": "cloud-1:10001",
        "time": "2026-03-01T12:00:00.000Z", "schemaversion": 1,
        "data": {"space_id": "space-1", "cloud_id": "cloud-1", "delivery_id": delivery_id,
                 "webhook_event": "jira:issue_updated",
                 "received_at": "2026-03-01T12:00:00+00:00", "payload": {}},
    })


async def _read_all(bootstrap: str, topic: str, count: int,
                    isolation_level: str = "read_uncommitted") -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, isolation_level=isolation_level,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        # Empty polls end the read, so a shorter log than `count` is returned as is.
        for _ in range(10):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                values.extend(record.value for record in records if record.value is not None)
            if len(values) >= count:
                break
    finally:
        await consumer.stop()
    return values


async def test_agent_reads_envelopes(
    kafka_bootstrap: str, new_topic: NewTopicFactory, tmp_path: Path
) -> None:
    source = await new_topic(partitions=2)
    settings = _settings(kafka_bootstrap, tmp_path)
    app = create_app(settings, app_id=f"smoke-{uuid.uuid4().hex}")
    topic = app.topic(source, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    sent = [_refetch(str(10_000 + number)) for number in range(5)]
    received: dict[str, tuple[bytes, Envelope]] = {}
    all_read = asyncio.Event()

    @app.agent(topic)
    async def collect(stream):  # type: ignore[no-untyped-def]
        async for key, value in stream.items():
            envelope = codec.decode(value)
            received[envelope.id] = (key, envelope)
            if len(received) == len(sent) + 1:
                all_read.set()

    async with Producer(settings) as producer:
        await producer.send_batch(source, [(envelope.subject, envelope) for envelope in sent])
    raw = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await raw.start()
    try:
        await raw.send_and_wait(source, _webhook_v1("delivery-1"), key=b"cloud-1:10001")
    finally:
        await raw.stop()

    await app.start()
    try:
        await asyncio.wait_for(all_read.wait(), HANG_GUARD_SECONDS)
    finally:
        await app.stop()

    for envelope in sent:
        assert received[envelope.id] == (envelope.subject.encode(), envelope)
    webhook = received["delivery-1"][1]
    assert webhook.schemaversion == CURRENT_VERSION["jira.webhook.received"]
    assert codec.data_of(webhook, WebhookReceived).retry == 0


def test_app_topics_cover_contract(tmp_path: Path) -> None:
    app = create_app(_settings("127.0.0.1:9092", tmp_path))

    declared = app_topics(app, TopicNames("p."))

    assert declared["jira.inbound"].get_topic_name() == "p.jira.inbound"
    assert len(declared) == len(TopicNames().specs())


def test_app_producer_settings(tmp_path: Path) -> None:
    app = create_app(_settings("127.0.0.1:9092", tmp_path, PROCESSING_GUARANTEE="exactly_once"))

    assert app.conf.producer_acks == -1
    assert app.conf.processing_guarantee.value == "exactly_once"
    assert app.conf.topic_replication_factor == 1


async def test_send_returns_offsets(
    kafka_bootstrap: str, new_topic: NewTopicFactory, tmp_path: Path
) -> None:
    topic = await new_topic()
    envelopes = [_refetch("1"), _refetch("2")]

    async with Producer(_settings(kafka_bootstrap, tmp_path)) as producer:
        first = await producer.send(topic, "cloud-1:1", envelopes[0])
        second = await producer.send(topic, "cloud-1:2", envelopes[1])
    values = await _read_all(kafka_bootstrap, topic, 2)

    assert (first.offset, second.offset) == (0, 1)
    assert [codec.decode(value) for value in values] == envelopes


async def test_transaction_commits_all(
    kafka_bootstrap: str, new_topic: NewTopicFactory, tmp_path: Path
) -> None:
    page, cursor = await new_topic(), await new_topic()
    producer = Producer(_settings(kafka_bootstrap, tmp_path),
                        transactional_id=f"smoke-{uuid.uuid4().hex}")

    async with producer, producer.transaction():
        await producer.send_batch(page, [("cloud-1:1", _refetch("1")),
                                         ("cloud-1:2", _refetch("2"))])
        await producer.send(cursor, "cloud-1", _refetch("cursor"))

    assert len(await _read_all(kafka_bootstrap, page, 2, "read_committed")) == 2
    assert len(await _read_all(kafka_bootstrap, cursor, 1, "read_committed")) == 1


async def test_transaction_abort_hides(
    kafka_bootstrap: str, new_topic: NewTopicFactory, tmp_path: Path
) -> None:
    page = await new_topic()
    producer = Producer(_settings(kafka_bootstrap, tmp_path),
                        transactional_id=f"smoke-{uuid.uuid4().hex}")

    marker = _refetch("marker")

    async with producer:
        with pytest.raises(RuntimeError, match="cursor write failed"):
            async with producer.transaction():
                await producer.send(page, "cloud-1:1", _refetch("1"))
                raise RuntimeError("cursor write failed")
        # A committed record after the aborted one shows the reader got past it.
        async with producer.transaction():
            await producer.send(page, "cloud-1:marker", marker)
    values = await _read_all(kafka_bootstrap, page, 1, "read_committed")

    assert [codec.decode(value) for value in values] == [marker]


async def test_transaction_needs_id(kafka_bootstrap: str, tmp_path: Path) -> None:
    async with Producer(_settings(kafka_bootstrap, tmp_path)) as producer:
        with pytest.raises(BrokerError, match="transactional_id"):
            async with producer.transaction():
                pass


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[localkafka.BrokerStatus]:
    """A local broker on its own port, so the test may stop it without harming others."""
    data_dir = tmp_path / "own-kafka"
    started = localkafka.start(localkafka.free_port(), data_dir=data_dir,
                               controller_port=localkafka.free_port())
    try:
        yield started
    finally:
        localkafka.stop(data_dir)


def _kill_broker(broker: localkafka.BrokerStatus) -> None:
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGKILL)


def _stop_broker(broker: localkafka.BrokerStatus) -> None:
    localkafka.stop(broker.data_dir)


@pytest.mark.slow
@pytest.mark.parametrize("halt", [_stop_broker, _kill_broker], ids=["sigterm", "sigkill"])
async def test_broker_stop_fails_send(
    own_broker: localkafka.BrokerStatus, tmp_path: Path,
    halt: Callable[[localkafka.BrokerStatus], None],
) -> None:
    topic = f"smoke-{uuid.uuid4().hex}"
    await ensure_topics(own_broker.bootstrap, [TopicSpec(topic, "{key}", 1)])
    settings = _settings(own_broker.bootstrap, tmp_path, KAFKA_REQUEST_TIMEOUT_MS="2000",
                         KAFKA_DELIVERY_TIMEOUT_MS="5000")
    producer = Producer(settings)
    await producer.start()
    delivered = 0
    some_delivered = asyncio.Event()

    async def publish_forever() -> None:
        nonlocal delivered
        while True:
            await producer.send(topic, "cloud-1:7", _refetch("7"))
            delivered += 1
            if delivered == 3:
                some_delivered.set()

    try:
        running = asyncio.ensure_future(publish_forever())
        await asyncio.wait_for(some_delivered.wait(), HANG_GUARD_SECONDS)
        await asyncio.to_thread(halt, own_broker)

        with pytest.raises(BrokerError) as caught:
            await asyncio.wait_for(running, HANG_GUARD_SECONDS)
    finally:
        await asyncio.wait_for(producer.stop(), HANG_GUARD_SECONDS)

    message = str(caught.value)
    assert delivered >= 3
    assert repr(topic) in message
    assert "'cloud-1:7'" in message
    assert caught.value.retriable


async def test_start_fails_without_broker(tmp_path: Path) -> None:
    settings = _settings(f"127.0.0.1:{localkafka.free_port()}", tmp_path,
                         KAFKA_REQUEST_TIMEOUT_MS="1000", KAFKA_DELIVERY_TIMEOUT_MS="2000")

    with pytest.raises(BrokerError, match="could not connect a producer"):
        await asyncio.wait_for(Producer(settings).start(), HANG_GUARD_SECONDS)
