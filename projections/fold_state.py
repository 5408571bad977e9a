"""The fold's per-entity state: creation and the one place old state versions are upcast."""

from __future__ import annotations

from typing import Any

from projections.errors import StateVersionError

STATE_VERSION = 1


def new_state() -> dict[str, Any]:
    return {"state_version": STATE_VERSION}


def upcast_state(state: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored fold state up to ``STATE_VERSION``; raise on a newer or unknown one."""
    version = state.get("state_version")
    if version == STATE_VERSION:
        return state
    raise StateVersionError("fold", STATE_VERSION, version)
