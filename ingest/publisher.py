"""What this package needs from a Kafka producer.

:class:`streams.producer.Producer` satisfies it: ``send`` returns only after
the broker acknowledged the record with ``acks=all``.
"""

from __future__ import annotations

from typing import Protocol

from streams.envelope import Envelope


class Publisher(Protocol):
    async def send(self, topic: str, key: str, envelope: Envelope) -> object: ...
