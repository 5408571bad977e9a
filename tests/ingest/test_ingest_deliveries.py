from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from ingest.deliveries import DELIVERY_TYPE, DeliveryLog
from streams.envelope import Envelope


class SlowPublisher:
    """Holds every send until ``release`` is set; fails them when ``error`` is given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.release = asyncio.Event()
        self.error = error
        self.sent: list[tuple[str, str]] = []
        self.values: list[bytes] = []
        self.calls = 0

    async def send(self, topic: str, key: str, envelope: Envelope) -> object:
        raise AssertionError("the delivery log sends encoded records only")

    async def send_encoded(self, records: Iterable[tuple[str, str, bytes]]) -> object:
        self.calls += 1
        batch = list(records)
        await self.release.wait()
        if self.error is not None:
            raise self.error
        self.sent.extend((topic, key) for topic, key, _ in batch)
        self.values.extend(value for _, _, value in batch)
        return None


async def test_record_returns_before_ack() -> None:
    publisher = SlowPublisher()
    log = DeliveryLog(producer=publisher, topic="deliveries")

    log.record("c-1:d-1", space_id="s-1", received_at_ms=1)

    assert log.seen("c-1:d-1")
    assert publisher.sent == []
    publisher.release.set()
    await log.stop()
    assert publisher.sent == [("deliveries", "c-1:d-1")]


async def test_record_failure_still_remembered(caplog: pytest.LogCaptureFixture) -> None:
    publisher = SlowPublisher(ConnectionError("broker away"))
    publisher.release.set()
    log = DeliveryLog(producer=publisher, topic="deliveries")

    log.record("c-1:d-2", space_id="s-1", received_at_ms=1)
    await log.flush()

    assert log.seen("c-1:d-2")
    assert "delivery ids not recorded topic=deliveries count=1 keys=c-1:d-2" in caplog.text


async def test_record_batches_while_waiting() -> None:
    publisher = SlowPublisher()
    log = DeliveryLog(producer=publisher, topic="deliveries")

    log.record("c-1:d-1", space_id="s-1", received_at_ms=1)
    await asyncio.sleep(0)
    log.record("c-1:d-2", space_id="s-1", received_at_ms=2)
    log.record("c-1:d-3", space_id="s-1", received_at_ms=3)
    publisher.release.set()
    await log.flush()

    assert publisher.calls == 2
    assert publisher.sent == [("deliveries", f"c-1:d-{n}") for n in (1, 2, 3)]


async def test_record_value_is_envelope() -> None:
    publisher = SlowPublisher()
    publisher.release.set()
    log = DeliveryLog(producer=publisher, topic="deliveries")

    log.record("c-1:d-4", space_id="s-1", received_at_ms=1_700_000_000_000)
    await log.flush()

    # The delivery type is not part of the topic contract, so streams.codec.decode rejects it.
    envelope = Envelope.model_validate_json(publisher.values[0])
    assert envelope.type == DELIVERY_TYPE
    assert envelope.subject == "c-1:d-4"
    assert envelope.data == {"space_id": "s-1", "received_at_ms": 1_700_000_000_000}
