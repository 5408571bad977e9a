from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.contract import EditRequested
from writeback.plan import (
    AlreadyApplied,
    Conflict,
    JiraWrite,
    Plan,
    PlanOutcome,
    Rejection,
    WritebackConfig,
    current_value,
    plan_edit,
)

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples"
CONFIG = WritebackConfig()
MEMBERS = {"node-alex": "5b10ac8d82e05b22cc7d0001", "node-sam": "712020:aa11"}
ISSUES = {"node-epic": "10100"}
SPRINTS = {"node-sprint-2": "2", "node-sprint-1": "1"}
PRIORITIES = [{"id": "1", "name": "Highest"}, {"id": "3", "name": "Medium"}]


class PlainCodec:
    def adf_to_markdown(self, doc: dict[str, Any] | None) -> str:
        return "\n\n".join(
            self.adf_block_to_markdown(node) for node in (doc or {}).get("content") or []
        )

    def adf_block_to_markdown(self, node: dict[str, Any]) -> str:
        return "".join(child.get("text", "") for child in node.get("content") or [])

    def split_markdown_blocks(self, text: str) -> list[str]:
        return [block for block in text.split("\n\n") if block.strip()]

    def markdown_to_adf(self, text: str) -> dict[str, Any]:
        content = [
            {"type": "paragraph", "content": [{"type": "text", "text": block}]}
            for block in self.split_markdown_blocks(text)
        ]
        return {"version": 1, "type": "doc", "content": content}


def issue(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "summary": "Old title",
        "description": {
            "version": 1,
            "type": "doc",
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Old body"}]}],
        },
        "status": {"id": "10000", "name": "To Do"},
        "priority": {"id": "3", "name": "Medium"},
        "labels": ["backend", "triaged"],
        "assignee": {"accountId": "5b10ac8d82e05b22cc7d0001"},
        "parent": None,
        "customfield_10020": [{"id": 1, "state": "closed"}, {"id": 2, "state": "active"}],
    }
    base.update(fields)
    return {"id": "10001", "key": "KAN-1", "fields": base}


def edit(field: str, value: Any, base: Any) -> EditRequested:
    return EditRequested(
        edit_id="edit-1",
        space_id="space-1",
        node_id="node-1",
        user_id="user-1",
        field=field,
        value=value,
        base=base,
    )  # type: ignore[arg-type]


def plan(
    request: EditRequested,
    current: dict[str, Any] | None = None,
    transitions: list[dict[str, Any]] | None = None,
) -> PlanOutcome:
    return plan_edit(
        request,
        issue=current or issue(),
        node={},
        members=MEMBERS,
        issue_ids=ISSUES,
        sprint_ids=SPRINTS,
        config=CONFIG,
        transitions=transitions or [],
        priorities=PRIORITIES,
        codec=PlainCodec(),
    )


def only_write(outcome: PlanOutcome) -> JiraWrite:
    assert isinstance(outcome, Plan), outcome
    assert len(outcome.writes) == 1
    return outcome.writes[0]


# --- label (summary) ---------------------------------------------------------------------


def test_label_sets_summary_only() -> None:
    write = only_write(plan(edit("label", "New title", "Old title")))
    assert write.kind == "edit"
    assert write.body == {"fields": {"summary": "New title"}}


def test_label_too_long_rejected() -> None:
    outcome = plan(edit("label", "x" * 256, "Old title"))
    assert isinstance(outcome, Rejection)
    assert "256 characters" in outcome.reason


def test_label_line_break_rejected() -> None:
    assert isinstance(plan(edit("label", "two\nlines", "Old title")), Rejection)


def test_label_same_value_already_applied() -> None:
    assert plan(edit("label", "Old title", "Older title")) == AlreadyApplied("Old title")


def test_label_changed_in_jira_conflicts() -> None:
    outcome = plan(edit("label", "Mine", "Base"), issue(summary="Theirs"))
    assert outcome == Conflict(jira_value="Theirs", edit_value="Mine", base_value="Base")


# --- content (description) ---------------------------------------------------------------


def test_content_patches_description() -> None:
    write = only_write(plan(edit("content", "Old body\n\nMore", "Old body")))
    blocks = write.body["fields"]["description"]["content"]
    assert [block["content"][0]["text"] for block in blocks] == ["Old body", "More"]
    assert set(write.body) == {"fields"}
    assert set(write.body["fields"]) == {"description"}


def test_content_compares_markdown_for_conflict() -> None:
    outcome = plan(edit("content", "Mine", "Something else"))
    assert isinstance(outcome, Conflict)
    assert outcome.jira_value == "Old body"


def test_content_ignores_trailing_whitespace() -> None:
    assert isinstance(plan(edit("content", "Old body  \n", "Base")), AlreadyApplied)


def test_content_too_large_rejected() -> None:
    outcome = plan(edit("content", "y" * 40_000, "Old body"))
    assert isinstance(outcome, Rejection)
    assert "32767" in outcome.reason


# --- Priority ----------------------------------------------------------------------------


def test_priority_resolved_by_name() -> None:
    write = only_write(plan(edit("Priority", "highest", "Medium")))
    assert write.body == {"fields": {"priority": {"id": "1"}}}


def test_priority_unknown_rejected() -> None:
    outcome = plan(edit("Priority", "Urgent", "Medium"))
    assert isinstance(outcome, Rejection)
    assert "'Urgent'" in outcome.reason
    assert "'Highest'" in outcome.reason


