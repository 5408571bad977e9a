"""Write an envelope's CloudEvents JSON bytes without building an ``Envelope`` model.

Building :class:`~streams.envelope.Envelope` validates every attribute and copies
``data`` once more, after the event model has validated it already. The webhook
receiver writes two records per delivery from values that are JSON already, so
:func:`encode_event` hands them to orjson directly. The bytes are the ones
:func:`streams.codec.encode` returns for the same envelope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from streams.envelope import SPEC_VERSION


def event_time(time_ms: int) -> str:
    """Return ``time_ms`` (Unix epoch milliseconds) as the envelope's RFC 3339 ``time``."""
    # Integer arithmetic, because time_ms / 1000 as a float can lose the last millisecond.
    seconds, millis = divmod(time_ms, 1000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_event(
    *,
    event_id: str,
    source: str,
    event_type: str,
    subject: str,
    time_ms: int,
    schemaversion: int,
    data: dict[str, Any],
) -> bytes:
    """Return the CloudEvents JSON of an envelope whose ``data`` contains only JSON values.

    JSON values are dicts with string keys, lists, strings, ints, floats, booleans
    and None. The attributes keep the field order of ``Envelope``.
    """
    return orjson.dumps({
        "id": event_id,
        "source": source,
        "type": event_type,
        "subject": subject,
        "time": event_time(time_ms),
        "schemaversion": schemaversion,
        "datacontenttype": "application/json",
        "specversion": SPEC_VERSION,
        "data": data,
    })
