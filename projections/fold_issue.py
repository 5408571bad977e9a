"""Fold steps for one issue: observations, deletes and pending writes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from projections.errors import ShapeError
from projections.jira_shapes import (
    NODE_FIELDS,
    canonical_issue,
    first_snapshot,
    iso_to_ms,
    missing_node_fields,
    observed_issue_fields,
    parse_jira_time,
    to_ms,
)
from streams.contract import (
    EventData,
    IssueAccessLost,
    IssueChanged,
    IssueDeleted,
    IssueKeyChanged,
    IssueRefetchRequested,
    IssueVersion,
)

if TYPE_CHECKING:
    from projections.fold import FoldContext

logger = logging.getLogger(__name__)

# A pending write that no webhook matched within this span of the issue's ``updated``
# time is dropped; later changes are then nobody's echo.
PENDING_TTL_MS = 10 * 60 * 1000

# Snapshot keys compared to name the changed fields, with the field name reported.
_COMPARED = (
    ("key", "key"),
    ("project_id", "project"),
    ("issuetype", "issuetype"),
    ("summary", "summary"),
    ("status", "status"),
    ("priority", "priority"),
    ("labels", "labels"),
    ("assignee", "assignee"),
    ("parent", "parent"),
    ("sprint_ids", "sprint_ids"),
    ("created", "created"),
    ("updated", "updated"),
)

# Edit field names and Jira field names, mapped to the snapshot field they change.
_PENDING_FIELDS = {
    "label": "summary",
    "summary": "summary",
    "content": "description",
    "description": "description",
    "Status": "status",
    "status": "status",
    "Priority": "priority",
    "priority": "priority",
    "Labels": "labels",
    "labels": "labels",
    "assignee": "assignee",
    "parent": "parent",
    "sprint": "sprint_ids",
    "sprint_ids": "sprint_ids",
}

Version = tuple[int, int]
Step = tuple[dict[str, Any], list[EventData], list[IssueRefetchRequested]]


def compare_versions(left: Version, right: Version) -> int:
    """Order two issue versions: ``updated`` first, changelog ids only when both have one."""
    if left[0] != right[0]:
        return -1 if left[0] < right[0] else 1
    if left[1] and right[1] and left[1] != right[1]:
        return -1 if left[1] < right[1] else 1
    return 0


def _version_of(state: dict[str, Any], name: str) -> Version:
    stored = state.get(name) or (0, 0)
    return (int(stored[0]), int(stored[1]))


def _changed_fields(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    if old is None:
        return [name for _, name in _COMPARED] + (
            ["description"] if new["description_known"] else []
        )
    changed = [name for key, name in _COMPARED if old.get(key) != new.get(key)]
    if new["description_known"] and (
        not old.get("description_known") or old.get("description_adf") != new["description_adf"]
    ):
        changed.append("description")
    return changed


def _matches(field: str, snapshot: dict[str, Any], target: Any) -> bool:
    value = snapshot.get(field)
    if field in ("status", "priority"):
        if isinstance(target, dict):
            target = target.get("name") or target.get("id")
        return isinstance(value, dict) and target in (value.get("name"), value.get("id"))
    if field == "labels":
        return sorted(target or []) == value
    if field == "parent":
        if isinstance(target, dict):
            target = target.get("key") or target.get("id")
        return target is None if value is None else target in (value.get("key"), value.get("id"))
    if field == "sprint_ids":
        targets = target if isinstance(target, list) else [target]
        return sorted(str(item) for item in targets if item is not None) == sorted(value or [])
    if field == "description":
        # Webhooks carry wiki text, not ADF, so a description echo is matched by name only.
        return True
    return bool(value == target)


def _apply_pending(
    state: dict[str, Any],
    old: dict[str, Any] | None,
    merged: dict[str, Any],
    updated_ms: int,
    actor: str | None,
    context: FoldContext,
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """Mask intermediate statuses, find the echoed edit and drop expired pending writes."""
    pending = [
        entry for entry in state.get("pending", ()) if entry["at_ms"] + PENDING_TTL_MS >= updated_ms
    ]
    if not pending:
        return merged, pending, None
    from_app = actor is None or (
        context.app_account_id is not None and actor == context.app_account_id
    )
    if not from_app:
        return merged, pending, None

    status_targets = [entry["fields"]["status"] for entry in pending if "status" in entry["fields"]]
    if (
        old is not None
        and status_targets
        and not any(_matches("status", merged, target) for target in status_targets)
    ):
        merged = {**merged, "status": old["status"]}

    changed = set(_changed_fields(old, merged)) - {"updated"}
    echo_of: str | None = None
    remaining: list[dict[str, Any]] = []
    for entry in pending:
        fields = entry["fields"]
        matched = (
            bool(changed)
            and changed <= set(fields)
            and all(
                _matches(name, merged, target) for name, target in fields.items() if name in changed
            )
        )
        if matched and echo_of is None and actor is not None:
            echo_of = entry["edit_id"]
            if all(_matches(name, merged, target) for name, target in fields.items()):
                continue
        remaining.append(entry)
    return merged, remaining, echo_of


def fold_issue_observation(
    state: dict[str, Any],
    issue: dict[str, Any],
    *,
    representation: str,
    space_id: str,
    cloud_id: str,
    sprint_field_id: str | None,
    epic_link_field_id: str | None,
    changelog_id: int,
    actor: str | None,
    context: FoldContext,
    origin: str,
    created: bool,
    description_changed: bool,
) -> Step:
    """Fold one snapshot of an issue, from a v2 webhook or a v3 REST response.

    A v3 response may carry only the fields its request named, so only those fields
    change the last snapshot. Without a last snapshot, a response that lacks a field in
    ``NODE_FIELDS`` raises :class:`ShapeError`.
    """
    last: dict[str, Any] | None = state.get("snapshot")
    if representation == "v3":
        snapshot = observed_issue_fields(
            issue,
            sprint_field_id=sprint_field_id,
            epic_link_field_id=epic_link_field_id,
            known_issuetype=last["issuetype"] if last is not None else None,
        )
    else:
        snapshot = canonical_issue(
            issue,
            representation="v2",
            sprint_field_id=sprint_field_id,
            epic_link_field_id=epic_link_field_id,
        )
    issue_id = snapshot["id"]
    version = _observed_version(state, snapshot, changelog_id)
    updated_ms = version[0]

    if state.get("deleted"):
        if compare_versions(version, _version_of(state, "deleted_version")) <= 0:
            logger.debug(
                "issue %s (cloud %s) is deleted; %s observation of %s ignored",
                issue_id,
                cloud_id,
                origin,
                snapshot.get("updated", "unknown time"),
            )
            return state, [], []
        logger.info(
            "issue %s %s (cloud %s) observed after its delete at a newer version; restored",
            issue_id,
            snapshot["key"],
            cloud_id,
        )
        state = {
            key: value
            for key, value in state.items()
            if key not in ("deleted", "deleted_version", "snapshot")
        }

    old: dict[str, Any] | None = state.get("snapshot")
    order = compare_versions(version, _version_of(state, "version")) if old is not None else 1
    if order < 0 or (order == 0 and representation != "v3"):
        logger.debug(
            "issue %s (cloud %s): %s observation of %s is not newer; ignored",
            issue_id,
            cloud_id,
            origin,
            snapshot.get("updated", "unknown time"),
        )
        return state, [], []

    merged = snapshot
    if representation == "v3":
        merged = _merge_observed(old, snapshot, issue, cloud_id)
    elif old is not None:
        # v2 bodies carry wiki text: keep the last ADF, and mark it unknown when it changed.
        merged = {
            **snapshot,
            "description_adf": old.get("description_adf"),
            "description_known": bool(old.get("description_known")) and not description_changed,
        }

    merged, pending, echo_of = _apply_pending(state, old, merged, updated_ms, actor, context)
    changed = _changed_fields(old, merged)

    stored_version = _version_of(state, "version")
    new_version = (updated_ms, max(changelog_id, stored_version[1] if order == 0 else 0))
    aliases = list(state.get("aliases", ()))
    events: list[EventData] = []
    issue_version = IssueVersion.model_construct(
        updated_ms=new_version[0], changelog_id=new_version[1]
    )

    if old is not None and merged["key"] != old["key"]:
        if old["key"] not in aliases:
            aliases.append(old["key"])
        aliases = [alias for alias in aliases if alias != merged["key"]]
        events.append(
            IssueKeyChanged.model_construct(
                space_id=space_id,
                cloud_id=cloud_id,
                issue_id=issue_id,
                old_key=old["key"],
                new_key=merged["key"],
                version=issue_version,
            )
        )
    merged = {**merged, "aliases": aliases}

    # An observation means the account reaches the issue again, so a node marked
    # access lost is published again even when no field changed.
    regained = bool(state.get("access_lost"))
    if changed or regained:
        events.append(
            IssueChanged.model_construct(
                space_id=space_id,
                cloud_id=cloud_id,
                issue_id=issue_id,
                key=merged["key"],
                version=issue_version,
                changed_fields=changed,
                snapshot=merged,
                echo_of=echo_of,
            )
        )

    refetch: list[IssueRefetchRequested] = []
    reason = _refetch_reason(representation, created, description_changed, merged)
    if reason is not None:
        refetch.append(
            IssueRefetchRequested.model_construct(
                space_id=space_id,
                cloud_id=cloud_id,
                issue_id=issue_id,
                reason=reason,
                min_updated_ms=updated_ms,
            )
        )

    new_state = {
        **{key: value for key, value in state.items() if key != "access_lost"},
        "kind": "issue",
        "space_id": space_id,
        "cloud_id": cloud_id,
        "issue_id": issue_id,
        "key": merged["key"],
        "aliases": aliases,
        "version": list(new_version),
        "snapshot": merged,
        "pending": pending,
    }
    return new_state, events, refetch


def _observed_version(
    state: dict[str, Any], snapshot: dict[str, Any], changelog_id: int
) -> Version:
    """Return the version of an observation; one without ``updated`` has the state's version."""
    updated = snapshot.get("updated")
    if updated is not None:
        return (iso_to_ms(updated), changelog_id)

    # Nothing orders such a response, so it counts as the version already folded. It
    # can change fields but never moves the version. After a delete that version is the
    # deletion, so the response is ignored.
    return _version_of(state, "deleted_version" if state.get("deleted") else "version")


