from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.errors import FoldError
from projections.fold import FoldContext, fold
from projections.graph import project
from streams.codec import make
from streams.contract import (
    EdgeDeleted,
    EdgeUpserted,
    EventData,
    IssueAccessLost,
    IssueChanged,
    IssueDeleted,
    IssueGone,
    IssueKeyChanged,
    IssueObserved,
    NodeDeleted,
    NodeUpserted,
    ProjectAccessLost,
    ProjectChanged,
    WebhookReceived,
    WritePending,
)
from streams.envelope import Envelope
from streams.ids import node_id

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples"
SPACE = "space-1"
CLOUD = "cloud-1"
APP = "app-account"


def _sample(relative: str) -> dict[str, Any]:
    path = SAMPLES / relative
    if not path.is_file():
        pytest.skip(f"sample {relative} is not checked out next to the repository")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _webhook(payload: dict[str, Any], delivery: str = "d-1") -> Envelope:
    data = WebhookReceived(
        space_id=SPACE,
        cloud_id=CLOUD,
        delivery_id=delivery,
        webhook_event=payload["webhookEvent"],
        received_at_ms=1,
        payload=payload,
    )
    return make(data, source="test", subject=f"{CLOUD}:x")


def _observed(issue: dict[str, Any], origin: str = "refetch") -> Envelope:
    data = IssueObserved(
        space_id=SPACE,
        cloud_id=CLOUD,
        origin=origin,
        issue=issue,  # type: ignore[arg-type]
        observed_at_ms=1,
    )
    return make(data, source="test", subject=f"{CLOUD}:{issue['id']}")


def _gone(issue_id: str, at_ms: int) -> Envelope:
    data = IssueGone(
        space_id=SPACE, cloud_id=CLOUD, origin="reconcile", issue_id=issue_id, observed_at_ms=at_ms
    )
    return make(data, source="test", subject=f"{CLOUD}:{issue_id}")


def _issue(
    issue_id: str = "100",
    *,
    updated: str = "2024-03-10T09:15:02.123+0900",
    status: str = "To Do",
    labels: list[str] | None = None,
    summary: str = "Title",
    key: str = "KAN-1",
    description: Any = None,
) -> dict[str, Any]:
    return {
        "id": issue_id,
        "key": key,
        "fields": {
            "project": {"id": "10000", "key": key.split("-")[0]},
            "issuetype": {"id": "1", "name": "Task", "subtask": False, "hierarchyLevel": 0},
            "summary": summary,
            "description": description,
            "status": {"id": status, "name": status, "statusCategory": {"key": "new"}},
            "priority": {"id": "3", "name": "Medium"},
            "labels": labels or [],
            "assignee": None,
            "created": "2024-03-01T00:00:00.000+0000",
            "updated": updated,
        },
    }


