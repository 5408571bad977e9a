"""Which Jira webhook events the service accepts, and the entity each one is about."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingest.entities import board_key, issue_key, project_key, sprint_key, user_key

ISSUE_EVENTS = frozenset({
    "jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
    "comment_created", "comment_updated", "comment_deleted",
    "issue_property_set", "issue_property_deleted",
    "worklog_created", "worklog_updated", "worklog_deleted",
})
SPRINT_EVENTS = frozenset({
    "sprint_created", "sprint_updated", "sprint_started", "sprint_closed", "sprint_deleted",
})
BOARD_EVENTS = frozenset({
    "board_created", "board_updated", "board_deleted", "board_configuration_changed",
})
PROJECT_EVENTS = frozenset({
    "project_created", "project_updated", "project_deleted",
    "project_soft_deleted", "project_restored_deleted",
    "project_archived", "project_restored_archived",
})
USER_EVENTS = frozenset({"user_created", "user_updated", "user_deleted"})
ISSUE_LINK_EVENTS = frozenset({"issuelink_created", "issuelink_deleted"})

KNOWN_EVENTS = (
    ISSUE_EVENTS | SPRINT_EVENTS | BOARD_EVENTS | PROJECT_EVENTS | USER_EVENTS | ISSUE_LINK_EVENTS
)


class MissingEntityError(Exception):
    """An authentic delivery does not name the entity it is about."""


def _id_at(payload: dict[str, Any], container: str, field: str) -> str:
    value = payload.get(container)
    identifier = value.get(field) if isinstance(value, dict) else None
    # Jira's ids are numbers or strings; anything else cannot name an entity.
    if isinstance(identifier, bool) or not isinstance(identifier, str | int):
        identifier = None
    if identifier is None or identifier == "":
        raise MissingEntityError(f"{container}.{field} is missing or not a string or number")
    return str(identifier)


def _issue_id(payload: dict[str, Any]) -> str:
    # Issue property events name the issue at the top level in some payloads.
    if "issue" not in payload and payload.get("issueId") is not None:
        return str(payload["issueId"])
    return _id_at(payload, "issue", "id")


_RESOLVERS: list[tuple[frozenset[str], Callable[[str, dict[str, Any]], str]]] = [
    (ISSUE_EVENTS, lambda cloud_id, p: issue_key(cloud_id, _issue_id(p))),
    (SPRINT_EVENTS, lambda cloud_id, p: sprint_key(cloud_id, _id_at(p, "sprint", "id"))),
    (BOARD_EVENTS, lambda cloud_id, p: board_key(cloud_id, _id_at(p, "board", "id"))),
    (PROJECT_EVENTS, lambda cloud_id, p: project_key(cloud_id, _id_at(p, "project", "id"))),
    (USER_EVENTS, lambda cloud_id, p: user_key(cloud_id, _id_at(p, "user", "accountId"))),
    # A link belongs with its source issue, so both records of one issue stay in order.
    (ISSUE_LINK_EVENTS,
     lambda cloud_id, p: issue_key(cloud_id, _id_at(p, "issueLink", "sourceIssueId"))),
]


def record_key(cloud_id: str, webhook_event: str, payload: dict[str, Any]) -> str:
    """Return the ``jira.inbound`` key of a delivery; raise :class:`MissingEntityError`."""
    for events, resolve in _RESOLVERS:
        if webhook_event in events:
            return resolve(cloud_id, payload)
    raise MissingEntityError(f"webhookEvent {webhook_event!r} has no entity rule")
