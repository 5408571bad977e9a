from __future__ import annotations

import asyncio

import pytest

from ingest.deliveries import DeliveryLog
from streams.envelope import Envelope


class SlowPublisher:
    """Holds every send until ``release`` is set; fails them when ``error`` is given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.release = asyncio.Event()
        self.error = error
        self.sent: list[tuple[str, str]] = []

    async def send(self, topic: str, key: str, envelope: Envelope) -> object:
        await self.release.wait()
        if self.error is not None:
            raise self.error
        self.sent.append((topic, key))
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
    assert "delivery id not recorded key=c-1:d-2" in caplog.text