class Graph:
    """Applies graph changes the way a Naumu consumer would."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[str, dict[str, Any]] = {}
        self.fold_states: dict[str, Any] = {}
        self.projection_states: dict[str, Any] = {}

    def feed(
        self, envelope: Envelope, key: str, context: FoldContext | None = None
    ) -> list[EventData]:
        result = fold(
            self.fold_states.get(key), envelope, context or FoldContext(app_account_id=APP)
        )
        self.fold_states[key] = result.state
        for event in result.events:
            projected = project(self.projection_states.get(key), event)
            self.projection_states[key] = projected.state
            for change in projected.changes:
                self.apply(change)
        return result.events

    def apply(self, change: EventData) -> None:
        dumped = change.model_dump(mode="json")
        if isinstance(change, NodeUpserted):
            self.nodes[change.node_id] = dumped
        elif isinstance(change, NodeDeleted):
            self.nodes.pop(change.node_id, None)
        elif isinstance(change, EdgeUpserted):
            self.edges[change.edge_id] = dumped
        elif isinstance(change, EdgeDeleted):
            self.edges.pop(change.edge_id, None)

    def node(self, issue_id: str) -> dict[str, Any]:
        return self.nodes[node_id(SPACE, CLOUD, "issue", issue_id)]

    def edge_types(self) -> list[str]:
        return sorted(edge["edge_type"] for edge in self.edges.values())


# --- samples ----------------------------------------------------------------------------

# label, JiraKey, Status, Priority, Labels, edge types
WEBHOOK_EXPECTED = {
    "jira_issue_created.cloud-2024.json": (
        "Add back button to pages",
        "KAN-22",
        "To Do",
        "Medium",
        [],
        ["assigned_to", "in_project"],
    ),
    "jira_issue_created.null-description.cloud-2024.json": (
        None,
        "GBL-108",
        None,
        "Medium",
        [],
        None,
    ),
    "jira_issue_updated.assigned.epic-parent.cyrillic.cloud-2019.json": (
        "Тестовая задача",
        "INDEV-242",
        "To Do",
        "Medium",
        [],
        ["assigned_to", "in_epic", "in_project"],
    ),
    "jira_issue_updated.assigned.legacy-sprint-string.cloud-2020.json": (
        "something's wrong again!",
        "TES-12",
        "To Do",
        "Medium",
        [],
        ["assigned_to", "in_project", "in_sprint", "in_sprint"],
    ),
    "jira_issue_updated.description-ari-changelog.cloud-2020.json": (
        "Issue description not formatting correctly",
        "PROD-1142",
        "In Progress",
        "High",
        [],
        ["assigned_to", "in_project"],
    ),
    "jira_issue_updated.description-edited.cloud-2024.json": (
        "Add back button to pages",
        "KAN-22",
        "To Do",
        "Medium",
        [],
        ["assigned_to", "in_project"],
    ),
    "jira_issue_updated.issuetype-changed.cloud-2020.json": (
        "Panic happen!",
        "TES-20",
        "To Do",
        "Medium",
        [],
        ["in_project"],
    ),
    "jira_issue_updated.labels-added.cloud-2020.json": (
        "something's wrong again!",
        "TES-12",
        "To Do",
        "Medium",
        ["signal"],
        ["assigned_to", "in_project", "in_sprint", "in_sprint"],
    ),
    "jira_issue_updated.moved-key-changed.cloud-2020.json": (
        "Test issue",
        "GOLD-208",
        "Work Required",
        "Not Prioritized",
        [],
        ["assigned_to", "in_project"],
    ),
    "jira_issue_updated.sprint-changed.cloud-2020.json": (
        "Test issue",
        "GOLD-208",
        "Work Required",
        "Not Prioritized",
        [],
        ["assigned_to", "in_project", "in_sprint"],
    ),
    "jira_issue_updated.story-with-subtasks.cloud-2020.json": (
        "Developer Signup",
        "GOLD-137",
        "Work Required",
        "Not Prioritized",
        [],
        ["in_project"],
    ),
    "jira_issue_updated.transition-with-resolution.cloud-2020.json": (
        "Panic happen!",
        "TES-19",
        "Closed",
        "Medium",
        [],
        ["in_project"],
    ),
}


@pytest.mark.parametrize("name", sorted(WEBHOOK_EXPECTED))
def test_webhook_sample_maps(name: str) -> None:
    payload = _sample(f"webhooks/{name}")
    label, key, status, priority, labels, edge_types = WEBHOOK_EXPECTED[name]
    fields = payload["issue"]["fields"]
    graph = Graph()

    graph.feed(_webhook(payload), "k")
    node = graph.node(payload["issue"]["id"])

    assert node["label"] == (label if label is not None else fields["summary"])
    assert node["attributes"]["JiraKey"] == key
    assert node["attributes"]["Status"] == (
        status if status is not None else fields["status"]["name"]
    )
    assert node["attributes"]["Priority"] == priority
    assert node["attributes"]["Labels"] == labels
    assert node["node_type"] == fields["issuetype"]["name"]
    if edge_types is not None:
        assert graph.edge_types() == edge_types


def test_webhook_sample_sprint_ids() -> None:
    payload = _sample("webhooks/jira_issue_updated.assigned.legacy-sprint-string.cloud-2020.json")
    graph = Graph()

    graph.feed(_webhook(payload), "k")

    sprint_targets = sorted(
        edge["to_node"] for edge in graph.edges.values() if edge["edge_type"] == "in_sprint"
    )
    expected = sorted(node_id(SPACE, CLOUD, "sprint", sprint) for sprint in ("196", "197"))
    assert sprint_targets == expected


def test_webhook_sample_epic_parent() -> None:
    payload = _sample("webhooks/jira_issue_updated.assigned.epic-parent.cyrillic.cloud-2019.json")
    graph = Graph()

    graph.feed(_webhook(payload), "k")

    epic = [edge for edge in graph.edges.values() if edge["edge_type"] == "in_epic"]
    assert epic[0]["to_node"] == node_id(
        SPACE, CLOUD, "issue", payload["issue"]["fields"]["parent"]["id"]
    )


def test_webhook_created_requests_refetch() -> None:
    payload = _sample("webhooks/jira_issue_created.cloud-2024.json")

    result = fold(None, _webhook(payload))

    assert [request.reason for request in result.refetch] == ["created"]
    assert result.refetch[0].issue_id == payload["issue"]["id"]


def test_webhook_description_refetch() -> None:
    payload = _sample("webhooks/jira_issue_updated.description-ari-changelog.cloud-2020.json")

    result = fold(None, _webhook(payload))

    assert [request.reason for request in result.refetch] == ["description_changed"]


def test_webhook_moved_keeps_alias() -> None:
    payload = _sample("webhooks/jira_issue_updated.moved-key-changed.cloud-2020.json")
    old_key = next(
        item["fromString"] for item in payload["changelog"]["items"] if item["field"] == "Key"
    )
    before = copy.deepcopy(payload)
    before["issue"]["key"] = old_key
    before["issue"]["fields"]["updated"] = "2020-08-03T19:00:00.000-0700"
    graph = Graph()

    graph.feed(_webhook(before, "d-0"), "k")
    events = graph.feed(_webhook(payload, "d-1"), "k")
    node = graph.node(payload["issue"]["id"])

    assert any(isinstance(event, IssueKeyChanged) for event in events)
    assert node["attributes"]["JiraKey"] == payload["issue"]["key"]
    assert node["aliases"] == [old_key]
    assert len(graph.nodes) == 1


def test_webhook_delete_sample() -> None:
    created = _sample("webhooks/jira_issue_updated.transition-with-resolution.cloud-2020.json")
    deleted = _sample("webhooks/jira_issue_deleted.cloud-2020.json")
    deleted = copy.deepcopy(deleted)
    deleted["issue"]["id"] = created["issue"]["id"]
    deleted["issue"]["fields"]["updated"] = created["issue"]["fields"]["updated"]
    graph = Graph()

    graph.feed(_webhook(created, "d-0"), "k")
    graph.feed(_webhook(deleted, "d-1"), "k")

    assert graph.nodes == {}
    assert graph.edges == {}


@pytest.mark.parametrize(
    "name",
    [
        "comment_created.cloud-2020.json",
        "comment_deleted.cloud-2020.json",
        "issuelink_created.cloud-2020.json",
    ],
)
def test_webhook_no_graph_effect(name: str) -> None:
    result = fold(None, _webhook(_sample(f"webhooks/{name}")))
    assert result.events == []


@pytest.mark.parametrize(
    "name",
    [
        "sprint_created.cloud-2020.json",
        "sprint_started.cloud-2020.json",
        "sprint_closed.cloud-2020.json",
        "sprint_updated.with-oldValue.cloud-2020.json",
    ],
)
def test_sprint_webhook_maps(name: str) -> None:
    payload = _sample(f"webhooks/{name}")
    graph = Graph()

    graph.feed(_webhook(payload), "k")
    node = graph.nodes[node_id(SPACE, CLOUD, "sprint", str(payload["sprint"]["id"]))]

    assert node["node_type"] == "Sprint"
    assert node["label"] == payload["sprint"]["name"]
    assert node["attributes"]["State"] == payload["sprint"]["state"]


def test_stale_delete_webhook_ignored() -> None:
    created = _sample("webhooks/jira_issue_updated.transition-with-resolution.cloud-2020.json")
    deleted = copy.deepcopy(_sample("webhooks/jira_issue_deleted.cloud-2020.json"))
    deleted["issue"]["id"] = created["issue"]["id"]
    deleted["timestamp"] = 1
    graph = Graph()

    graph.feed(_webhook(created, "d-0"), "k")
    events = graph.feed(_webhook(deleted, "d-1"), "k")

    assert events == []
    assert len(graph.nodes) == 1


def test_sprint_deleted_removes_node() -> None:
    created = _sample("webhooks/sprint_created.cloud-2020.json")
    deleted = copy.deepcopy(_sample("webhooks/sprint_deleted.cloud-2020.json"))
    deleted["sprint"]["id"] = created["sprint"]["id"]
    deleted["timestamp"] = created["timestamp"] + 1
    graph = Graph()

    graph.feed(_webhook(created, "d-0"), "k")
    graph.feed(_webhook(deleted, "d-1"), "k")

    assert graph.nodes == {}


def _rest_issues() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for relative in ("issues/issue_get.v3-adf.atlassian-example.json",):
        path = SAMPLES / relative
        if path.is_file():
            found.append((relative, json.loads(path.read_text())))
    for path in (
        sorted((SAMPLES / "search").glob("*.json")) if (SAMPLES / "search").is_dir() else []
    ):
        body = json.loads(path.read_text())
        for index, issue in enumerate(body.get("issues") or []):
            if isinstance(issue, dict) and issue.get("fields"):
                found.append((f"{path.name}#{index}", issue))
    return found


@pytest.mark.parametrize(
    ("name", "issue"), _rest_issues(), ids=[name for name, _ in _rest_issues()]
)
def test_rest_sample_partial_rejected(name: str, issue: dict[str, Any]) -> None:
    # These responses carry a requested subset of fields. Merged into an earlier snapshot
    # they fold (see test_fold_partial.py), but with no snapshot yet a node cannot be
    # built from them alone.
    with pytest.raises(FoldError, match=r"has no earlier snapshot.*importer must request"):
        fold(None, _observed(issue, "import"))


def test_rest_sample_completed_maps() -> None:
    issue = copy.deepcopy(_sample("issues/issue_get.v3-adf.atlassian-example.json"))
    complete = _issue(issue["id"], key=issue["key"], description=issue["fields"]["description"])
    complete["fields"]["project"] = issue["fields"]["project"]
    graph = Graph()

    graph.feed(_observed(complete, "import"), "k")
    node = graph.node(issue["id"])

    assert node["content_adf"] == issue["fields"]["description"]
    assert node["content_markdown"]
    assert node["attributes"]["JiraKey"] == issue["key"]
    assert graph.edge_types() == ["in_project"]


# --- delivery faults --------------------------------------------------------------------


def test_duplicate_emits_nothing() -> None:
    graph = Graph()
    graph.feed(_observed(_issue()), "k")

    events = graph.feed(_observed(_issue()), "k")

    assert events == []


def test_duplicate_delivery_id_ignored() -> None:
    payload = {
        "webhookEvent": "jira:issue_updated",
        "timestamp": 1,
        "issue": _issue(),
        "changelog": {"id": "5", "items": []},
    }
    graph = Graph()
    graph.feed(_webhook(payload, "same"), "k")

    events = graph.feed(_webhook(payload, "same"), "k")

    assert events == []


def test_stale_never_overwrites() -> None:
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-03-10T10:00:00.000+0000", status="Done")), "k")

    events = graph.feed(
        _observed(_issue(updated="2024-03-10T09:00:00.000+0000", status="To Do")), "k"
    )

    assert events == []
    assert graph.node("100")["attributes"]["Status"] == "Done"


def test_offsets_order_by_instant() -> None:
    graph = Graph()
    # 10:00+0900 is 01:00 UTC, which is before 09:00+0000.
    graph.feed(_observed(_issue(updated="2024-03-10T09:00:00+0000", status="Done")), "k")

    events = graph.feed(
        _observed(_issue(updated="2024-03-10T10:00:00.000+0900", status="To Do")), "k"
    )

    assert events == []


def test_repeated_local_hour_kept() -> None:
    # Both updates happen at local 01:30 on the night clocks go back (UTC-4, then UTC-5).
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-11-03T01:30:00.000-0400", status="First")), "k")

    graph.feed(_observed(_issue(updated="2024-11-03T01:30:00.000-0500", status="Second")), "k")

    assert graph.node("100")["attributes"]["Status"] == "Second"


def test_v3_refetch_adds_description() -> None:
    adf = {
        "version": 1,
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}],
    }
    payload = {
        "webhookEvent": "jira:issue_created",
        "timestamp": 1,
        "issue": _issue(description="hi"),
        "changelog": {"id": "5", "items": [{"field": "description"}]},
    }
    graph = Graph()
    graph.feed(_webhook(payload), "k")

    events = graph.feed(_observed(_issue(description=adf)), "k")

    assert isinstance(events[0], IssueChanged)
    assert events[0].changed_fields == ["description"]
    assert graph.node("100")["content_markdown"] == "hi"
    assert graph.node("100")["content_adf"] == adf


def test_v2_webhook_keeps_adf() -> None:
    adf = {
        "version": 1,
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}],
    }
    graph = Graph()
    graph.feed(_observed(_issue(description=adf)), "k")
    payload = {
        "webhookEvent": "jira:issue_updated",
        "timestamp": 1,
        "issue": _issue(updated="2024-03-11T00:00:00.000+0000", summary="New", description="hi"),
        "changelog": {"id": "6", "items": [{"field": "summary"}]},
    }

    result = graph.feed(_webhook(payload), "k")

    assert result[0].changed_fields == ["summary", "updated"]  # type: ignore[attr-defined]
    assert graph.node("100")["content_adf"] == adf
    assert graph.node("100")["label"] == "New"


def test_delete_then_stale_no_resurrect() -> None:
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-03-10T09:00:00.000+0000")), "k")
    graph.feed(_gone("100", 1_710_100_000_000), "k")

    events = graph.feed(_observed(_issue(updated="2024-03-10T09:30:00.000+0000")), "k")

    assert events == []
    assert graph.nodes == {}


def test_gone_older_than_latest_deletes() -> None:
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-03-10T09:00:00.000+0000")), "k")

    events = graph.feed(_gone("100", 1), "k")

    assert isinstance(events[0], IssueDeleted)
    assert graph.nodes == {}


def test_newer_after_delete_restores() -> None:
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-03-10T09:00:00.000+0000")), "k")
    graph.feed(_gone("100", 1_710_061_200_000), "k")

    graph.feed(_observed(_issue(updated="2024-03-12T09:00:00.000+0000")), "k")

    assert graph.node("100")["label"] == "Title"
    assert "in_project" in graph.edge_types()


def test_access_lost_keeps_node() -> None:
    graph = Graph()
    graph.feed(_observed(_issue()), "k")
    context = FoldContext(app_account_id=APP, lost_project_ids=frozenset({"10000"}))

    events = graph.feed(_gone("100", 1_800_000_000_000), "k", context)

    assert isinstance(events[0], IssueAccessLost)
    assert graph.node("100")["access_lost"] is True


def test_project_access_lost() -> None:
    data = ProjectAccessLost(
        space_id=SPACE, cloud_id=CLOUD, origin="reconcile", project_id="10000", observed_at_ms=1
    )

    result = fold(None, make(data, source="test", subject=f"{CLOUD}:project:10000"))

    assert isinstance(result.events[0], ProjectChanged)
    assert result.events[0].access_lost is True


# --- echoes -----------------------------------------------------------------------------


def _pending(fields: dict[str, Any], at_ms: int = 1_710_061_000_000) -> Envelope:
    data = WritePending(
        space_id=SPACE,
        cloud_id=CLOUD,
        issue_id="100",
        edit_id="edit-1",
        fields=fields,
        observed_at_ms=at_ms,
    )
    return make(data, source="test", subject=f"{CLOUD}:100")


def _status_webhook(status: str, updated: str, changelog_id: str, actor: str = APP) -> Envelope:
    payload = {
        "webhookEvent": "jira:issue_updated",
        "timestamp": 1,
        "user": {"accountId": actor},
        "issue": _issue(updated=updated, status=status, description="x"),
        "changelog": {"id": changelog_id, "items": [{"field": "status"}]},
    }
    return _webhook(payload, f"d-{changelog_id}")


def test_echo_marked() -> None:
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-03-10T09:00:00.000+0000")), "k")
    graph.feed(_pending({"Status": "Done"}), "k")

    events = graph.feed(_status_webhook("Done", "2024-03-10T09:01:00.000+0000", "7"), "k")

    assert events[0].echo_of == "edit-1"  # type: ignore[attr-defined]


def test_intermediate_status_hidden() -> None:
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-03-10T09:00:00.000+0000")), "k")
    graph.feed(_pending({"Status": "Done"}), "k")

    graph.feed(_status_webhook("In Review", "2024-03-10T09:01:00.000+0000", "7"), "k")
    hidden = graph.node("100")["attributes"]["Status"]
    graph.feed(_status_webhook("Done", "2024-03-10T09:01:01.000+0000", "8"), "k")

    assert hidden == "To Do"
    assert graph.node("100")["attributes"]["Status"] == "Done"


def test_human_change_not_echo() -> None:
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-03-10T09:00:00.000+0000")), "k")
    graph.feed(_pending({"Status": "Done"}), "k")

    events = graph.feed(
        _status_webhook("Done", "2024-03-10T09:01:00.000+0000", "7", actor="human"), "k"
    )

    assert events[0].echo_of is None  # type: ignore[attr-defined]


def test_pending_expires_by_jira_time() -> None:
    graph = Graph()
    graph.feed(_observed(_issue(updated="2024-03-10T09:00:00.000+0000")), "k")
    graph.feed(_pending({"Status": "Done"}, at_ms=1_710_061_200_000), "k")

    graph.feed(_status_webhook("In Review", "2024-03-10T10:00:00.000+0000", "7"), "k")

    assert graph.node("100")["attributes"]["Status"] == "In Review"


# --- poison -------------------------------------------------------------------------------


def test_poison_raises_fold_error() -> None:
    payload = {"webhookEvent": "jira:issue_updated", "timestamp": 1, "issue": {"id": "1"}}

    with pytest.raises(FoldError, match="fields"):
        fold(None, _webhook(payload))


def test_unknown_type_raises() -> None:
    envelope = make(
        IssueDeleted(
            space_id=SPACE, cloud_id=CLOUD, issue_id="1", key=None, version={"updated_ms": 1}
        ),  # type: ignore[arg-type]
        source="test",
        subject="x",
    )
    with pytest.raises(FoldError, match=r"jira\.inbound"):
        fold(None, envelope)


# --- property: duplicates and reordering ----------------------------------------------


def _history(
    issue_id: str, steps: list[tuple[str, list[str]]], deleted: bool
) -> list[tuple[str, Envelope]]:
    key = f"k-{issue_id}"
    envelopes: list[tuple[str, Envelope]] = []
    for index, (status, labels) in enumerate(steps):
        updated = f"2024-03-10T09:{index:02d}:00.000+0000"
        envelopes.append(
            (
                key,
                _observed(
                    _issue(
                        issue_id,
                        updated=updated,
                        status=status,
                        labels=labels,
                        key=f"KAN-{issue_id}",
                        summary=f"s{index}",
                    )
                ),
            )
        )
    if deleted:
        envelopes.append((key, _gone(issue_id, 1_800_000_000_000)))
    return envelopes


_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["To Do", "Doing", "Done"]),
        st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True),
    ),
    min_size=1,
    max_size=5,
)
_HISTORIES = st.lists(st.tuples(_STEPS, st.booleans()), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(_HISTORIES, st.randoms(use_true_random=False), st.integers(0, 4))
def test_reordered_duplicates_same_graph(histories: list[Any], rng: Any, duplicates: int) -> None:
    records: list[tuple[str, Envelope]] = []
    for index, (steps, deleted) in enumerate(histories):
        records.extend(_history(str(100 + index), steps, deleted))
    in_order = Graph()
    for key, envelope in records:
        in_order.feed(envelope, key)

    shuffled = records + [rng.choice(records) for _ in range(duplicates)]
    rng.shuffle(shuffled)
    disordered = Graph()
    for key, envelope in shuffled:
        disordered.feed(envelope, key)

    assert disordered.nodes == in_order.nodes
    assert disordered.edges == in_order.edges
