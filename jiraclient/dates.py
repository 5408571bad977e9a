"""Jira's date-time text: offsets without a colon, milliseconds that may be missing.

Jira writes ``2024-03-10T09:15:02.123+0900`` and sometimes ``2024-03-10T09:15:02+0000``;
both parse to aware instants. Jira accepts written date-times only as
``yyyy-MM-ddTHH:mm:ss.SSS+hhmm``, so :func:`format_jira_datetime` never writes ``Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_OFFSET_WITHOUT_COLON = re.compile(r"([+-])(\d{2})(\d{2})$")


def parse_jira_datetime(text: str) -> datetime:
    """Parse a Jira date-time (any of the shapes above, or ISO 8601 with ``Z``) to UTC."""
    normalised = text.strip()
    if normalised.endswith(("Z", "z")):
        normalised = normalised[:-1] + "+00:00"
    normalised = _OFFSET_WITHOUT_COLON.sub(r"\1\2:\3", normalised)

    try:
        parsed = datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise ValueError(
            f"invalid Jira date-time {text!r}; expected yyyy-MM-ddTHH:mm:ss[.SSS]+hhmm"
        ) from exc
    if parsed.tzinfo is None:
        raise ValueError(f"Jira date-time {text!r} has no UTC offset; expected one like +0000")
    return parsed.astimezone(UTC)


def format_jira_datetime(moment: datetime) -> str:
    """Format an aware date-time the way Jira accepts it, e.g. ``2024-03-10T00:15:02.123+0000``."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    return f"{text}.{millis:03d}{moment.strftime('%z')}"


def parse_epoch_or_text(value: int | float | str) -> datetime:
    """Read a time Jira gives either as epoch milliseconds or as date-time text."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if value.strip().lstrip("-").isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return parse_jira_datetime(value)
