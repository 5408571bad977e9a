"""Plan how one Naumu edit becomes Jira requests, without any I/O.

:func:`plan_edit` compares the edit with Jira's current issue and returns
one of four outcomes: :class:`Plan` (the requests to send), :class:`AlreadyApplied`
(Jira has the edited value already, nothing to send), :class:`Conflict` (Jira changed the
field after the value the user edited) or :class:`Rejection` (the edit cannot be
written, with the reason). A plan touches only the edited field.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from streams.contract import EditField, EditRequested
from writeback.adf_patch import MarkdownCodec, default_codec, markdown_key, patch_description
from writeback.errors import ContentNotWritable

WriteKind = Literal["edit", "transition", "assign", "move_to_sprint", "move_to_backlog"]


@dataclass(frozen=True)
class WritebackConfig:
    """Site settings the planner needs.

    ``resolution`` is the resolution set by a transition that requires one.
    ``max_description_chars`` bounds the serialized ADF: Jira's default limit for
    text fields is 32,767 characters (a site admin may lower it).
    """

    resolution: str = "Done"
    sprint_field_id: str = "customfield_10020"
    max_summary_chars: int = 255
    max_label_chars: int = 255
    max_description_chars: int = 32_767


@dataclass(frozen=True)
class JiraWrite:
    """One request to send: its kind, the issue it changes and its JSON body.

    For ``move_to_sprint`` the body is ``{"sprint_id": ...}``; the client call
    takes the issue id separately.
    """

    kind: WriteKind
    issue_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """The requests that apply an edit, and the value Jira has once they succeed.

    ``jira_value`` is canonical (see :func:`current_value`), so the executor can
    confirm a write by reading the issue again. ``pending_fields`` is what the
    echo of this write will show, keyed by Jira field id.
    """

    issue_id: str
    field: EditField
    writes: tuple[JiraWrite, ...]
    jira_value: Any
    pending_fields: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class AlreadyApplied:
    """Jira has the edited value already, so nothing is sent."""

    jira_value: Any


@dataclass(frozen=True)
class Conflict:
    """Jira's value of the field differs from the edit's base; nothing is sent."""

    jira_value: Any
    edit_value: Any
    base_value: Any


@dataclass(frozen=True)
class Rejection:
    """The edit cannot be written as it is; ``reason`` explains why to the user."""

    reason: str


PlanOutcome = Plan | AlreadyApplied | Conflict | Rejection


# --- canonical values ----------------------------------------------------------------


def _name(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("name") is not None:
        return str(value["name"])
    return None


def open_sprint_id(value: Any) -> str | None:
    """Return the id of the active or future sprint in a sprint field value, if any.

    The REST value is a list of sprint objects, closed sprints included. The legacy
    string form never reaches v3 responses, so it is not read here.
    """
    if not isinstance(value, list):
        return None
    open_ids = [
        str(sprint["id"])
        for sprint in value
        if isinstance(sprint, dict) and sprint.get("state") in ("active", "future")
    ]
    return open_ids[-1] if open_ids else None


def current_value(
    edit_field: EditField,
    issue: Mapping[str, Any],
    *,
    config: WritebackConfig,
    codec: MarkdownCodec | None = None,
) -> Any:
    """Return Jira's value of ``edit_field`` in canonical form.

    Canonical forms: names for status and priority, sorted labels, account id for
    the assignee, issue id for the parent, open sprint id for the sprint, and
    Markdown for the description.
    """
    fields: Mapping[str, Any] = issue.get("fields") or {}
    if edit_field == "label":
        return fields.get("summary")
    if edit_field == "content":
        return (codec or default_codec()).adf_to_markdown(fields.get("description"))
    if edit_field == "Status":
        return _name(fields.get("status"))
    if edit_field == "Priority":
        return _name(fields.get("priority"))
    if edit_field == "Labels":
        return sorted(str(label) for label in fields.get("labels") or [])
    if edit_field == "assignee":
        assignee = fields.get("assignee")
        return assignee.get("accountId") if isinstance(assignee, dict) else None
    if edit_field == "parent":
        parent = fields.get("parent")
        return str(parent["id"]) if isinstance(parent, dict) and "id" in parent else None
    return open_sprint_id(fields.get(config.sprint_field_id))


def same_value(edit_field: EditField, left: Any, right: Any) -> bool:
    """Compare two canonical values of ``edit_field`` the way Jira distinguishes them."""
    if edit_field in ("Status", "Priority"):
        left_name = left.casefold() if isinstance(left, str) else left
        right_name = right.casefold() if isinstance(right, str) else right
        return bool(left_name == right_name)
    if edit_field == "Labels":
        return sorted(left or []) == sorted(right or [])
    if edit_field == "content":
        return markdown_key(left or "") == markdown_key(right or "")
    return bool(left == right)


# --- the edit's own value ------------------------------------------------------------


@dataclass(frozen=True)
class _Lookups:
    members: Mapping[str, str]
    issue_ids: Mapping[str, str]
    sprint_ids: Mapping[str, str]


def _edge_target(edit_field: EditField, node_id: Any, lookups: _Lookups) -> str | Rejection | None:
    if node_id is None:
        return None
    table = {
        "assignee": (lookups.members, "member", "has no Jira account id"),
        "parent": (lookups.issue_ids, "issue", "is not an imported Jira issue"),
        "sprint": (lookups.sprint_ids, "sprint", "is not an imported Jira sprint"),
    }[edit_field]
    mapping, kind, problem = table
    target = mapping.get(str(node_id))
    if target is None:
        return Rejection(
            f"the {kind} node {node_id!r} {problem}; link the edge to a node imported "
            "from this Jira site"
        )
    return str(target)


def _canonical_edit_value(edit_field: EditField, value: Any, lookups: _Lookups) -> Any:
    if edit_field in ("assignee", "parent", "sprint"):
        return _edge_target(edit_field, value, lookups)
    if edit_field == "Labels":
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            return Rejection(f"Labels must be a list of strings, got {value!r}")
        return sorted(str(label) for label in value)
    return value


def _canonical_base(edit_field: EditField, base: Any, lookups: _Lookups) -> Any:
    """Map the edit's base to canonical form; an unmappable edge base stays a node id.

    An unmappable base then differs from every Jira value, so it reads as a conflict.
    """
    canonical = _canonical_edit_value(edit_field, base, lookups)
    if isinstance(canonical, Rejection):
        return f"node:{base}"
    return canonical


# --- writes per field ----------------------------------------------------------------


def _plan_summary(issue_id: str, value: Any, config: WritebackConfig) -> Plan | Rejection:
    if not isinstance(value, str) or not value.strip():
        return Rejection(f"the label must be a non-empty string, got {value!r}")
    if "\n" in value or "\r" in value:
        return Rejection("the label contains a line break, which a Jira summary cannot hold")
    if len(value) > config.max_summary_chars:
        return Rejection(
            f"the label has {len(value)} characters; a Jira summary holds at most "
            f"{config.max_summary_chars}"
        )
    write = JiraWrite("edit", issue_id, {"fields": {"summary": value}})
    return Plan(issue_id, "label", (write,), value, {"summary": value})


def _plan_description(
    issue_id: str,
    fields: Mapping[str, Any],
    jira_markdown: str,
    value: Any,
    config: WritebackConfig,
    codec: MarkdownCodec | None,
) -> Plan | Rejection:
    if not isinstance(value, str):
        return Rejection(f"the content must be Markdown text, got {type(value).__name__}")
    try:
        document = patch_description(fields.get("description"), jira_markdown, value, codec=codec)
    except ContentNotWritable as exc:
        return Rejection(str(exc))

    size = len(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    if size > config.max_description_chars:
        return Rejection(
            f"the content is {size} characters once serialized for Jira; the description "
            f"holds at most {config.max_description_chars}, so shorten it"
        )
    write = JiraWrite("edit", issue_id, {"fields": {"description": document}})
    return Plan(issue_id, "content", (write,), value, {"description": document})


def _plan_priority(
    issue_id: str, value: Any, priorities: Sequence[Mapping[str, Any]]
) -> Plan | Rejection:
    if not isinstance(value, str) or not value:
        return Rejection(f"the priority must be a priority name, got {value!r}")
    for priority in priorities:
        if str(priority.get("name", "")).casefold() == value.casefold():
            body = {"fields": {"priority": {"id": str(priority["id"])}}}
            name = str(priority["name"])
            return Plan(
                issue_id, "Priority", (JiraWrite("edit", issue_id, body),), name, {"priority": name}
            )
    known = ", ".join(repr(str(p.get("name"))) for p in priorities) or "none"
    return Rejection(f"unknown priority {value!r}; this Jira site has {known}")


def _plan_labels(
    issue_id: str, base: list[str], value: list[str], config: WritebackConfig
) -> Plan | Rejection:
    for label in value:
        if not label:
            return Rejection("a label is empty; remove it or give it a name")
        if any(character.isspace() for character in label):
            return Rejection(f"the label {label!r} contains a space, which Jira labels cannot hold")
        if len(label) > config.max_label_chars:
            return Rejection(
                f"the label {label[:40]!r}... has {len(label)} characters; Jira allows "
                f"{config.max_label_chars}"
            )

    operations: list[dict[str, str]] = [{"add": label} for label in value if label not in base]
    operations += [{"remove": label} for label in base if label not in value]
    write = JiraWrite("edit", issue_id, {"update": {"labels": operations}})
    return Plan(issue_id, "Labels", (write,), sorted(value), {"labels": sorted(value)})


def _required_fields(transition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    fields = transition.get("fields") or {}
    return {
        str(field_id): meta
        for field_id, meta in fields.items()
        if isinstance(meta, Mapping) and meta.get("required") and not meta.get("hasDefaultValue")
    }


def _resolution_value(meta: Mapping[str, Any], config: WritebackConfig) -> dict[str, str]:
    allowed = [item for item in meta.get("allowedValues") or [] if isinstance(item, Mapping)]
    for item in allowed:
        if str(item.get("name", "")).casefold() == config.resolution.casefold():
            return {"id": str(item["id"])}
    if allowed:
        return {"id": str(allowed[0]["id"])}
    return {"name": config.resolution}


def _plan_status(
    issue_id: str,
    current: str | None,
    value: Any,
    transitions: Sequence[Mapping[str, Any]],
    config: WritebackConfig,
) -> Plan | Rejection:
    if not isinstance(value, str) or not value:
        return Rejection(f"the status must be a status name, got {value!r}")

    matching = [
        t for t in transitions if str(_name(t.get("to")) or "").casefold() == value.casefold()
    ]
    if not matching:
        # Jira lists only the transitions out of the current status, so a status
        # two steps away has no path here.
        return Rejection(f"no transition path from {current!r} to {value!r}")
    chosen = matching[0]

    body: dict[str, Any] = {"transition": {"id": str(chosen["id"])}}
    filled: dict[str, Any] = {}
    for field_id, meta in _required_fields(chosen).items():
        if field_id != "resolution":
            return Rejection(
                f"the transition {chosen.get('name')!r} to {value!r} requires the field "
                f"{meta.get('name') or field_id!r}, which the write-back cannot fill; "
                "change the status in Jira"
            )
        filled["resolution"] = _resolution_value(meta, config)
    if filled:
        body["fields"] = filled

    target = _name(chosen.get("to")) or value
    write = JiraWrite("transition", issue_id, body)
    return Plan(issue_id, "Status", (write,), target, {"status": target})


def _plan_edge(issue_id: str, edit_field: EditField, target: str | None) -> Plan | Rejection:
    if edit_field == "assignee":
        if target is None:
            return Rejection(
                "removing the assignee edge does not unassign the Jira issue; assign it "
                "to another member instead"
            )
        write = JiraWrite("assign", issue_id, {"accountId": target})
        return Plan(issue_id, "assignee", (write,), target, {"assignee": target})

    if edit_field == "parent":
        if target is None:
            body: dict[str, Any] = {"update": {"parent": [{"set": {"none": True}}]}}
        else:
            body = {"fields": {"parent": {"id": target}}}
        return Plan(
            issue_id, "parent", (JiraWrite("edit", issue_id, body),), target, {"parent": target}
        )

    if target is None:
        write = JiraWrite("move_to_backlog", issue_id, {})
    else:
        write = JiraWrite("move_to_sprint", issue_id, {"sprint_id": target})
    return Plan(issue_id, "sprint", (write,), target, {"sprint": target})


# --- the planner ---------------------------------------------------------------------


def plan_edit(
    edit: EditRequested,
    *,
    issue: Mapping[str, Any],
    node: Mapping[str, Any] | None = None,
    members: Mapping[str, str],
    issue_ids: Mapping[str, str],
    sprint_ids: Mapping[str, str],
    config: WritebackConfig,
    transitions: Sequence[Mapping[str, Any]] = (),
    priorities: Sequence[Mapping[str, Any]] = (),
    codec: MarkdownCodec | None = None,
) -> PlanOutcome:
    """Decide what to send to Jira for ``edit``, given the issue Jira holds now.

    ``issue`` is the current v3 issue; ``members``, ``issue_ids`` and ``sprint_ids``
    map node ids to account ids, issue ids and sprint ids. ``transitions`` (with
    fields) is needed for a Status edit, ``priorities`` for a Priority edit.
    ``node`` is the graph node's state. It is accepted but not read, because
    Jira's value and the edit's base decide every outcome.
    """
    del node
    issue_id = str(issue.get("id"))
    lookups = _Lookups(members, issue_ids, sprint_ids)

    jira_value = current_value(edit.field, issue, config=config, codec=codec)
    desired = _canonical_edit_value(edit.field, edit.value, lookups)
    if isinstance(desired, Rejection):
        return desired

    if same_value(edit.field, jira_value, desired):
        return AlreadyApplied(jira_value)

    base = _canonical_base(edit.field, edit.base, lookups)
    if not same_value(edit.field, jira_value, base):
        return Conflict(jira_value=jira_value, edit_value=edit.value, base_value=edit.base)

    if edit.field == "label":
        return _plan_summary(issue_id, edit.value, config)
    if edit.field == "content":
        fields: Mapping[str, Any] = issue.get("fields") or {}
        return _plan_description(issue_id, fields, jira_value or "", edit.value, config, codec)
    if edit.field == "Priority":
        return _plan_priority(issue_id, edit.value, priorities)
    if edit.field == "Labels":
        return _plan_labels(issue_id, list(jira_value), list(desired), config)
    if edit.field == "Status":
        return _plan_status(issue_id, jira_value, edit.value, transitions, config)
    return _plan_edge(issue_id, edit.field, desired)
