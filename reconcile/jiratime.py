"""Read the date-times Jira writes into epoch milliseconds.

Jira writes ``2024-03-10T09:15:02.123+0900``: the offset has no colon, and the
milliseconds are sometimes missing. The offset follows the requesting account's
time zone, so only the instant is meaningful, never the wall-clock text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from reconcile.errors import InvalidTimestamp

_OFFSET_WITHOUT_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_jira_time(value: str | int | float) -> int:
    """Return the instant ``value`` names, in epoch milliseconds.

    Accepts Jira's ``yyyy-MM-ddTHH:mm:ss[.SSS]+hhmm`` text, ISO 8601 with ``Z`` or
    ``+hh:mm``, and epoch milliseconds given as a number or as digits.
    Raises InvalidTimestamp for anything else, including text without an offset.
    """
    if isinstance(value, bool):
        raise InvalidTimestamp(f"date-time {value!r} is a boolean; expected Jira date-time text")
    if isinstance(value, int | float):
        return int(value)

    text = value.strip()
    if text.isdigit():
        return int(text)

    normalized = _OFFSET_WITHOUT_COLON.sub(r"\1:\2", text.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(normalized)
    except ValueError as exc:
        raise InvalidTimestamp(
            f"date-time {value!r} is invalid; expected yyyy-MM-ddTHH:mm:ss.SSS+hhmm"
        ) from exc
    if parsed.tzinfo is None:
        raise InvalidTimestamp(
            f"date-time {value!r} has no UTC offset, so its instant is unknown; "
            "expected an offset such as +0000"
        )

    return round(parsed.astimezone(UTC).timestamp() * 1000)
