"""The demo's write-back phase: one Naumu edit of every editable field, end to end.

For one imported story the demo publishes an edit per field to ``naumu.edits``,
waits for its outcome on ``jira.writeback.results``, and checks three things:
the sandbox issue holds the new value, the graph node holds it once the echo
webhook came back, and Jira received exactly one write per edit. A last check
waits a few seconds and confirms that nothing further was written to Jira and
the graph did not change again (echoes are absorbed, not bounced back).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from streams import codec
from streams.contract import EditRequested
from streams.ids import node_id
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings

if TYPE_CHECKING:
    from service.demo import Demo

SPACE_ID = "space-demo"


def _edge(node: dict[str, Any], edge_type: str) -> str | None:
    for edge in node.get("edges", []):
        if edge["edge_type"] == edge_type:
            return str(edge["to_node"])
    return None


def _pick_story(truth: list[dict[str, Any]]) -> dict[str, Any]:
    for entry in truth:
        if entry["issuetype"] == "Story" and entry["parent_kind"] == "epic" \
                and entry["sprint_ids"] and entry["assignee"]:
            return entry
    raise RuntimeError("the generated site has no story with an epic, a sprint and an assignee")


async def round_trips(demo: Demo, http: httpx.AsyncClient, cloud_id: str) -> dict[str, Any]:
    """Edit every field of one story from Naumu and check Jira and the graph."""
    truth = await demo.truth(http, cloud_id)
    entry = _pick_story(truth)
    target = node_id(SPACE_ID, cloud_id, "issue", entry["id"])
    nodes = await demo.graph_nodes(http)
    by_id = {node["node_id"]: node for node in nodes}
    node = by_id[target]
    project_node = _edge(node, "in_project")

    members = [n for n in nodes if n["node_type"] == "Member"
               and n["attributes"].get("Active", True)
               and n["node_id"] != _edge(node, "assigned_to")
               and n["attributes"].get("AccountId") in {e["assignee"] for e in truth}]
    epics = [n for n in nodes if n["node_type"] == "Epic" and n["node_id"] != _edge(node, "in_epic")
             and _edge(n, "in_project") == project_node]
    current_sprints = {edge["to_node"] for edge in node["edges"]
                       if edge["edge_type"] == "in_sprint"}
    open_sprints = [n for n in nodes if n["node_type"] == "Sprint"
                    and n["attributes"].get("State") in ("active", "future")]
    base_sprint = next((n["node_id"] for n in open_sprints if n["node_id"] in current_sprints),
                       None)
    other_sprints = [n for n in open_sprints if n["node_id"] not in current_sprints]

    attributes = node["attributes"]
    status = "In Progress" if attributes["Status"] != "In Progress" else "To Do"
    priority = "Highest" if attributes["Priority"] != "Highest" else "Low"
    content = (node.get("content_markdown") or "").rstrip() + \
        "\n\nEdited in Naumu: the rest of this description is unchanged."
    plan: list[tuple[str, Any, Any, Callable[[dict[str, Any]], bool]]] = [
        ("label", f"{node['label'][:80]} (edited in Naumu)", node["label"],
         lambda j: j["summary"].endswith("(edited in Naumu)")),
        ("content", content, node.get("content_markdown"), lambda j: True),
        ("Priority", priority, attributes["Priority"], lambda j: j["priority"] == priority),
        ("Labels", sorted({*attributes["Labels"], "naumu-edit"}), attributes["Labels"],
         lambda j: "naumu-edit" in j["labels"]),
        ("Status", status, attributes["Status"], lambda j: j["status"] == status),
    ]
    if members:
        member = members[0]
        plan.append(("assignee", member["node_id"], _edge(node, "assigned_to"),
                     lambda j: j["assignee"] == member["attributes"]["AccountId"]))
    if epics:
        epic = epics[0]
        plan.append(("parent", epic["node_id"], _edge(node, "in_epic"),
                     lambda j: j["parent"] == epic["source"]["jira_id"]))
    if other_sprints:
        sprint = other_sprints[0]
        plan.append(("sprint", sprint["node_id"], base_sprint,
                     lambda j: int(sprint["source"]["jira_id"]) in j["sprint_ids"]))

    demo.say(f"Write-back: editing {len(plan)} fields of {entry['key']} in Naumu")
    settings = StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": demo.bootstrap})
    fields: dict[str, Any] = {}
    edit_ids: dict[str, str] = {}
    async with Producer(settings) as producer:
        for field, value, base, jira_check in plan:
            edit = EditRequested(edit_id=str(uuid.uuid4()), space_id=SPACE_ID, node_id=target,
                                 user_id="user-demo-admin", field=field, value=value,
                                 base=base)
            edit_ids[edit.edit_id] = field
            key = f"{SPACE_ID}:{target}"
            await producer.send(demo.names.edits, key,
                                codec.make(edit, source="/demo", subject=key))
            result = await demo.wait_result(edit.edit_id)
            after = {e["id"]: e for e in await demo.truth(http, cloud_id)}[entry["id"]]
            graph_ok = await _wait_graph(demo, http, target, field, value) \
                if result.outcome == "applied" else None
            fields[field] = {"outcome": result.outcome, "reason": result.reason,
                             "jira_matches": jira_check(after) if result.outcome == "applied"
                             else None,
                             "graph_matches": graph_ok}
            demo.say(f"  {field}: {result.outcome}"
                     + (f" ({result.reason})" if result.reason else ""))

    quiet = await _quiet_after(demo, http, cloud_id, edit_ids)
    return {"fields": fields, **quiet}


async def _wait_graph(demo: Demo, http: httpx.AsyncClient, target: str, field: str,
                      value: Any, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        node = await demo.node(http, target)
        if node is not None and _holds(node, field, value):
            return True
        await asyncio.sleep(0.05)
    return False


def _holds(node: dict[str, Any], field: str, value: Any) -> bool:
    attributes = node.get("attributes", {})
    if field == "label":
        return bool(node.get("label") == value)
    if field == "content":
        return (node.get("content_markdown") or "").strip() == str(value).strip()
    if field in ("Status", "Priority"):
        return bool(attributes.get(field) == value)
    if field == "Labels":
        return sorted(attributes.get("Labels") or []) == sorted(value)
    edge_type = {"assignee": "assigned_to", "parent": "in_epic", "sprint": "in_sprint"}[field]
    return any(edge["edge_type"] == edge_type and edge["to_node"] == value
               for edge in node.get("edges", []))


async def _quiet_after(demo: Demo, http: httpx.AsyncClient, cloud_id: str,
                       edit_ids: dict[str, str]) -> dict[str, Any]:
    """Check one write per edit, and that nothing moves once the echoes came back."""
    summary_url = f"{demo.read_api}/spaces/{SPACE_ID}/graph/summary"
    log_url = f"{demo.sandbox}/_sandbox/sites/{cloud_id}/write-log"
    await asyncio.sleep(2)
    before_hash = (await http.get(summary_url)).json()["graph_hash"]
    before_writes = len((await http.get(log_url)).json())
    await asyncio.sleep(3)
    after_hash = (await http.get(summary_url)).json()["graph_hash"]
    write_log = (await http.get(log_url)).json()

    per_edit = Counter(entry.get("edit_id") for entry in write_log
                       if entry.get("edit_id") in edit_ids and entry.get("status", 200) < 400)
    return {
        "writes_per_edit": {edit_ids[edit_id]: count for edit_id, count in per_edit.items()},
        "writes_after_settling": len(write_log) - before_writes,
        "graph_changed_after_settling": before_hash != after_hash,
    }