def test_priority_absent_in_jira_base_none() -> None:
    outcome = plan(edit("Priority", "Highest", None), issue(priority=None))
    assert isinstance(outcome, Plan)


# --- Labels ------------------------------------------------------------------------------


def test_labels_add_and_remove_verbs() -> None:
    write = only_write(plan(edit("Labels", ["backend", "urgent"], ["triaged", "backend"])))
    assert write.body == {"update": {"labels": [{"add": "urgent"}, {"remove": "triaged"}]}}


def test_labels_with_space_rejected() -> None:
    outcome = plan(edit("Labels", ["backend", "needs review"], ["backend", "triaged"]))
    assert isinstance(outcome, Rejection)
    assert "'needs review'" in outcome.reason


def test_labels_order_is_not_conflict() -> None:
    assert isinstance(plan(edit("Labels", ["x"], ["triaged", "backend"])), Plan)


def test_labels_missing_in_jira_is_empty() -> None:
    current = issue()
    del current["fields"]["labels"]
    write = only_write(plan(edit("Labels", ["new"], []), current))
    assert write.body == {"update": {"labels": [{"add": "new"}]}}


# --- Status ------------------------------------------------------------------------------

TRANSITIONS = [
    {"id": "11", "name": "Start", "to": {"name": "In Progress"}, "fields": {}},
    {
        "id": "31",
        "name": "Finish",
        "to": {"name": "Done"},
        "fields": {
            "resolution": {
                "required": True,
                "name": "Resolution",
                "allowedValues": [
                    {"id": "10000", "name": "Won't Do"},
                    {"id": "10001", "name": "Done"},
                ],
            }
        },
    },
]


def test_status_picks_transition() -> None:
    write = only_write(plan(edit("Status", "In Progress", "To Do"), transitions=TRANSITIONS))
    assert write.kind == "transition"
    assert write.body == {"transition": {"id": "11"}}


def test_status_fills_resolution() -> None:
    write = only_write(plan(edit("Status", "done", "To Do"), transitions=TRANSITIONS))
    assert write.body == {"transition": {"id": "31"}, "fields": {"resolution": {"id": "10001"}}}


def test_status_without_path_rejected() -> None:
    outcome = plan(edit("Status", "Review", "To Do"), transitions=TRANSITIONS)
    assert outcome == Rejection("no transition path from 'To Do' to 'Review'")


def test_status_other_required_field_rejected() -> None:
    transitions = [
        {
            "id": "5",
            "name": "Close",
            "to": {"name": "Closed"},
            "fields": {"customfield_1": {"required": True, "name": "Root cause"}},
        }
    ]
    outcome = plan(edit("Status", "Closed", "To Do"), transitions=transitions)
    assert isinstance(outcome, Rejection)
    assert "'Root cause'" in outcome.reason


def test_status_changed_in_jira_conflicts() -> None:
    outcome = plan(edit("Status", "Done", "In Progress"), transitions=TRANSITIONS)
    assert isinstance(outcome, Conflict)
    assert outcome.jira_value == "To Do"


def test_status_sample_transitions_resolve() -> None:
    sample = SAMPLES / "issues" / "transitions_list.real-2025.json"
    if not sample.exists():
        pytest.skip(f"Jira samples not found at {sample}")
    transitions = json.loads(sample.read_text())
    write = only_write(plan(edit("Status", "In Progress", "To Do"), transitions=transitions))
    assert write.body == {"transition": {"id": "2"}}


# --- edges -------------------------------------------------------------------------------


def test_assignee_uses_account_id() -> None:
    write = only_write(plan(edit("assignee", "node-sam", "node-alex")))
    assert write.kind == "assign"
    assert write.body == {"accountId": "712020:aa11"}


def test_assignee_unmatched_rejected() -> None:
    outcome = plan(edit("assignee", "node-ghost", "node-alex"))
    assert isinstance(outcome, Rejection)
    assert "'node-ghost'" in outcome.reason


def test_assignee_removal_never_unassigns() -> None:
    outcome = plan(edit("assignee", None, "node-alex"))
    assert isinstance(outcome, Rejection)
    assert "does not unassign" in outcome.reason


def test_parent_sets_parent_id() -> None:
    write = only_write(plan(edit("parent", "node-epic", None)))
    assert write.body == {"fields": {"parent": {"id": "10100"}}}


def test_parent_removal_sets_none() -> None:
    current = issue(parent={"id": "10100", "key": "KAN-100"})
    write = only_write(plan(edit("parent", None, "node-epic"), current))
    assert write.body == {"update": {"parent": [{"set": {"none": True}}]}}


def test_sprint_moves_to_sprint() -> None:
    current = issue(customfield_10020=[{"id": 1, "state": "active"}])
    write = only_write(plan(edit("sprint", "node-sprint-2", "node-sprint-1"), current))
    assert write == JiraWrite("move_to_sprint", "10001", {"sprint_id": "2"})


def test_sprint_current_ignores_closed() -> None:
    assert current_value("sprint", issue(), config=CONFIG) == "2"


def test_sprint_removal_moves_to_backlog() -> None:
    write = only_write(plan(edit("sprint", None, "node-sprint-2")))
    assert write.kind == "move_to_backlog"
