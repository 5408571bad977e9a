from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from projections.graph import project
from projections.readmodel import graph_hash, read_api_routes
from streams.contract import EventData, IssueChanged, IssueDeleted, IssueVersion, ProjectChanged

SPACE = "space-1"
CLOUD = "cloud-1"


def _snapshot(issue_id: str, **changes: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "id": issue_id,
        "key": f"KAN-{issue_id}",
        "project_id": "10000",
        "project_key": "KAN",
        "issuetype": {"id": "1", "name": "Story", "hierarchy_level": 0, "subtask": False},
        "summary": f"Issue {issue_id}",
        "description_adf": None,
        "description_known": True,
        "status": {"id": "1", "name": "To Do", "category_key": "new"},
        "priority": {"id": "3", "name": "Medium"},
        "labels": [],
        "assignee": None,
        "parent": None,
        "sprint_ids": [],
        "created": "2026-01-01T00:00:00.000Z",
        "updated": "2026-01-02T00:00:00.000Z",
        "aliases": [],
    }
    snapshot.update(changes)
    return snapshot


def _changed(snapshot: dict[str, Any]) -> IssueChanged:
    return IssueChanged(
        space_id=SPACE,
        cloud_id=CLOUD,
        issue_id=snapshot["id"],
        key=snapshot["key"],
        version=IssueVersion(updated_ms=1),
        changed_fields=["summary"],
        snapshot=snapshot,
    )