def _merge_observed(
    old: dict[str, Any] | None, observed: dict[str, Any], issue: dict[str, Any], cloud_id: str
) -> dict[str, Any]:
    """Return the last snapshot updated with the fields a v3 response carries."""
    if old is not None:
        return {**old, **observed}

    missing = missing_node_fields(issue)
    if missing:
        raise ShapeError(
            f"issue {observed['id']} ({observed['key']}, cloud {cloud_id}) has no earlier "
            f"snapshot, and the response lacks the fields {', '.join(missing)}; the importer "
            f"must request {', '.join(NODE_FIELDS)} for an issue the graph does not hold yet"
        )
    return first_snapshot(observed)


def _refetch_reason(
    representation: str, created: bool, description_changed: bool, snapshot: dict[str, Any]
) -> str | None:
    if representation == "v3":
        return None
    if created:
        return "created"
    if description_changed:
        return "description_changed"
    if not snapshot["description_known"]:
        return "description_unknown"
    parent = snapshot.get("parent")
    if parent is not None and parent.get("id") is None:
        return "parent_id_unknown"
    return None


def fold_issue_gone(state: dict[str, Any], data: dict[str, Any], context: FoldContext) -> Step:
    """Fold a delete webhook (``data`` has ``issue``) or a confirmed 404 (``IssueGone``)."""
    issue_id = str(data["issue_id"])
    space_id, cloud_id = data["space_id"], data["cloud_id"]
    if state.get("deleted"):
        return state, [], []

    old: dict[str, Any] | None = state.get("snapshot")
    known = _version_of(state, "version")
    deletion = known
    from_webhook = "issue" in data

    if from_webhook:
        updated = (data["issue"].get("fields") or {}).get("updated")
        if updated is not None:
            deletion = (to_ms(parse_jira_time(updated)), 0)
        if old is not None and compare_versions(deletion, known) < 0:
            # Jira never edits a deleted issue, so a newer version means this delete is
            # a late copy from before a restore; a 404 (IssueGone) decides instead.
            logger.info(
                "issue %s (cloud %s): delete webhook at %s is older than version %s; "
                "ignored until a fetch confirms it",
                issue_id,
                cloud_id,
                deletion,
                known,
            )
            return state, [], []
        deletion = max(deletion, known)
        timestamp = data.get("timestamp")
        if isinstance(timestamp, int) and not isinstance(timestamp, bool):
            deletion = max(deletion, (timestamp, 0))

    elif old is not None and old["project_id"] in context.lost_project_ids:
        logger.info(
            "issue %s (cloud %s) is out of reach because project %s is; node kept",
            issue_id,
            cloud_id,
            old["project_id"],
        )
        lost = IssueAccessLost.model_construct(
            space_id=space_id, cloud_id=cloud_id, issue_id=issue_id, project_id=old["project_id"]
        )
        return {**state, "access_lost": True}, [lost], []

    if not from_webhook and isinstance(data.get("observed_at_ms"), int):
        # A 404 at that moment means no version updated before it can still be current.
        deletion = max(deletion, (int(data["observed_at_ms"]), 0))

    key = data.get("key") or (old or {}).get("key") or state.get("key")
    deleted = IssueDeleted.model_construct(
        space_id=space_id,
        cloud_id=cloud_id,
        issue_id=issue_id,
        key=key,
        version=IssueVersion.model_construct(updated_ms=deletion[0], changelog_id=deletion[1]),
    )
    new_state = {
        **state,
        "kind": "issue",
        "space_id": space_id,
        "cloud_id": cloud_id,
        "issue_id": issue_id,
        "key": key,
        "deleted": True,
        "deleted_version": list(deletion),
        "pending": [],
    }
    return new_state, [deleted], []


def fold_write_pending(state: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Record the fields and target values an edit is about to write to the issue."""
    pending = [entry for entry in state.get("pending", ()) if entry["edit_id"] != data["edit_id"]]
    fields = {_PENDING_FIELDS.get(name, name): value for name, value in data["fields"].items()}
    pending.append(
        {"edit_id": data["edit_id"], "fields": fields, "at_ms": int(data["observed_at_ms"])}
    )
    return {
        **state,
        "kind": state.get("kind", "issue"),
        "issue_id": str(data["issue_id"]),
        "pending": pending,
    }
