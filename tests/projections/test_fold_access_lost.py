"""The fold with the projects out of the account's view, as the worker supplies them."""

from __future__ import annotations

from typing import Any

from projections.fold import FoldContext, fold
from projections.graph import project
from projections.lost_projects import LostProjects
from streams.codec import make
from streams.contract import (
    EventData,
    IssueAccessLost,
    IssueChanged,
    IssueDeleted,
    IssueGone,
    IssueObserved,
    ProjectAccessLost,
    ProjectObserved,
)
from streams.envelope import Envelope

SPACE = "space-1"
CLOUD = "cloud-1"
PROJECT = "10000"


def _issue() -> dict[str, Any]:
    return {
        "id": "100",
        "key": "KAN-1",
        "fields": {
            "project": {"id": PROJECT, "key": "KAN"},
            "issuetype": {"id": "1", "name": "Task", "subtask": False, "hierarchyLevel": 0},
            "summary": "Title",
            "description": None,
            "status": {"id": "1", "name": "To Do", "statusCategory": {"key": "new"}},
            "priority": {"id": "3", "name": "Medium"},
            "labels": [],
            "assignee": None,
            "created": "2024-03-01T00:00:00.000+0000",
            "updated": "2024-03-10T09:15:02.123+0000",
        },
    }


def _observed() -> Envelope:
    data = IssueObserved(
        space_id=SPACE, cloud_id=CLOUD, origin="reconcile", issue=_issue(), observed_at_ms=1
    )
    return make(data, source="test", subject=f"{CLOUD}:100")


def _gone() -> Envelope:
    data = IssueGone(
        space_id=SPACE, cloud_id=CLOUD, origin="reconcile", issue_id="100",
        observed_at_ms=1_800_000_000_000,
    )
    return make(data, source="test", subject=f"{CLOUD}:100")


def _access_lost(space_id: str = SPACE) -> Envelope:
    data = ProjectAccessLost(
        space_id=space_id, cloud_id=CLOUD, origin="reconcile", project_id=PROJECT,
        observed_at_ms=1,
    )
    return make(data, source="test", subject=f"{CLOUD}:{PROJECT}")


def _project_observed() -> Envelope:
    data = ProjectObserved(
        space_id=SPACE, cloud_id=CLOUD, origin="reconcile",
        project={"id": PROJECT, "key": "KAN", "name": "Kanban"}, observed_at_ms=2,
    )
    return make(data, source="test", subject=f"{CLOUD}:{PROJECT}")


def _project_node(access_lost: bool) -> dict[str, Any]:
    return {
        "space_id": SPACE,
        "node_id": "n-project",
        "access_lost": access_lost,
        "source": {"system": "jira", "cloud_id": CLOUD, "kind": "project", "jira_id": PROJECT},
    }


class Pipeline:
    """The fold and the projection with the worker's lost-project index, per record key."""

    def __init__(self, lost: LostProjects) -> None:
        self.lost = lost
        self.fold_states: dict[str, dict[str, Any]] = {}
        self.projection_states: dict[str, dict[str, Any]] = {}
        self.nodes: dict[str, dict[str, Any] | None] = {}

    def feed(self, envelope: Envelope) -> list[EventData]:
        key = str(envelope.subject)
        self.lost.note(envelope)
        context = FoldContext(lost_project_ids=self.lost.of(SPACE, CLOUD))
        result = fold(self.fold_states.get(key), envelope, context)
        self.fold_states[key] = result.state
        for event in result.events:
            projected = project(self.projection_states.get(key), event)
            self.projection_states[key] = projected.state
            self.nodes[key] = projected.node
        return result.events

    @property
    def issue_state(self) -> dict[str, Any]:
        return self.fold_states[f"{CLOUD}:100"]

    @property
    def issue_node(self) -> dict[str, Any] | None:
        return self.nodes.get(f"{CLOUD}:100")


def test_index_access_lost_noted():
    lost = LostProjects(list)

    lost.note(_access_lost())

    assert lost.of(SPACE, CLOUD) == {PROJECT}


def test_index_other_space_unaffected():
    lost = LostProjects(list)

    lost.note(_access_lost(space_id="space-2"))

    assert lost.of(SPACE, CLOUD) == frozenset()


def test_index_observed_project_cleared():
    lost = LostProjects(list)
    lost.note(_access_lost())

    lost.note(_project_observed())

    assert lost.of(SPACE, CLOUD) == frozenset()


def test_index_loads_marked_nodes():
    lost = LostProjects(lambda: [_project_node(access_lost=True)])

    assert lost.of(SPACE, CLOUD) == {PROJECT}


def test_index_skips_visible_nodes():
    lost = LostProjects(lambda: [_project_node(access_lost=False)])

    assert lost.of(SPACE, CLOUD) == frozenset()


def test_index_reads_nodes_once():
    reads: list[int] = []

    def nodes() -> list[dict[str, Any]]:
        reads.append(1)
        return [_project_node(access_lost=True)]

    lost = LostProjects(nodes)
    lost.of(SPACE, CLOUD)
    lost.note(_project_observed())

    assert len(reads) == 1
    assert lost.of(SPACE, CLOUD) == frozenset()


def test_gone_in_lost_project_kept():
    pipeline = Pipeline(LostProjects(list))
    pipeline.feed(_observed())
    pipeline.feed(_access_lost())

    events = pipeline.feed(_gone())

    assert [type(event) for event in events] == [IssueAccessLost]
    assert pipeline.issue_node is not None
    assert pipeline.issue_node["access_lost"] is True
    assert not pipeline.issue_state.get("deleted")


def test_gone_after_restore_deletes():
    pipeline = Pipeline(LostProjects(list))
    pipeline.feed(_observed())
    pipeline.feed(_access_lost())
    pipeline.feed(_project_observed())

    events = pipeline.feed(_gone())

    assert [type(event) for event in events] == [IssueDeleted]
    assert pipeline.issue_node is None


def test_gone_without_loss_deletes():
    pipeline = Pipeline(LostProjects(list))
    pipeline.feed(_observed())

    events = pipeline.feed(_gone())

    assert [type(event) for event in events] == [IssueDeleted]


def test_observation_clears_access_lost():
    pipeline = Pipeline(LostProjects(list))
    pipeline.feed(_observed())
    pipeline.feed(_access_lost())
    pipeline.feed(_gone())
    pipeline.feed(_project_observed())

    events = pipeline.feed(_observed())

    assert [type(event) for event in events] == [IssueChanged]
    assert pipeline.issue_node is not None
    assert pipeline.issue_node["access_lost"] is False
    assert "access_lost" not in pipeline.issue_state


def test_same_observation_then_quiet():
    pipeline = Pipeline(LostProjects(list))
    pipeline.feed(_observed())
    pipeline.feed(_access_lost())
    pipeline.feed(_gone())
    pipeline.feed(_observed())

    events = pipeline.feed(_observed())

    assert events == []
