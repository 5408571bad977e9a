"""The one envelope every record on every topic uses.

The envelope follows CloudEvents 1.0 (JSON event format): ``specversion``,
``id``, ``source``, ``type``, ``subject``, ``time`` and ``datacontenttype``
are the standard attributes, and ``schemaversion`` is an extension attribute
that versions the shape of ``data`` per event type. Envelopes are immutable:
a correction is a new event, never an edit of an old one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SPEC_VERSION = "1.0"


def _utc_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Envelope(BaseModel):
    """One event: CloudEvents attributes plus the versioned ``data`` payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str
    time: datetime = Field(default_factory=_utc_now)
    schemaversion: int = 1
    datacontenttype: str = "application/json"
    specversion: str = SPEC_VERSION
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _require_aware_time(cls, value: datetime) -> datetime:
        # Naive datetimes would be read in the consumer's local zone.
        if value.tzinfo is None:
            raise ValueError(f"time {value.isoformat()} has no UTC offset; pass an aware datetime")
        # CloudEvents JSON carries milliseconds, so keep no more than that here:
        # a decoded envelope then equals the one that was encoded.
        value = value.astimezone(UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    @field_validator("specversion")
    @classmethod
    def _require_spec_version(cls, value: str) -> str:
        if value != SPEC_VERSION:
            raise ValueError(f"specversion {value!r} is not supported; expected {SPEC_VERSION!r}")
        return value

    def to_cloudevent(self) -> dict[str, Any]:
        """Return the CloudEvents 1.0 JSON form, with ``time`` as RFC 3339 text."""
        return {
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "schemaversion": self.schemaversion,
            "datacontenttype": self.datacontenttype,
            "specversion": self.specversion,
            "data": self.data,
        }
