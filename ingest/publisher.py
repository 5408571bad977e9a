"""What this package needs from a Kafka producer.

:class:`streams.producer.Producer` satisfies both protocols: its sends return
only after the broker acknowledged the records with ``acks=all``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from streams.envelope import Envelope


class Publisher(Protocol):
    async def send(self, topic: str, key: str, envelope: Envelope) -> object: ...


class EncodedPublisher(Publisher, Protocol):
    """A :class:`Publisher` that also sends values encoded already.

    Each value must be what :func:`streams.codec.encode` returns for its envelope.
    """

    async def send_encoded(self, records: Iterable[tuple[str, str, bytes]]) -> object: ...
