"""The fold: observations of one Jira entity (jira.inbound) into domain events (jira.events).

``fold(state, observation, context)`` is pure. The state is a JSON-compatible dict
per record key (``{cloud_id}:{entity id}``) with a ``state_version``; old states are
upcast in :func:`upcast_state` only.

Ordering follows Jira's own versions, never arrival: an issue's version is its
``updated`` time in milliseconds, and the changelog id breaks ties when both sides
carry one. A stale observation changes nothing. An observation of the same version
that adds information (the ADF description of a v3 refetch after a v2 webhook) emits
an ``IssueChanged`` naming only the new fields.

Partial responses: Jira returns only the fields a request names. A REST v3 observation
updates the fields it carries and keeps the others of the last snapshot; a field absent
from ``fields`` is unknown, a field present with null is empty. One without ``updated``
has the version already folded, so it emits only the fields whose values changed. An
issue with no snapshot yet needs every field in ``jira_shapes.NODE_FIELDS``, and an
observation that lacks one raises :class:`FoldError`.

Deletes and resurrection: a delete webhook deletes at the later of the issue's
``updated`` and the webhook ``timestamp``, unless the state already holds a newer
version (then only a 404 decides). An ``IssueGone`` (a confirmed 404) deletes, at the
later of the known version and the time of the 404, unless the issue's project is in
``FoldContext.lost_project_ids``: then the node is kept and marked access lost
(``IssueAccessLost``) until the next observation of the issue. After a delete, only an
observation updated strictly after that deletion version brings the issue back (a
project restored from Jira's trash); anything older or equal is a late copy of the
past and is ignored.

Echoes: a ``WritePending`` records the fields and target values an edit is about to
write. A webhook from the connection's app account whose changed fields all match a
pending write is an echo: the emitted ``IssueChanged`` carries ``echo_of``. While a
status write is pending, intermediate statuses of a multi-step transition are not
shown: the snapshot keeps the previous status until the target arrives. Pending
writes expire ``PENDING_TTL_MS`` after they were recorded, measured on the issue's
``updated`` time rather than the wall clock, so a replay folds the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from projections.errors import FoldError, ShapeError
from projections.fold_entities import fold_project, fold_sprint, fold_sprint_webhook, fold_user
from projections.fold_issue import fold_issue_gone, fold_issue_observation, fold_write_pending
from projections.fold_state import new_state, upcast_state
from streams.contract import EventData, IssueRefetchRequested
from streams.envelope import Envelope

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldContext:
    """Facts about the connection that one entity's state does not hold.

    ``app_account_id`` is the Atlassian account the service writes with, so webhooks
    it caused can be told apart. ``lost_project_ids`` are projects the account can no
    longer see, so a 404 of their issues means "access lost", not "deleted".
    """

    app_account_id: str | None = None
    lost_project_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FoldResult:
    state: dict[str, Any]
    events: list[EventData] = field(default_factory=list)
    refetch: list[IssueRefetchRequested] = field(default_factory=list)


_NO_CONTEXT = FoldContext()


def fold(
    state: dict[str, Any] | None, observation: Envelope, context: FoldContext = _NO_CONTEXT
) -> FoldResult:
    """Fold one ``jira.inbound`` observation into the entity's state.

    Raises :class:`FoldError` with the reason when the observation cannot be folded,
    so the agent can dead-letter it and move on.
    """
    current = upcast_state(state) if state is not None else new_state()
    data = observation.data
    try:
        return _dispatch(current, observation.type, data, context)
    except ShapeError as exc:
        raise FoldError(
            f"{observation.type} event {observation.id} "
            f"(subject {observation.subject}) cannot be folded: {exc}"
        ) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FoldError(
            f"{observation.type} event {observation.id} "
            f"(subject {observation.subject}) is malformed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _dispatch(
    state: dict[str, Any], event_type: str, data: dict[str, Any], context: FoldContext
) -> FoldResult:
    if event_type == "jira.webhook.received":
        return _fold_webhook(state, data, context)
    if event_type == "jira.issue.observed":
        return FoldResult(
            *fold_issue_observation(
                state,
                data["issue"],
                representation="v3",
                space_id=data["space_id"],
                cloud_id=data["cloud_id"],
                sprint_field_id=data.get("sprint_field_id"),
                epic_link_field_id=data.get("epic_link_field_id"),
                changelog_id=0,
                actor=None,
                context=context,
                origin=data["origin"],
                created=False,
                description_changed=False,
            )
        )
    if event_type == "jira.issue.gone":
        return FoldResult(*fold_issue_gone(state, data, context))
    if event_type == "jira.write.pending":
        return FoldResult(fold_write_pending(state, data))
    if event_type in ("jira.project.observed", "jira.project.access_lost"):
        return FoldResult(*fold_project(state, event_type, data))
    if event_type == "jira.sprint.observed":
        return FoldResult(
            *fold_sprint(state, data["sprint"], data, data["observed_at_ms"], deleted=False)
        )
    if event_type == "jira.user.observed":
        return FoldResult(*fold_user(state, data))
    if event_type == "jira.connection.changed":
        updated = {
            **state,
            "kind": "connection",
            "account_id": data["account_id"],
            "connection_state": data["state"],
        }
        return FoldResult(updated)
    if event_type in ("jira.changelog.observed", "jira.comments.observed"):
        # Changelogs and comments do not change the graph; the issue's own
        # ``updated`` already orders its snapshots.
        return FoldResult(state)
    raise FoldError(
        f"event type {event_type!r} does not belong on jira.inbound; "
        "route it to the topic its contract names"
    )


def _fold_webhook(state: dict[str, Any], data: dict[str, Any], context: FoldContext) -> FoldResult:
    payload = data["payload"]
    event = data["webhook_event"]
    delivery_id = data["delivery_id"]
    if delivery_id in state.get("deliveries", ()):
        logger.debug("webhook delivery %s of %s already folded", delivery_id, event)
        return FoldResult(state)
    state = _remember_delivery(state, delivery_id)

    if event in ("jira:issue_created", "jira:issue_updated"):
        changelog = payload.get("changelog") or {}
        items = changelog.get("items") or []
        description_changed = any(
            str(item.get("field", "")).lower() == "description" for item in items
        )
        new, events, refetch = fold_issue_observation(
            state,
            payload["issue"],
            representation="v2",
            space_id=data["space_id"],
            cloud_id=data["cloud_id"],
            sprint_field_id=None,
            epic_link_field_id=None,
            changelog_id=int(changelog.get("id") or 0),
            actor=(payload.get("user") or {}).get("accountId"),
            context=context,
            origin="webhook",
            created=event == "jira:issue_created",
            description_changed=description_changed,
        )
        return FoldResult(new, events, refetch)

    if event == "jira:issue_deleted":
        new, events, refetch = fold_issue_gone(
            state,
            {
                "space_id": data["space_id"],
                "cloud_id": data["cloud_id"],
                "issue_id": str(payload["issue"]["id"]),
                "key": payload["issue"].get("key"),
                "issue": payload["issue"],
                "timestamp": payload.get("timestamp"),
            },
            context,
        )
        return FoldResult(new, events, refetch)

    if event.startswith("sprint_"):
        new, events, refetch = fold_sprint_webhook(state, event, payload, data)
        return FoldResult(new, events, refetch)

    # Comment, issue-link, board and version webhooks do not change the graph.
    logger.debug(
        "webhook delivery %s of %s (cloud %s) has no graph effect",
        delivery_id,
        event,
        data["cloud_id"],
    )
    return FoldResult(state)


_DELIVERIES_KEPT = 16


def _remember_delivery(state: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    deliveries = [*state.get("deliveries", ())[-(_DELIVERIES_KEPT - 1) :], delivery_id]
    return {**state, "deliveries": deliveries}
