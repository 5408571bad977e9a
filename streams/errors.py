"""The root of the service's error tree.

Every package raises subclasses of :class:`SyncError`. Callers branch on
``retriable``: a retriable error may succeed when the same work is tried again
(a broker that is briefly away, a rate limit), a non-retriable one will fail
the same way every time until the input or configuration changes.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class of every error the service raises on purpose."""

    retriable: bool = False


class ConfigurationError(SyncError):
    """A setting is missing or invalid; the message names it and the fix."""


class CodecError(SyncError):
    """A record could not be decoded or encoded."""


class SchemaVersionError(CodecError):
    """A record carries a schema version this build cannot read."""

    def __init__(self, event_type: str, expected: int, actual: int) -> None:
        super().__init__(
            f"event type {event_type!r} has schema version {actual}, "
            f"but this build reads versions 1 to {expected}; upgrade the service "
            "before it consumes records written by a newer one"
        )
        self.event_type = event_type
        self.expected = expected
        self.actual = actual


class UnknownEventTypeError(CodecError):
    """A record's type is not part of the topic contract."""


class BrokerError(SyncError):
    """The Kafka broker could not be reached or refused a request."""

    retriable = True
