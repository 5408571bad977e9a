"""Log format of the service's processes: text for people, JSON lines for collectors.

``LOG_FORMAT=json`` makes every line one JSON object with the time, level,
logger and message; the ids that matter (cloud_id, issue id, delivery id, edit
id, topic/partition/offset) are in the message as ``name=value`` pairs, the
form every module logs them in.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def formatter() -> logging.Formatter:
    """Return the formatter that ``LOG_FORMAT`` (``text`` or ``json``) selects."""
    choice = os.environ.get("LOG_FORMAT", "text").strip().lower()
    if choice == "json":
        return JsonFormatter()
    if choice != "text":
        raise ValueError(f"LOG_FORMAT={choice!r} is invalid; use 'text' or 'json'")
    return logging.Formatter(TEXT_FORMAT)


def configure(level: str) -> None:
    """Set the root level and give every root handler the configured format."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level)
    root.setLevel(level)
    chosen = formatter()
    for handler in root.handlers:
        handler.setFormatter(chosen)