class MemoryStore:
    """Projection states by record key, looked up by node id like the worker's table."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, EventData]] = []

    def apply(self, key: str, event: EventData) -> None:
        self.log.append((key, event))
        result = project(self.states.get(key), event, event_time="2026-01-03T00:00:00.000Z")
        self.states[key] = result.state
        if result.node_id is None:
            return
        if result.node is None:
            self.records.pop(result.node_id, None)
        else:
            self.records[result.node_id] = result.node

    def get(self, node_id: str) -> dict[str, Any] | None:
        for state in self.states.values():
            node = state.get("node")
            if node is not None and node["node_id"] == node_id:
                return state
        return None

    def nodes(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.records.values()))


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.apply(
        "project",
        ProjectChanged(
            space_id=SPACE,
            cloud_id=CLOUD,
            project_id="10000",
            snapshot={"id": "10000", "key": "KAN", "name": "Kanban"},
        ),
    )
    store.apply(
        "epic",
        _changed(
            _snapshot(
                "1", issuetype={"id": "2", "name": "Epic", "hierarchy_level": 1, "subtask": False}
            )
        ),
    )
    store.apply(
        "story-2", _changed(_snapshot("2", parent={"id": "1", "key": "KAN-1", "kind": "epic"}))
    )
    store.apply("story-3", _changed(_snapshot("3", labels=["ui"])))
    store.apply(
        "other",
        IssueChanged(
            space_id="space-2",
            cloud_id=CLOUD,
            issue_id="9",
            key="KAN-9",
            version=IssueVersion(updated_ms=1),
            changed_fields=[],
            snapshot=_snapshot("9"),
        ),
    )
    return store


def _client(store: MemoryStore) -> httpx.AsyncClient:
    app = Starlette(routes=read_api_routes(store))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _node_id(store: MemoryStore, key: str) -> str:
    node_id: str = store.states[key]["node"]["node_id"]
    return node_id


# --- graph_hash ---------------------------------------------------------------------------


def test_hash_ignores_node_order(store: MemoryStore) -> None:
    nodes = list(store.nodes())
    shuffled = nodes[:]
    random.Random(4).shuffle(shuffled)

    assert graph_hash(nodes) == graph_hash(shuffled)


def test_hash_ignores_edge_order(store: MemoryStore) -> None:
    nodes = list(store.nodes())
    reversed_edges = [{**node, "edges": node["edges"][::-1]} for node in nodes]

    assert graph_hash(nodes) == graph_hash(reversed_edges)


def test_hash_accepts_state_edges(store: MemoryStore) -> None:
    from_states = [
        {**state["node"], "edges": state["edges"]}
        for state in store.states.values()
        if state["node"] is not None
    ]

    assert graph_hash(from_states) == graph_hash(store.nodes())


def test_hash_changes_with_label(store: MemoryStore) -> None:
    before = graph_hash(store.nodes())
    store.apply("story-3", _changed(_snapshot("3", labels=["ui"], summary="Renamed")))

    assert graph_hash(store.nodes()) != before


def test_hash_changes_with_edge(store: MemoryStore) -> None:
    before = graph_hash(store.nodes())
    store.apply("story-3", _changed(_snapshot("3", labels=["ui"], assignee="acc-1")))

    assert graph_hash(store.nodes()) != before


def test_hash_of_empty_graph_is_stable() -> None:
    assert graph_hash([]) == graph_hash(iter([]))


def test_hash_same_after_replay(store: MemoryStore) -> None:
    rebuilt = MemoryStore()
    for key, event in store.log:
        rebuilt.apply(key, event)

    assert graph_hash(rebuilt.nodes()) == graph_hash(store.nodes())


# --- read API -----------------------------------------------------------------------------


async def test_get_node_found(store: MemoryStore) -> None:
    node_id = _node_id(store, "story-2")
    async with _client(store) as client:
        response = await client.get(f"/spaces/{SPACE}/nodes/{node_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["attributes"]["JiraKey"] == "KAN-2"
    assert {edge["edge_type"] for edge in body["edges"]} == {"in_project", "in_epic"}


async def test_get_node_unknown_404(store: MemoryStore) -> None:
    async with _client(store) as client:
        response = await client.get(f"/spaces/{SPACE}/nodes/missing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "node_not_found"
    assert "'missing'" in response.json()["error"]["message"]


async def test_get_node_other_space_404(store: MemoryStore) -> None:
    node_id = _node_id(store, "other")
    async with _client(store) as client:
        response = await client.get(f"/spaces/{SPACE}/nodes/{node_id}")

    assert response.status_code == 404


async def test_get_node_deleted_404(store: MemoryStore) -> None:
    node_id = _node_id(store, "story-3")
    store.apply(
        "story-3",
        IssueDeleted(
            space_id=SPACE,
            cloud_id=CLOUD,
            issue_id="3",
            key="KAN-3",
            version=IssueVersion(updated_ms=2),
        ),
    )
    async with _client(store) as client:
        response = await client.get(f"/spaces/{SPACE}/nodes/{node_id}")

    assert response.status_code == 404


async def test_list_filters_type(store: MemoryStore) -> None:
    async with _client(store) as client:
        response = await client.get(f"/spaces/{SPACE}/nodes", params={"type": "Story"})

    keys = [node["attributes"]["JiraKey"] for node in response.json()["nodes"]]
    assert sorted(keys) == ["KAN-2", "KAN-3"]
    assert response.json()["next_cursor"] is None


async def test_list_pages_by_cursor(store: MemoryStore) -> None:
    seen: list[str] = []
    cursor: str | None = None
    async with _client(store) as client:
        for _ in range(10):
            params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
            body = (await client.get(f"/spaces/{SPACE}/nodes", params=params)).json()
            seen.extend(node["node_id"] for node in body["nodes"])
            cursor = body["next_cursor"]
            if cursor is None:
                break

    assert seen == sorted(seen)
    assert len(seen) == 4


@pytest.mark.parametrize("limit", ["0", "abc", "1001"])
async def test_list_invalid_limit_400(store: MemoryStore, limit: str) -> None:
    async with _client(store) as client:
        response = await client.get(f"/spaces/{SPACE}/nodes", params={"limit": limit})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_limit"
    assert repr(limit) in response.json()["error"]["message"]


async def test_edges_outgoing_and_incoming(store: MemoryStore) -> None:
    epic_id = _node_id(store, "epic")
    story_id = _node_id(store, "story-2")
    async with _client(store) as client:
        body = (await client.get(f"/spaces/{SPACE}/nodes/{epic_id}/edges")).json()

    assert [edge["edge_type"] for edge in body["outgoing"]] == ["in_project"]
    assert [(edge["edge_type"], edge["from_node"]) for edge in body["incoming"]] == [
        ("in_epic", story_id)
    ]


async def test_edges_unknown_404(store: MemoryStore) -> None:
    async with _client(store) as client:
        response = await client.get(f"/spaces/{SPACE}/nodes/missing/edges")

    assert response.status_code == 404


async def test_summary_counts(store: MemoryStore) -> None:
    async with _client(store) as client:
        body = (await client.get(f"/spaces/{SPACE}/graph/summary")).json()

    assert body["nodes_by_type"] == {"Epic": 1, "Project": 1, "Story": 2}
    assert body["edges_by_type"] == {"in_epic": 1, "in_project": 3}
    assert body["node_count"] == 4
    assert body["edge_count"] == 4


async def test_summary_hash(store: MemoryStore) -> None:
    expected = graph_hash(node for node in store.nodes() if node["space_id"] == SPACE)
    async with _client(store) as client:
        body = (await client.get(f"/spaces/{SPACE}/graph/summary")).json()

    assert body["graph_hash"] == expected
