"""Fold of REST v3 responses that carry only some fields, merged into the last snapshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from projections.errors import FoldError
from projections.fold import FoldResult, fold
from projections.graph import project
from streams.codec import make
from streams.contract import EventData, IssueChanged, IssueGone, IssueObserved
from streams.envelope import Envelope
from streams.ids import node_id

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples"
SPACE = "space-1"
CLOUD = "cloud-1"

EARLIER_ACCOUNT = "earlier-account"
EARLIER_PROJECT = "99999"
EARLIER_ADF = {
    "version": 1,
    "type": "doc",
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Earlier text"}]}],
}
EPOCH = "1970-01-01T00:00:00.000+0000"
EARLIER_UPDATED = "2024-03-10T09:00:00.000+0000"
EARLIER_UPDATED_MS = 1_710_061_200_000


def _sample(relative: str) -> dict[str, Any]:
    path = SAMPLES / relative
    if not path.is_file():
        pytest.skip(f"sample {relative} is not checked out next to the repository")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _complete(issue_id: str, key: str, *, updated: str = EARLIER_UPDATED) -> dict[str, Any]:
    """Return a REST v3 issue with every field the fold reads, and values no sample has."""
    return {
        "id": issue_id,
        "key": key,
        "fields": {
            "project": {"id": EARLIER_PROJECT, "key": "OLD"},
            "issuetype": {"id": "1", "name": "Task", "subtask": False, "hierarchyLevel": 0},
            "summary": "Earlier summary",
            "description": EARLIER_ADF,
            "status": {"id": "1", "name": "To Do", "statusCategory": {"key": "new"}},
            "priority": {"id": "3", "name": "Medium"},
            "labels": ["earlier"],
            "assignee": {"accountId": EARLIER_ACCOUNT},
            "created": EPOCH,
            "updated": updated,
        },
    }


def _observed(issue: dict[str, Any]) -> Envelope:
    data = IssueObserved(
        space_id=SPACE,
        cloud_id=CLOUD,
        origin="import",
        issue=issue,
        observed_at_ms=1,
    )
    return make(data, source="test", subject=f"{CLOUD}:{issue['id']}")


class Issue:
    """Folds observations of one issue and projects them, as the two agents do."""

    def __init__(self) -> None:
        self.fold_state: dict[str, Any] | None = None
        self.projection_state: dict[str, Any] | None = None

    def feed(self, envelope: Envelope) -> list[EventData]:
        result: FoldResult = fold(self.fold_state, envelope)
        self.fold_state = result.state
        for event in result.events:
            self.projection_state = project(self.projection_state, event).state
        return result.events

    @property
    def node(self) -> dict[str, Any]:
        assert self.projection_state is not None
        node: dict[str, Any] = self.projection_state["node"]
        return node

    def edges(self, edge_type: str) -> list[str]:
        assert self.projection_state is not None
        return sorted(
            target
            for kind, _source, target in self.projection_state["edges"].values()
            if kind == edge_type
        )


def _project_node(project_id: str) -> str:
    return node_id(SPACE, CLOUD, "project", project_id)


def _member_node(account_id: str) -> str:
    return node_id(SPACE, CLOUD, "member", account_id)


def _changed(events: list[EventData]) -> IssueChanged:
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, IssueChanged)
    return event


# --- samples ----------------------------------------------------------------------------


def test_issue_get_sample_merges() -> None:
    # This response carries description, project and `updated` (1 ms after the epoch).
    sample = _sample("issues/issue_get.v3-adf.atlassian-example.json")
    issue = Issue()
    issue.feed(_observed(_complete(sample["id"], sample["key"], updated=EPOCH)))

    changed = _changed(issue.feed(_observed(sample)))

    assert changed.changed_fields == ["project", "updated", "description"]
    assert changed.version.updated_ms == 1
    assert issue.node["content_adf"] == sample["fields"]["description"]
    assert issue.node["content_markdown"] == "Main order flow broken"
    assert issue.edges("in_project") == [_project_node(sample["fields"]["project"]["id"])]
    assert issue.node["label"] == "Earlier summary"
    assert issue.node["attributes"]["Status"] == "To Do"
    assert issue.node["attributes"]["Labels"] == ["earlier"]
    assert issue.node["node_type"] == "Task"
    assert issue.edges("assigned_to") == [_member_node(EARLIER_ACCOUNT)]


def test_search_sample_merges() -> None:
    # Atlassian's search example carries the description as text, not ADF.
    body = _sample("search/search_jql.response.atlassian-example.json")
    sample = body["issues"][0]
    issue = Issue()
    issue.feed(_observed(_complete(sample["id"], sample["key"], updated=EPOCH)))

    changed = _changed(issue.feed(_observed(sample)))

    assert changed.changed_fields == ["project", "updated", "description"]
    assert issue.node["content_markdown"] == "Main order flow broken"
    assert issue.edges("in_project") == [_project_node(sample["fields"]["project"]["id"])]
    assert issue.node["label"] == "Earlier summary"
    assert issue.node["attributes"]["Status"] == "To Do"
    assert issue.edges("assigned_to") == [_member_node(EARLIER_ACCOUNT)]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_bulkfetch_sample_merges(index: int) -> None:
    # Each issue carries summary, project and assignee, and no `updated`.
    body = _sample("search/bulkfetch.response.atlassian-example.json")
    sample = body["issues"][index]
    fields = sample["fields"]
    issue = Issue()
    issue.feed(_observed(_complete(sample["id"], sample["key"])))

    changed = _changed(issue.feed(_observed(sample)))

    assert changed.changed_fields == ["project", "summary", "assignee"]
    assert changed.version.updated_ms == EARLIER_UPDATED_MS
    assert issue.node["label"] == fields["summary"]
    assert issue.edges("in_project") == [_project_node(fields["project"]["id"])]
    assert issue.edges("assigned_to") == [_member_node(fields["assignee"]["accountId"])]
    assert issue.node["attributes"]["Status"] == "To Do"
    assert issue.node["content_adf"] == EARLIER_ADF
    assert issue.node["updated"] == "2024-03-10T09:00:00.000Z"


def test_bulkfetch_real_sample_merges() -> None:
    # A real response to a request for summary and status only.
    body = _sample("search/bulkfetch.response.missing-key-silently-dropped.real-2026.json")
    sample = body["issues"][0]
    issue = Issue()
    issue.feed(_observed(_complete(sample["id"], sample["key"])))

    changed = _changed(issue.feed(_observed(sample)))

    assert changed.changed_fields == ["summary", "status"]
    assert changed.version.updated_ms == EARLIER_UPDATED_MS
    assert issue.node["label"] == sample["fields"]["summary"]
    assert issue.node["attributes"]["Status"] == "In Design"
    assert issue.node["content_adf"] == EARLIER_ADF
    assert issue.edges("in_project") == [_project_node(EARLIER_PROJECT)]
    assert issue.edges("assigned_to") == [_member_node(EARLIER_ACCOUNT)]
    assert issue.node["attributes"]["Priority"] == "Medium"


# --- rules ------------------------------------------------------------------------------


def test_no_snapshot_names_missing() -> None:
    body = _sample("search/bulkfetch.response.missing-key-silently-dropped.real-2026.json")

    with pytest.raises(FoldError) as raised:
        fold(None, _observed(body["issues"][0]))

    message = str(raised.value)
    for name in ("issuetype", "project", "created", "updated"):
        assert name in message
    assert "importer must request" in message
    assert "lacks the fields issuetype, project, created, updated;" in message


def test_older_partial_changes_nothing() -> None:
    sample = _sample("issues/issue_get.v3-adf.atlassian-example.json")
    issue = Issue()
    issue.feed(_observed(_complete(sample["id"], sample["key"])))
    before = issue.fold_state

    events = issue.feed(_observed(sample))

    assert events == []
    assert issue.fold_state is before
    assert issue.node["content_adf"] == EARLIER_ADF


def test_unchanged_partial_emits_nothing() -> None:
    body = _sample("search/bulkfetch.response.missing-key-silently-dropped.real-2026.json")
    sample = body["issues"][0]
    issue = Issue()
    issue.feed(_observed(_complete(sample["id"], sample["key"])))
    issue.feed(_observed(sample))

    events = issue.feed(_observed(sample))

    assert events == []


def test_null_field_clears_value() -> None:
    issue = Issue()
    issue.feed(_observed(_complete("7", "KAN-7")))
    partial = {"id": "7", "key": "KAN-7", "fields": {"assignee": None, "priority": None}}

    changed = _changed(issue.feed(_observed(partial)))

    assert changed.changed_fields == ["priority", "assignee"]
    assert issue.edges("assigned_to") == []
    assert issue.node["attributes"]["Priority"] is None


def test_newer_partial_moves_version() -> None:
    issue = Issue()
    issue.feed(_observed(_complete("7", "KAN-7")))
    partial = {
        "id": "7",
        "key": "KAN-7",
        "fields": {"summary": "Later", "updated": "2024-03-10T10:00:00.000+0000"},
    }

    changed = _changed(issue.feed(_observed(partial)))

    assert changed.changed_fields == ["summary", "updated"]
    assert changed.version.updated_ms == EARLIER_UPDATED_MS + 3_600_000
    assert issue.node["updated"] == "2024-03-10T10:00:00.000Z"


def test_partial_keeps_parent_and_sprints() -> None:
    complete = _complete("7", "KAN-7")
    complete["fields"]["parent"] = {
        "id": "5",
        "key": "KAN-5",
        "fields": {"issuetype": {"name": "Epic", "hierarchyLevel": 1}},
    }
    complete["fields"]["customfield_10020"] = [{"id": 3, "name": "S3", "state": "active"}]
    issue = Issue()
    issue.feed(
        make(
            IssueObserved(
                space_id=SPACE,
                cloud_id=CLOUD,
                origin="import",
                issue=complete,
                sprint_field_id="customfield_10020",
                observed_at_ms=1,
            ),
            source="test",
            subject=f"{CLOUD}:7",
        )
    )
    partial = {"id": "7", "key": "KAN-7", "fields": {"summary": "Later"}}

    issue.feed(_observed(partial))

    assert issue.edges("in_epic") == [node_id(SPACE, CLOUD, "issue", "5")]
    assert issue.edges("in_sprint") == [node_id(SPACE, CLOUD, "sprint", "3")]


def test_complete_without_parent_clears() -> None:
    # Jira leaves `parent` out of a response when the issue has none.
    complete = _complete("7", "KAN-7")
    complete["fields"]["parent"] = {"id": "5", "key": "KAN-5"}
    issue = Issue()
    issue.feed(_observed(complete))

    issue.feed(_observed(_complete("7", "KAN-7", updated="2024-03-10T10:00:00.000+0000")))

    assert issue.edges("in_epic") == []


def test_partial_after_delete_ignored() -> None:
    issue = Issue()
    issue.feed(_observed(_complete("7", "KAN-7")))
    not_found = IssueGone(
        space_id=SPACE, cloud_id=CLOUD, origin="reconcile", issue_id="7", observed_at_ms=1
    )
    issue.feed(make(not_found, source="test", subject=f"{CLOUD}:7"))
    partial = {"id": "7", "key": "KAN-7", "fields": {"summary": "Later"}}

    events = issue.feed(_observed(partial))

    assert events == []
