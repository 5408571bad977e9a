"""The field mapping: a Jira entity's canonical snapshot as a graph node and its edges.

| Jira | graph |
|---|---|
| summary | node label |
| description (ADF) | ``content_markdown`` and the original ``content_adf`` |
| key | ``JiraKey`` attribute (old keys of a moved issue in ``aliases``) |
| priority, status (by name) | ``Priority`` and ``Status`` select attributes |
| labels | ``Labels`` multi-select attribute |
| created, updated | the node's timestamps |
| issue type name | node type |
| project, sprint, assignee, parent | edges `in_project`, `in_sprint`, `assigned_to`, |
| | `subtask_of` (sub-task parent) or `in_epic` (epic parent) |

Projects, sprints and members are nodes of the types ``Project``, ``Sprint`` and
``Member``. Node ids come from :func:`streams.ids.node_id`, so they never depend on a key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from projections.adf import adf_to_markdown
from streams import ids

# Ids are uuid5 hashes of their inputs; the same few thousand recur on every event.
node_id = lru_cache(maxsize=65536)(ids.node_id)
edge_id = lru_cache(maxsize=65536)(ids.edge_id)

Edge = tuple[str, str, str]  # (edge type, from node, to node)


def issue_node_id(space_id: str, cloud_id: str, issue_id: str) -> str:
    return node_id(space_id, cloud_id, "issue", issue_id)


def issue_node(
    space_id: str, cloud_id: str, snapshot: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Return the node of an issue snapshot; ``previous`` supplies content a v2 body lacks."""
    if snapshot.get("description_known"):
        content_adf = snapshot.get("description_adf")
        if previous is not None and previous.get("content_adf") == content_adf:
            content_markdown = previous.get("content_markdown")
        else:
            content_markdown = adf_to_markdown(content_adf) if content_adf else None
    elif previous is not None:
        content_adf = previous.get("content_adf")
        content_markdown = previous.get("content_markdown")
    else:
        content_adf = None
        content_markdown = None

    priority = snapshot.get("priority")
    return {
        "space_id": space_id,
        "node_id": issue_node_id(space_id, cloud_id, snapshot["id"]),
        "node_type": snapshot["issuetype"]["name"],
        "label": snapshot["summary"],
        "content_markdown": content_markdown,
        "content_adf": content_adf,
        "attributes": {
            "JiraKey": snapshot["key"],
            "Status": snapshot["status"]["name"],
            "Priority": priority.get("name") if priority else None,
            "Labels": list(snapshot["labels"]),
        },
        "aliases": list(snapshot.get("aliases") or ()),
        "created": snapshot["created"],
        "updated": snapshot["updated"],
        "source": {
            "system": "jira",
            "cloud_id": cloud_id,
            "kind": "issue",
            "jira_id": snapshot["id"],
            "key": snapshot["key"],
        },
        "access_lost": False,
    }


def issue_edges(space_id: str, cloud_id: str, snapshot: dict[str, Any]) -> dict[str, Edge]:
    """Return the edges of an issue keyed by edge id."""
    source = issue_node_id(space_id, cloud_id, snapshot["id"])
    targets: list[tuple[str, str]] = [
        ("in_project", node_id(space_id, cloud_id, "project", snapshot["project_id"])),
    ]
    targets.extend(
        ("in_sprint", node_id(space_id, cloud_id, "sprint", sprint_id))
        for sprint_id in snapshot["sprint_ids"]
    )
    if snapshot.get("assignee"):
        targets.append(("assigned_to", node_id(space_id, cloud_id, "member", snapshot["assignee"])))
    parent = snapshot.get("parent")
    if parent is not None and parent.get("id"):
        edge_type = "subtask_of" if parent["kind"] == "subtask" else "in_epic"
        targets.append((edge_type, issue_node_id(space_id, cloud_id, parent["id"])))
    return {
        edge_id(space_id, edge_type, source, target): (edge_type, source, target)
        for edge_type, target in targets
    }


def _entity_node(
    space_id: str,
    cloud_id: str,
    kind: str,
    node_type: str,
    jira_id: str,
    label: str,
    attributes: dict[str, Any],
    created: str,
    updated: str,
    access_lost: bool = False,
) -> dict[str, Any]:
    return {
        "space_id": space_id,
        "node_id": node_id(space_id, cloud_id, kind, jira_id),
        "node_type": node_type,
        "label": label,
        "content_markdown": None,
        "content_adf": None,
        "attributes": attributes,
        "aliases": [],
        "created": created,
        "updated": updated,
        "source": {"system": "jira", "cloud_id": cloud_id, "kind": kind, "jira_id": jira_id},
        "access_lost": access_lost,
    }


def project_node(
    space_id: str,
    cloud_id: str,
    snapshot: dict[str, Any],
    access_lost: bool,
    created: str,
    updated: str,
) -> dict[str, Any]:
    return _entity_node(
        space_id,
        cloud_id,
        "project",
        "Project",
        snapshot["id"],
        str(snapshot.get("name") or snapshot.get("key") or snapshot["id"]),
        {"JiraKey": snapshot.get("key")},
        created,
        updated,
        access_lost,
    )


def sprint_node(
    space_id: str, cloud_id: str, snapshot: dict[str, Any], created: str, updated: str
) -> dict[str, Any]:
    attributes = {
        "State": snapshot.get("state"),
        "Goal": snapshot.get("goal"),
        "StartDate": snapshot.get("startDate"),
        "EndDate": snapshot.get("endDate"),
    }
    return _entity_node(
        space_id,
        cloud_id,
        "sprint",
        "Sprint",
        snapshot["id"],
        snapshot.get("name") or snapshot["id"],
        attributes,
        snapshot.get("startDate") or created,
        updated,
    )


def member_node(
    space_id: str, cloud_id: str, snapshot: dict[str, Any], created: str, updated: str
) -> dict[str, Any]:
    attributes = {"AccountId": snapshot["account_id"], "Active": snapshot.get("active", True)}
    return _entity_node(
        space_id,
        cloud_id,
        "member",
        "Member",
        snapshot["account_id"],
        snapshot.get("display_name") or snapshot["account_id"],
        attributes,
        created,
        updated,
    )
