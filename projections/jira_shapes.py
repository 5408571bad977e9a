"""Normalise Jira issue JSON (REST v3, REST v2 and webhook bodies) into one canonical shape.

The canonical snapshot is what the fold compares and the mapping reads::

    {id, key, project_id, project_key,
     issuetype {id, name, hierarchy_level, subtask}, summary,
     description_adf (v3 only, None when empty), description_known (False for v2),
     status {id, name, category_key}, priority {id, name} | None, labels (sorted),
     assignee (account id) | None, parent {id, key, kind} | None,
     sprint_ids (sorted strings), created, updated (ISO 8601 UTC, milliseconds, "Z")}

Users are identified by ``accountId`` only: e-mail addresses and display names are
not part of the snapshot because Jira may hide or change them.

Jira returns only the fields a request names, so a REST v3 issue may carry a subset.
:func:`observed_issue_fields` returns the snapshot keys such a response carries and
leaves out the ones it does not, so the fold can merge them into the last snapshot.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

from projections.errors import ShapeError

logger = logging.getLogger(__name__)

SPRINT_FIELD_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"
LEGACY_SPRINT_PREFIX = "com.atlassian.greenhopper.service.sprint.Sprint@"

Representation = Literal["v2", "v3"]

# Jira writes "+0900" (no colon) and sometimes omits milliseconds; Python's
# fromisoformat accepts both once a colon-less offset is rewritten.
_JIRA_TIME_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|[+-]\d{2}:?\d{2})?$"
)

# Fields of the legacy sprint string come in alphabetical order; name and goal are
# matched lazily between known neighbours, so they may contain commas, brackets
# and newlines.
_LEGACY_SPRINT_RE = re.compile(
    r"^(?:.*?\bgoal=(?P<goal>.*?),)?id=(?P<id>\d+),name=(?P<name>.*?),"
    r"rapidViewId=(?P<board>[^,]*),(?:.*?)state=(?P<state>[A-Za-z_]+)(?:,.*)?$",
    re.DOTALL,
)
_LEGACY_ID_RE = re.compile(r"(?:^|,)id=(\d+)(?:,|$)")


# --- time ----------------------------------------------------------------------------


def parse_jira_time(value: object) -> datetime:
    """Parse a Jira timestamp (offset with or without colon, ``Z``, epoch ms) to aware UTC."""
    if isinstance(value, bool):
        raise ShapeError(f"timestamp {value!r} is a boolean, expected text or epoch milliseconds")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        raise ShapeError(f"timestamp {value!r} is not text or epoch milliseconds")

    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    match = _JIRA_TIME_RE.match(text)
    if match is None:
        raise ShapeError(
            f"timestamp {value!r} is not ISO 8601 (expected e.g. 2024-03-10T09:15:02.123+0900)"
        )
    local, offset = match.groups()
    if offset is None:
        raise ShapeError(f"timestamp {value!r} has no UTC offset, so its instant is unknown")
    if offset != "Z" and ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    parsed = datetime.fromisoformat(local + ("+00:00" if offset == "Z" else offset))
    return parsed.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Return epoch milliseconds of an aware datetime."""
    return round(moment.timestamp() * 1000)


