"""Fold steps for projects, sprints and users (see :mod:`projections.fold`).

Projects and users carry no version in Jira, so a changed snapshot is emitted as it
arrives. Sprints are ordered by the observation time (the webhook ``timestamp`` or
the poll time) because the Agile API has no ``updated`` field either; a sprint
observed before its delete does not come back.
"""

from __future__ import annotations

import logging
from typing import Any

from projections.jira_shapes import canonical_project, canonical_sprint, canonical_user
from streams.contract import (
    EventData,
    IssueRefetchRequested,
    MemberChanged,
    ProjectChanged,
    SprintChanged,
)

logger = logging.getLogger(__name__)

Step = tuple[dict[str, Any], list[EventData], list[IssueRefetchRequested]]


def fold_project(state: dict[str, Any], event_type: str, data: dict[str, Any]) -> Step:
    space_id, cloud_id = data["space_id"], data["cloud_id"]

    if event_type == "jira.project.access_lost":
        project_id = str(data["project_id"])
        if state.get("access_lost"):
            return state, [], []
        snapshot = state.get("snapshot") or {
            "id": project_id,
            "key": None,
            "name": None,
            "project_type_key": None,
        }
        logger.info(
            "project %s (cloud %s) is no longer visible to the account; nodes kept",
            project_id,
            cloud_id,
        )
        changed = ProjectChanged.model_construct(
            space_id=space_id,
            cloud_id=cloud_id,
            project_id=project_id,
            snapshot=snapshot,
            access_lost=True,
        )
        return (
            {**state, "kind": "project", "snapshot": snapshot, "access_lost": True},
            [changed],
            [],
        )

    snapshot = canonical_project(data["project"])
    if snapshot == state.get("snapshot") and not state.get("access_lost"):
        return state, [], []
    changed = ProjectChanged.model_construct(
        space_id=space_id,
        cloud_id=cloud_id,
        project_id=snapshot["id"],
        snapshot=snapshot,
        access_lost=False,
    )
    return {**state, "kind": "project", "snapshot": snapshot, "access_lost": False}, [changed], []


def fold_sprint(
    state: dict[str, Any],
    sprint: dict[str, Any],
    data: dict[str, Any],
    observed_ms: int,
    *,
    deleted: bool,
) -> Step:
    space_id, cloud_id = data["space_id"], data["cloud_id"]
    snapshot = canonical_sprint(sprint)
    if state.get("observed_ms", -1) > observed_ms:
        logger.debug(
            "sprint %s (cloud %s): observation at %d older than %d; ignored",
            snapshot["id"],
            cloud_id,
            observed_ms,
            state["observed_ms"],
        )
        return state, [], []
    if state.get("deleted") and not deleted:
        return state, [], []
    if state.get("snapshot") == snapshot and bool(state.get("deleted")) == deleted:
        return {**state, "observed_ms": observed_ms}, [], []

    changed = SprintChanged.model_construct(
        space_id=space_id,
        cloud_id=cloud_id,
        sprint_id=snapshot["id"],
        snapshot=snapshot,
        deleted=deleted,
    )
    new_state = {
        **state,
        "kind": "sprint",
        "snapshot": snapshot,
        "observed_ms": observed_ms,
        "deleted": deleted,
    }
    return new_state, [changed], []


def fold_sprint_webhook(
    state: dict[str, Any], event: str, payload: dict[str, Any], data: dict[str, Any]
) -> Step:
    timestamp = payload.get("timestamp")
    observed_ms = int(timestamp) if isinstance(timestamp, int) else int(data["received_at_ms"])
    return fold_sprint(
        state, payload["sprint"], data, observed_ms, deleted=event == "sprint_deleted"
    )


def fold_user(state: dict[str, Any], data: dict[str, Any]) -> Step:
    snapshot = canonical_user(data["user"])
    if state.get("snapshot") == snapshot:
        return state, [], []
    changed = MemberChanged.model_construct(
        space_id=data["space_id"],
        cloud_id=data["cloud_id"],
        account_id=snapshot["account_id"],
        snapshot=snapshot,
    )
    return {**state, "kind": "member", "snapshot": snapshot}, [changed], []
