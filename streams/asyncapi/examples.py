"""One example record of every event type, as it appears on its topic.

The examples are published in the AsyncAPI document and checked by the tests
against both the pydantic models and the generated JSON Schemas, so a schema
that drifts from its model fails a test. Ids are made up but well formed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams import ids, topics
from streams.contract import CURRENT_VERSION, EVENT_TYPES

SPACE_ID = "6a3c2f0e-55d1-4c59-9a51-0d0b7f3c1e42"
CLOUD_ID = "35273b54-3f06-40d2-880f-dd28cf8daafa"
ACCOUNT_ID = "5b10ac8d82e05b22cc7d4ef5"
USER_ID = "f0b1d9b4-1a7e-4e8c-8f43-2f3e4b5c6d7e"
ISSUE_ID = "10042"
ISSUE_KEY = "KAN-42"
PROJECT_ID = "10000"
SPRINT_ID = "37"
EDIT_ID = "3d9a6c2e-7b1f-4f0a-b1c4-5e6d7f8a9b0c"
DELIVERY_ID = "c5b2ef5e-7b0e-4f1e-9a3b-8d6f1e2a3b4c"
OBSERVED_AT_MS = 1767259800000
TIME = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)

ISSUE_NODE = ids.node_id(SPACE_ID, CLOUD_ID, "issue", ISSUE_ID)
PROJECT_NODE = ids.node_id(SPACE_ID, CLOUD_ID, "project", PROJECT_ID)
PROJECT_EDGE = ids.edge_id(SPACE_ID, "project", ISSUE_NODE, PROJECT_NODE)

# Event types other Naumu services write and this service reads.
EXTERNAL_TYPES = frozenset({"naumu.edit.requested", "naumu.space.updated", "naumu.schema.updated"})

_NAMESPACE = uuid.UUID("0b6f3e0c-8f0e-4a8b-9d7c-1c2b3a4d5e6f")

_ISSUE: dict[str, Any] = {
    "id": ISSUE_ID,
    "key": ISSUE_KEY,
    "fields": {
        "summary": "Export the board as CSV",
        "description": {
            "type": "doc",
            "version": 1,
            "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Add a CSV export."}]},
            ],
        },
        "issuetype": {"id": "10001", "name": "Story"},
        "project": {"id": PROJECT_ID, "key": "KAN", "name": "Kanban"},
        "status": {"id": "3", "name": "In Progress"},
        "priority": {"id": "3", "name": "Medium"},
        "labels": ["export"],
        "assignee": {"accountId": ACCOUNT_ID, "displayName": "Ada Lovelace"},
        "created": "2025-12-30T10:15:00.000+0000",
        "updated": "2026-01-01T09:29:59.000+0000",
    },
}

_PROJECT: dict[str, Any] = {"id": PROJECT_ID, "key": "KAN", "name": "Kanban"}
_SPRINT: dict[str, Any] = {"id": 37, "state": "active", "name": "KAN Sprint 3", "originBoardId": 1}
_USER: dict[str, Any] = {"accountId": ACCOUNT_ID, "displayName": "Ada Lovelace", "active": True}
_VERSION: dict[str, Any] = {"updated_ms": 1767259799000, "changelog_id": 10231}


@dataclass(frozen=True)
class Example:
    """The ``data`` of one example record and the entity id its record key uses."""

    data: dict[str, Any]
    entity_id: str = ISSUE_ID
    node_id: str = ISSUE_NODE


def _site(origin: str = "import") -> dict[str, Any]:
    return {"space_id": SPACE_ID, "cloud_id": CLOUD_ID, "origin": origin,
            "observed_at_ms": OBSERVED_AT_MS}


EXAMPLES: dict[str, Example] = {
    "jira.webhook.received": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "delivery_id": DELIVERY_ID,
        "webhook_event": "jira:issue_updated", "retry": 0, "received_at_ms": OBSERVED_AT_MS,
        "payload": {"webhookEvent": "jira:issue_updated", "timestamp": 1767259799512,
                    "issue": {"id": ISSUE_ID, "key": ISSUE_KEY}},
    }),
    "jira.issue.observed": Example({
        **_site("refetch"), "issue": _ISSUE,
        "sprint_field_id": "customfield_10020", "epic_link_field_id": None,
    }),
    "jira.issue.gone": Example({
        **_site("reconcile"), "issue_id": ISSUE_ID, "key": ISSUE_KEY,
    }),
    "jira.project.observed": Example({**_site(), "project": _PROJECT}, entity_id=PROJECT_ID),
    "jira.project.access_lost": Example(
        {**_site("reconcile"), "project_id": PROJECT_ID}, entity_id=PROJECT_ID,
    ),
    "jira.sprint.observed": Example({**_site(), "sprint": _SPRINT}, entity_id=SPRINT_ID),
    "jira.user.observed": Example({**_site(), "user": _USER}, entity_id=ACCOUNT_ID),
    "jira.changelog.observed": Example({
        **_site(), "issue_id": ISSUE_ID,
        "histories": [{"id": "10231", "created": "2026-01-01T09:29:59.000+0000",
                       "items": [{"field": "status", "fromString": "To Do",
                                  "toString": "In Progress"}]}],
    }),
    "jira.comments.observed": Example({
        **_site(), "issue_id": ISSUE_ID,
        "comments": [{"id": "10100", "author": {"accountId": ACCOUNT_ID},
                      "created": "2025-12-31T08:00:00.000+0000"}],
    }),
    "jira.connection.changed": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "account_id": ACCOUNT_ID,
        "state": "connected", "observed_at_ms": OBSERVED_AT_MS,
    }, entity_id=ACCOUNT_ID),
    "jira.connection.snapshot": Example({
        "space_id": SPACE_ID, "connection_id": "conn-6a0f", "account_id": ACCOUNT_ID,
        "cloud_id": CLOUD_ID,
        "site_candidates": [{"cloud_id": CLOUD_ID, "name": "your-domain",
                             "url": "https://your-domain.atlassian.net"}],
        "status": "active", "tokens": "gAAAAABexample-ciphertext", "webhook_ids": [10000],
        "webhook_expires_at_ms": OBSERVED_AT_MS + 30 * 86_400_000, "created_by": "user-1",
        "updated_at_ms": OBSERVED_AT_MS, "revision": 3,
    }),
    "jira.import.cursor": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "run_id": "run-1", "phase": "issues",
        "catalogued": True, "project_ids": ["10000"], "project_index": 0,
        "last_issue_id": 10042, "counts": {"issues": 42},
        "started_at_ms": OBSERVED_AT_MS, "updated_at_ms": OBSERVED_AT_MS,
    }),
    "jira.write.pending": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "issue_id": ISSUE_ID, "edit_id": EDIT_ID,
        "fields": {"summary": "Export the board as CSV and JSON"},
        "observed_at_ms": OBSERVED_AT_MS,
    }),
    "jira.issue.changed": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "issue_id": ISSUE_ID, "key": ISSUE_KEY,
        "version": _VERSION, "changed_fields": ["status"], "snapshot": _ISSUE, "echo_of": None,
    }),
    "jira.issue.key_changed": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "issue_id": ISSUE_ID,
        "old_key": "OPS-7", "new_key": ISSUE_KEY, "version": _VERSION,
    }),
    "jira.issue.deleted": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "issue_id": ISSUE_ID, "key": ISSUE_KEY,
        "version": _VERSION,
    }),
    "jira.issue.access_lost": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "issue_id": ISSUE_ID,
        "project_id": PROJECT_ID,
    }),
    "jira.project.changed": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "project_id": PROJECT_ID,
        "snapshot": _PROJECT, "access_lost": False,
    }, entity_id=PROJECT_ID),
    "jira.sprint.changed": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "sprint_id": SPRINT_ID,
        "snapshot": _SPRINT, "deleted": False,
    }, entity_id=SPRINT_ID),
    "jira.member.changed": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "account_id": ACCOUNT_ID, "snapshot": _USER,
    }, entity_id=ACCOUNT_ID),
    "jira.observation.rejected": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID,
        "reason": "issue has no 'fields' object",
        "source_topic": topics.INBOUND.name, "source_partition": 3, "source_offset": 1842,
        "raw": '{"specversion":"1.0","type":"jira.issue.observed"}',
    }),
    "jira.issue.refetch_requested": Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "issue_id": ISSUE_ID,
        "reason": "description changed", "min_updated_ms": 1767259799000,
    }),
    "naumu.schema.values_seen": Example({
        "space_id": SPACE_ID, "types": ["Story"],
        "options": {"Status": ["In Progress"], "Labels": ["export"]},
    }),
    "naumu.node.upserted": Example({
        "space_id": SPACE_ID, "node_id": ISSUE_NODE, "node_type": "Story",
        "label": "Export the board as CSV",
        "content_markdown": "Add a CSV export.",
        "content_adf": _ISSUE["fields"]["description"],
        "attributes": {"JiraKey": ISSUE_KEY, "Status": "In Progress", "Priority": "Medium",
                       "Labels": ["export"]},
        "aliases": [], "created": "2025-12-30T10:15:00.000Z",
        "updated": "2026-01-01T09:29:59.000Z",
        "source": {"cloud_id": CLOUD_ID, "issue_id": ISSUE_ID}, "access_lost": False,
    }),
    "naumu.node.deleted": Example({
        "space_id": SPACE_ID, "node_id": ISSUE_NODE, "reason": "deleted",
    }),
    "naumu.edge.upserted": Example({
        "space_id": SPACE_ID, "edge_id": PROJECT_EDGE, "edge_type": "project",
        "from_node": ISSUE_NODE, "to_node": PROJECT_NODE,
    }),
    "naumu.edge.deleted": Example({
        "space_id": SPACE_ID, "edge_id": PROJECT_EDGE, "edge_type": "project",
        "from_node": ISSUE_NODE, "to_node": PROJECT_NODE,
    }),
    "naumu.schema.type_added": Example({
        "space_id": SPACE_ID, "type_name": "Story", "reused_existing": False,
        "attributes": {"JiraKey": "text", "Status": "select", "Priority": "select",
                       "Labels": "multi_select"},
    }),
    "naumu.schema.option_added": Example({
        "space_id": SPACE_ID, "type_name": "Story", "attribute": "Labels", "option": "export",
    }),
    "naumu.edit.requested": Example({
        "edit_id": EDIT_ID, "space_id": SPACE_ID, "node_id": ISSUE_NODE, "user_id": USER_ID,
        "field": "Status", "value": "Done", "base": "In Progress",
    }),
    "jira.writeback.result": Example({
        "edit_id": EDIT_ID, "space_id": SPACE_ID, "node_id": ISSUE_NODE, "field": "Status",
        "outcome": "conflict", "reason": "Jira changed Status after the edit's base value",
        "jira_value": "In Review", "edit_value": "Done", "attempt": 1,
    }),
    "naumu.thread.message_posted": Example({
        "space_id": SPACE_ID, "kind": "progress", "text": "Imported 120 of 480 issues",
        "counts": {"issues_done": 120, "issues_total": 480}, "details": {},
    }),
    "naumu.space.updated": Example({
        "space_id": SPACE_ID, "members": {USER_ID: "owner"},
    }),
    "naumu.schema.updated": Example({
        "space_id": SPACE_ID,
        "types": [{"name": "Story", "attributes": [
            {"name": "Status", "kind": "select", "options": ["To Do", "In Progress", "Done"]},
        ]}],
    }),
}

# Records written before the current schema version, still present on kept topics.
OLDER_EXAMPLES: dict[tuple[str, int], Example] = {
    ("jira.webhook.received", 1): Example({
        "space_id": SPACE_ID, "cloud_id": CLOUD_ID, "delivery_id": DELIVERY_ID,
        "webhook_event": "jira:issue_updated", "received_at": "2026-01-01T09:30:00+00:00",
        "payload": {"webhookEvent": "jira:issue_updated", "issue": {"id": ISSUE_ID}},
    }),
}


def record_key(topic: str, example: Example) -> str:
    """Return the record key of ``example`` on ``topic``, filled from the topic's key template."""
    template = topics.BY_NAME[topic].key
    values = {
        "cloud_id": example.data.get("cloud_id", CLOUD_ID),
        "space_id": example.data.get("space_id", SPACE_ID),
        "entity_id": example.entity_id,
        "issue_id": example.data.get("issue_id", ISSUE_ID),
        "node_id": example.data.get("node_id", example.node_id),
        "edit_id": example.data.get("edit_id", EDIT_ID),
        "delivery_id": example.data.get("delivery_id", DELIVERY_ID),
    }
    return template.format(**values)


def envelope(event_type: str, version: int, topic: str, example: Example) -> dict[str, Any]:
    """Return the example as the CloudEvents JSON object written to ``topic``.

    Current versions go through their model, so the example shows every field the
    service writes, defaults included, in the model's order.
    """
    data = example.data
    if version == CURRENT_VERSION[event_type]:
        data = EVENT_TYPES[event_type].model_validate(data).model_dump(mode="json")

    producer = "naumu" if event_type in EXTERNAL_TYPES else "naumu-jira-sync"
    return {
        "id": str(uuid.uuid5(_NAMESPACE, f"{event_type}/v{version}/{topic}")),
        "source": f"/{producer}",
        "type": event_type,
        "subject": record_key(topic, example),
        "time": TIME.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "schemaversion": version,
        "datacontenttype": "application/json",
        "specversion": "1.0",
        "data": data,
    }