def iso_utc(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with milliseconds and ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical_time(value: object) -> str:
    return iso_utc(parse_jira_time(value))


def iso_to_ms(text: str) -> int:
    """Return epoch milliseconds of a canonical ``...Z`` timestamp."""
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


# --- sprints --------------------------------------------------------------------------


def parse_legacy_sprint(text: str) -> dict[str, Any] | None:
    """Parse ``com.atlassian.greenhopper.service.sprint.Sprint@…[…]``; ``None`` if it is not one."""
    if not text.startswith(LEGACY_SPRINT_PREFIX):
        return None
    open_at = text.find("[")
    if open_at < 0 or not text.endswith("]"):
        return None
    body = text[open_at + 1 : -1]

    match = _LEGACY_SPRINT_RE.match(body)
    if match is not None:
        return {
            "id": match.group("id"),
            "name": _null(match.group("name")),
            "goal": _null(match.group("goal")),
            "state": match.group("state").lower(),
            "board_id": _null(match.group("board")),
        }
    fallback = _LEGACY_ID_RE.search(body)
    if fallback is None:
        return None
    return {"id": fallback.group(1), "name": None, "goal": None, "state": None, "board_id": None}


def _null(value: str | None) -> str | None:
    return None if value is None or value == "<null>" else value


def sprint_ids(value: object, *, issue_id: str = "?") -> tuple[list[str], list[object]]:
    """Return the sorted sprint ids of a sprint field value and the items in neither shape."""
    if value is None:
        return [], []
    items = value if isinstance(value, list) else [value]
    ids: set[str] = set()
    unknown: list[object] = []

    for item in items:
        if isinstance(item, dict) and item.get("id") is not None:
            ids.add(str(item["id"]))
            continue
        if isinstance(item, str):
            parsed = parse_legacy_sprint(item)
            if parsed is not None:
                ids.add(parsed["id"])
                continue
        if isinstance(item, int) and not isinstance(item, bool):
            ids.add(str(item))
            continue
        unknown.append(item)

    if unknown:
        logger.warning(
            "sprint field of issue %s holds %d value(s) in no known shape, kept raw: %.200r",
            issue_id,
            len(unknown),
            unknown,
        )
    return sorted(ids, key=_numeric_first), unknown


def _numeric_first(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _looks_like_sprint_value(value: object) -> bool:
    if not isinstance(value, list) or not value:
        return False
    first = value[0]
    if isinstance(first, str):
        return first.startswith(LEGACY_SPRINT_PREFIX)
    return (
        isinstance(first, dict)
        and {"id", "name", "state"} <= set(first)
        and bool({"boardId", "originBoardId", "goal", "startDate"} & set(first))
    )


def find_sprint_field_id(
    fields: dict[str, Any], schema: dict[str, Any] | None = None
) -> str | None:
    """Find the sprint custom field: by its schema type when given, else by its values."""
    if schema:
        for field_id, field_schema in schema.items():
            if isinstance(field_schema, dict) and field_schema.get("custom") == SPRINT_FIELD_SCHEMA:
                return str(field_id)
    for field_id, value in fields.items():
        if field_id.startswith("customfield_") and _looks_like_sprint_value(value):
            return field_id
    return None


# --- issue -----------------------------------------------------------------------------


def _require(mapping: dict[str, Any], name: str, where: str) -> Any:
    value = mapping.get(name)
    if value is None:
        raise ShapeError(f"{where} has no {name!r}; present keys: {sorted(mapping)[:20]}")
    return value


def _issuetype(fields: dict[str, Any], issue_id: str) -> dict[str, Any]:
    raw = _require(fields, "issuetype", f"issue {issue_id} fields")
    subtask = bool(raw.get("subtask", False))
    level = raw.get("hierarchyLevel")
    if level is None:
        level = -1 if subtask else 0
    return {
        "id": str(raw.get("id")),
        "name": str(_require(raw, "name", f"issue {issue_id} issuetype")),
        "hierarchy_level": int(level),
        "subtask": subtask or int(level) == -1,
    }


def _parent(
    fields: dict[str, Any], issuetype: dict[str, Any], epic_link_field_id: str | None, issue_id: str
) -> dict[str, Any] | None:
    raw = fields.get("parent")
    if isinstance(raw, dict) and (raw.get("id") or raw.get("key")):
        parent_type = (raw.get("fields") or {}).get("issuetype") or {}
        if issuetype["subtask"]:
            kind = "subtask"
        elif parent_type.get("hierarchyLevel", 1) >= 1 or parent_type.get("name") == "Epic":
            kind = "epic"
        else:
            # A base-level parent of a base-level issue only exists in custom hierarchies.
            logger.warning(
                "issue %s has a parent %s of hierarchy level %s; mapped as epic",
                issue_id,
                raw.get("key"),
                parent_type.get("hierarchyLevel"),
            )
            kind = "epic"
        parent_id = raw.get("id")
        return {
            "id": str(parent_id) if parent_id is not None else None,
            "key": raw.get("key"),
            "kind": kind,
        }

    if epic_link_field_id:
        link = fields.get(epic_link_field_id)
        if isinstance(link, str) and link:
            # The Epic Link field holds the epic's key only; the id comes from a refetch.
            return {"id": None, "key": link, "kind": "epic"}
        if isinstance(link, dict) and link.get("key"):
            link_id = link.get("id")
            return {
                "id": str(link_id) if link_id is not None else None,
                "key": link["key"],
                "kind": "epic",
            }
    return None


def _account_id(user: object, issue_id: str) -> str | None:
    if user is None:
        return None
    if isinstance(user, dict) and user.get("accountId"):
        return str(user["accountId"])
    logger.warning(
        "assignee of issue %s has no accountId and is read as unassigned: %.120r", issue_id, user
    )
    return None


def _status(raw: object, issue_id: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ShapeError(f"issue {issue_id} status {raw!r} is not an object")
    return {
        "id": str(raw.get("id")),
        "name": str(_require(raw, "name", f"issue {issue_id} status")),
        "category_key": (raw.get("statusCategory") or {}).get("key"),
    }


def _priority(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    return {"id": str(raw.get("id")), "name": raw.get("name")}


def _text_to_adf(text: str) -> dict[str, Any] | None:
    """Return an ADF document of plain text shown verbatim.

    Blank lines split paragraphs, and other line breaks become hard breaks.
    """
    content: list[dict[str, Any]] = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").strip()):
        inline: list[dict[str, Any]] = []
        for line in block.split("\n"):
            if inline:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append({"type": "text", "text": line})
        if inline:
            content.append({"type": "paragraph", "content": inline})
    if not content:
        return None
    return {"type": "doc", "version": 1, "content": content}


def _description_adf(value: object, issue_id: str) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        # REST v3 returns ADF, but the search example in Atlassian's REST v3 specification
        # has a text description. Showing such text verbatim keeps it visible.
        logger.info("issue %s has a text description in a REST v3 response; kept as text", issue_id)
        return _text_to_adf(value)
    return None


def canonical_issue(
    issue: dict[str, Any],
    *,
    representation: Representation,
    sprint_field_id: str | None,
    epic_link_field_id: str | None,
) -> dict[str, Any]:
    """Return the canonical snapshot of an issue from REST v3 (ADF) or v2/webhook JSON.

    Absent optional fields read as empty. Raises :class:`ShapeError` when an
    identifying or required field is missing.
    """
    issue_id = str(_require(issue, "id", "issue"))
    fields = issue.get("fields")
    if not isinstance(fields, dict):
        raise ShapeError(f"issue {issue_id} has no 'fields' object")
    project = _require(fields, "project", f"issue {issue_id} fields")
    status = _require(fields, "status", f"issue {issue_id} fields")
    issuetype = _issuetype(fields, issue_id)

    labels = fields.get("labels") or []
    sprint_field = sprint_field_id or find_sprint_field_id(fields)
    sprints, _unknown = sprint_ids(
        fields.get(sprint_field) if sprint_field else None, issue_id=issue_id
    )

    if representation == "v3":
        description_adf = _description_adf(fields.get("description"), issue_id)
        description_known = True
    else:
        description_adf = None
        description_known = False

    return {
        "id": issue_id,
        "key": str(_require(issue, "key", f"issue {issue_id}")),
        "project_id": str(_require(project, "id", f"issue {issue_id} project")),
        "project_key": project.get("key"),
        "issuetype": issuetype,
        "summary": str(fields.get("summary") or ""),
        "description_adf": description_adf,
        "description_known": description_known,
        "status": _status(status, issue_id),
        "priority": _priority(fields.get("priority")),
        "labels": sorted(str(label) for label in labels),
        "assignee": _account_id(fields.get("assignee"), issue_id),
        "parent": _parent(fields, issuetype, epic_link_field_id, issue_id),
        "sprint_ids": sprints,
        "created": canonical_time(_require(fields, "created", f"issue {issue_id} fields")),
        "updated": canonical_time(_require(fields, "updated", f"issue {issue_id} fields")),
    }


# --- partial issue ---------------------------------------------------------------------

# Jira fields a node cannot be built without. The importer and the refetcher request
# them, with every optional field, for each issue they fetch.
NODE_FIELDS: tuple[str, ...] = ("issuetype", "status", "summary", "project", "created", "updated")


def missing_node_fields(issue: dict[str, Any]) -> list[str]:
    """Return the names in ``NODE_FIELDS`` that the issue's ``fields`` object lacks."""
    fields = issue.get("fields")
    if not isinstance(fields, dict):
        return list(NODE_FIELDS)
    return [name for name in NODE_FIELDS if name not in fields]


def first_snapshot(observed: dict[str, Any]) -> dict[str, Any]:
    """Return a snapshot of observed fields, with the optional fields they lack left empty.

    A description that was not returned is unknown rather than empty.
    """
    return {
        "description_adf": None,
        "description_known": False,
        "priority": None,
        "labels": [],
        "assignee": None,
        "parent": None,
        "sprint_ids": [],
        **observed,
    }


def observed_issue_fields(
    issue: dict[str, Any],
    *,
    sprint_field_id: str | None,
    epic_link_field_id: str | None,
    known_issuetype: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the canonical snapshot keys that a REST v3 issue carries.

    A field absent from ``fields`` is unknown and its keys are left out, while a
    field present with null reads as empty. ``id`` and ``key`` are always returned.
    ``known_issuetype`` is the issue type of the last snapshot; it decides the parent
    kind when the response has a parent but no issue type. Raises
    :class:`ShapeError` when a present field is malformed.
    """
    issue_id = str(_require(issue, "id", "issue"))
    fields = issue.get("fields")
    if not isinstance(fields, dict):
        raise ShapeError(f"issue {issue_id} has no 'fields' object")
    observed: dict[str, Any] = {
        "id": issue_id,
        "key": str(_require(issue, "key", f"issue {issue_id}")),
    }
    where = f"issue {issue_id} fields"

    if "project" in fields:
        project = _require(fields, "project", where)
        observed["project_id"] = str(_require(project, "id", f"issue {issue_id} project"))
        observed["project_key"] = project.get("key")
    issuetype = known_issuetype
    if "issuetype" in fields:
        issuetype = observed["issuetype"] = _issuetype(fields, issue_id)
    if "summary" in fields:
        observed["summary"] = str(fields["summary"] or "")
    if "description" in fields:
        observed["description_adf"] = _description_adf(fields["description"], issue_id)
        observed["description_known"] = True
    if "status" in fields:
        observed["status"] = _status(_require(fields, "status", where), issue_id)
    if "priority" in fields:
        observed["priority"] = _priority(fields["priority"])
    if "labels" in fields:
        observed["labels"] = sorted(str(label) for label in fields["labels"] or [])
    if "assignee" in fields:
        observed["assignee"] = _account_id(fields["assignee"], issue_id)
    if "created" in fields:
        observed["created"] = canonical_time(_require(fields, "created", where))
    if "updated" in fields:
        observed["updated"] = canonical_time(_require(fields, "updated", where))

    # Jira leaves `parent` out when an issue has none, and an empty sprint field of an
    # unknown id looks like any other custom field. The importer and the refetcher
    # request every node field, so in such a response both absences mean "none".
    # In a smaller response they stay unknown.
    complete = all(name in fields for name in NODE_FIELDS)
    epic_link = fields.get(epic_link_field_id) if epic_link_field_id else None
    if issuetype is not None and (complete or "parent" in fields or epic_link):
        observed["parent"] = _parent(fields, issuetype, epic_link_field_id, issue_id)

    sprint_field = sprint_field_id or find_sprint_field_id(fields)
    if complete or (sprint_field is not None and sprint_field in fields):
        observed["sprint_ids"], _unknown = sprint_ids(
            fields.get(sprint_field) if sprint_field else None, issue_id=issue_id
        )
    return observed


def canonical_sprint(sprint: dict[str, Any]) -> dict[str, Any]:
    """Return the canonical snapshot of an Agile API or webhook sprint."""
    sprint_id = _require(sprint, "id", "sprint")
    board = sprint.get("originBoardId", sprint.get("boardId"))
    snapshot: dict[str, Any] = {
        "id": str(sprint_id),
        "name": str(sprint.get("name") or ""),
        "state": str(sprint.get("state") or "").lower() or None,
        "goal": sprint.get("goal") or None,
        "board_id": str(board) if board is not None else None,
    }
    for name in ("startDate", "endDate", "completeDate"):
        value = sprint.get(name)
        snapshot[name] = canonical_time(value) if value else None
    return snapshot


def canonical_project(project: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(_require(project, "id", "project")),
        "key": project.get("key"),
        "name": project.get("name"),
        "project_type_key": project.get("projectTypeKey"),
    }


def canonical_user(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": str(_require(user, "accountId", "user")),
        "display_name": user.get("displayName"),
        "active": bool(user.get("active", True)),
        "account_type": user.get("accountType"),
    }
