"""Webhook payloads built from real site changes have the structure of captured Jira payloads.

Structure means keys, JSON value types and nesting. Custom field ids differ per site,
so `customfield_*` keys are skipped; `null` matches any type because Jira nulls a
field whenever it is empty. Older captures come from sites with other field sets, so
their issue `fields` are compared on the keys both sides have.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from jira_sandbox.generator import build_world
from jira_sandbox.model import ChangeEvent, World
from jira_sandbox.site import Site
from jira_sandbox.webhooks import build_payload
from jira_sandbox.wiki import adf_to_wiki

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples"
WEBHOOK_SAMPLES = SAMPLES / "webhooks"
ADF_SAMPLES = SAMPLES / "adf"
# Keys Jira adds to dynamic-webhook bodies and admin-webhook captures lack.
EXTRA_TOP_LEVEL_KEYS = frozenset({"matchedWebhookIds"})
# Keys Jira includes only for some projects: `entityId` on team-managed issue types,
# `projectCategory` when the project has a category.
CONDITIONAL_KEYS = frozenset({"entityId", "projectCategory"})


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def shape_mismatches(
    sample: Any, built: Any, path: str = "$", *, lenient: frozenset[str] = frozenset()
) -> list[str]:
    """Return one message per structural difference, each naming its JSON path.

    Objects at or below a path in `lenient` are compared on their common keys only.
    """
    if sample is None or built is None:
        return []
    if json_type(sample) != json_type(built):
        return [f"{path}: expected {json_type(sample)}, got {json_type(built)}"]

    if isinstance(sample, dict):
        return object_mismatches(sample, built, path, lenient)

    if isinstance(sample, list) and sample and built:
        if path.endswith(".changelog.items"):
            return changelog_mismatches(sample, built, path, lenient)
        problems: list[str] = []
        for index, item in enumerate(built):
            problems += shape_mismatches(sample[0], item, f"{path}[{index}]", lenient=lenient)
        return problems
    return []


def object_mismatches(
    sample: dict[str, Any], built: dict[str, Any], path: str, lenient: frozenset[str]
) -> list[str]:
    problems: list[str] = []
    compared = lambda key: not key.startswith("customfield_") and key not in CONDITIONAL_KEYS  # noqa: E731
    strict = not any(path == prefix or path.startswith(prefix + ".") for prefix in lenient)

    for key in sample:
        if not compared(key):
            continue
        if key in built:
            problems += shape_mismatches(sample[key], built[key], f"{path}.{key}", lenient=lenient)
        elif strict:
            problems.append(f"{path}.{key}: missing")

    extra_allowed = EXTRA_TOP_LEVEL_KEYS if path == "$" else frozenset()
    if strict:
        for key in built:
            if compared(key) and key not in sample and key not in extra_allowed:
                problems.append(f"{path}.{key}: not in the sample")
    return problems


def changelog_mismatches(
    sample: list[Any], built: list[Any], path: str, lenient: frozenset[str]
) -> list[str]:
    # Items differ by field (user fields carry tmpFromAccountId), so each built item is
    # compared with the sample item for the same field when the sample has one.
    by_field = {str(item["field"]).lower(): item for item in sample}
    problems: list[str] = []
    for index, item in enumerate(built):
        match = by_field.get(str(item.get("field")).lower())
        if match is not None:
            problems += shape_mismatches(match, item, f"{path}[{index}]", lenient=lenient)
    return problems


def load_sample(name: str) -> dict[str, Any]:
    if not WEBHOOK_SAMPLES.is_dir():
        pytest.skip(f"webhook samples not found at {WEBHOOK_SAMPLES}")
    sample: dict[str, Any] = json.loads((WEBHOOK_SAMPLES / name).read_text())
    return sample


def payload_of(event: ChangeEvent) -> dict[str, Any]:
    return build_payload(event, matched_webhook_ids=[10000])


@pytest.fixture
def contract_world() -> World:
    return build_world(13, sites=1, projects_per_site=2, issues=8, users=4, sprints_per_board=2)


@pytest.fixture
def site(contract_world: World) -> Site:
    return next(iter(contract_world.sites.values()))


@pytest.fixture
def changes(site: Site) -> list[ChangeEvent]:
    received: list[ChangeEvent] = []
    site.add_listener(received.append)
    return received


def first_project_issue(site: Site) -> Any:
    project_id = next(iter(site.projects.values())).id
    return next(
        issue
        for issue in site.live_issues()
        if issue.project_id == project_id and not site.issue_types[issue.issue_type_id].subtask
    )


def other_user(site: Site, account_id: str | None) -> str:
    return next(user for user in site.users if user != account_id)


LENIENT_FIELDS = frozenset({"$.issue.fields"})

def test_shape_comparer_names_path() -> None:
    problems = shape_mismatches({"a": {"b": 1}}, {"a": {"b": "1"}})

    assert problems == ["$.a.b: expected number, got string"]


def test_shape_comparer_reports_missing() -> None:
    problems = shape_mismatches({"a": 1, "b": 2}, {"a": 1})

    assert problems == ["$.b: missing"]


def test_shape_comparer_reports_extra() -> None:
    problems = shape_mismatches({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}})

    assert problems == ["$.a.c: not in the sample"]


def test_issue_created_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("jira_issue_created.cloud-2024.json")
    project = next(iter(site.projects.values()))

    site.create_issue(
        project_key=project.key,
        issue_type="Task",
        summary="Add back button to pages",
        description={
            "version": 1,
            "type": "doc",
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Body"}]}],
        },
        assignee_id=site.app_account_id,
    )

    assert shape_mismatches(sample, payload_of(changes[-1])) == []


def test_description_edited_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("jira_issue_updated.description-edited.cloud-2024.json")
    issue = first_project_issue(site)

    site.edit_issue(
        issue,
        description={
            "version": 1,
            "type": "doc",
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "New"}]}],
        },
    )

    assert shape_mismatches(sample, payload_of(changes[-1])) == []


def test_assigned_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("jira_issue_updated.assigned.legacy-sprint-string.cloud-2020.json")
    issue = first_project_issue(site)

    site.assign(issue, other_user(site, issue.assignee_id))

    payload = payload_of(changes[-1])
    assert payload["issue_event_type_name"] == "issue_assigned"
    assert shape_mismatches(sample, payload, lenient=LENIENT_FIELDS) == []


def test_labels_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("jira_issue_updated.labels-added.cloud-2020.json")
    issue = first_project_issue(site)

    site.edit_issue(issue, labels=[*issue.labels, "signal"])

    assert shape_mismatches(sample, payload_of(changes[-1]), lenient=LENIENT_FIELDS) == []


def test_transition_with_resolution_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("jira_issue_updated.transition-with-resolution.cloud-2020.json")
    issue = next(
        item
        for item in site.live_issues()
        if item.resolution_id is None and not site.issue_types[item.issue_type_id].subtask
    )

    site.move_to_status(issue, "Done")

    payload = payload_of(changes[-1])
    fields = {item["field"].lower() for item in payload["changelog"]["items"]}
    assert payload["issue_event_type_name"] == "issue_generic"
    assert {"status", "resolution"} <= fields
    assert shape_mismatches(sample, payload, lenient=LENIENT_FIELDS) == []


def test_move_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("jira_issue_updated.moved-key-changed.cloud-2020.json")
    issue = first_project_issue(site)
    old_key = issue.key
    target = list(site.projects.values())[1]

    site.move_issue(issue, target.key)

    payload = payload_of(changes[-1])
    key_items = [item for item in payload["changelog"]["items"] if item["field"] == "Key"]
    assert payload["issue_event_type_name"] == "issue_moved"
    assert key_items[0]["fromString"] == old_key
    assert payload["issue"]["id"] == str(issue.id)
    assert shape_mismatches(sample, payload, lenient=LENIENT_FIELDS) == []


def test_sprint_change_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("jira_issue_updated.sprint-changed.cloud-2020.json")
    issue = first_project_issue(site)
    sprint = next(item for item in site.sprints.values() if item.state != "closed")

    site.move_to_sprint(sprint.id, [issue])

    payload = payload_of(changes[-1])
    sprint_items = [item for item in payload["changelog"]["items"] if item["field"] == "Sprint"]
    assert sprint_items[0]["fieldId"] == site.sprint_field_id
    assert shape_mismatches(sample, payload, lenient=LENIENT_FIELDS) == []


def test_issue_deleted_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("jira_issue_deleted.cloud-2020.json")
    issue = first_project_issue(site)

    site.delete_issue(issue)

    payload = payload_of(changes[-1])
    assert "issue_event_type_name" not in payload
    assert "changelog" not in payload
    assert shape_mismatches(sample, payload, lenient=LENIENT_FIELDS) == []


COMMENT_BODY = {
    "version": 1,
    "type": "doc",
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "A comment"}]}],
}


def test_comment_created_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("comment_created.cloud-2020.json")
    issue = first_project_issue(site)

    site.add_comment(issue, COMMENT_BODY)

    payload = payload_of(changes[-1])
    assert payload["comment"]["body"] == "A comment"
    assert shape_mismatches(sample, payload, lenient=LENIENT_FIELDS) == []


def test_comment_deleted_contract(site: Site, changes: list[ChangeEvent]) -> None:
    sample = load_sample("comment_deleted.cloud-2020.json")
    issue = first_project_issue(site)
    comment = site.add_comment(issue, COMMENT_BODY)

    site.delete_comment(issue, comment.id)

    assert shape_mismatches(sample, payload_of(changes[-1]), lenient=LENIENT_FIELDS) == []


def sprint_payloads(site: Site, changes: list[ChangeEvent]) -> dict[str, dict[str, Any]]:
    # The captures show a future sprint without a goal key and a started one with
    # goal "", so the created and deleted events come from a sprint without a goal.
    board_id = next(iter(site.boards))
    doomed = site.create_sprint(board_id, "Deleted sprint")
    started = site.create_sprint(board_id, "Contract sprint", goal="")
    site.start_sprint(started.id)
    site.close_sprint(started.id)
    site.delete_sprint(doomed.id)

    payloads: dict[str, dict[str, Any]] = {}
    for event in changes:
        # The first sprint_updated is the start, as in the captured payload.
        payloads.setdefault(event.webhook_event, payload_of(event))
    return payloads


@pytest.mark.parametrize(
    ("event_name", "sample_name"),
    [
        ("sprint_created", "sprint_created.cloud-2020.json"),
        ("sprint_updated", "sprint_updated.with-oldValue.cloud-2020.json"),
        ("sprint_started", "sprint_started.cloud-2020.json"),
        ("sprint_closed", "sprint_closed.cloud-2020.json"),
        ("sprint_deleted", "sprint_deleted.cloud-2020.json"),
    ],
)
def test_sprint_event_contract(
    site: Site, changes: list[ChangeEvent], event_name: str, sample_name: str
) -> None:
    sample = load_sample(sample_name)

    payload = sprint_payloads(site, changes)[event_name]

    assert shape_mismatches(sample, payload) == []


# ADF samples rendered to wiki markup


def load_adf(name: str) -> dict[str, Any]:
    if not ADF_SAMPLES.is_dir():
        pytest.skip(f"ADF samples not found at {ADF_SAMPLES}")
    document: dict[str, Any] = json.loads((ADF_SAMPLES / name).read_text())
    return document


def test_wiki_hard_break() -> None:
    wiki = adf_to_wiki(load_adf("hard_break.gitlab-fixture.json"))

    assert wiki == "This is a sample paragraph\nwith lorem ipsum dolor sit amet..."


@pytest.mark.parametrize(
    "expected",
    [
        "h1. En-tête #1",
        "{color:#008da6}*lorem*{color}",
        "*lorem* _ipsum_ +dolor+ -sit- {{amet}}",
        "* item 1\n* item 2\n** item 2.1\n** item 2.2\n* item 3",
        "# item 3\n## item 3.1\n## item 3.2",
        "[This is a link!|https://www.google.fr]",
        "[https://github.com|https://github.com|smart-link]",
        "Yo [~accountid:5b10ac8d82e05b22cc7d0001], tu peux check ce ticket please 💩",
        "||*Col 1*||*Col 2*||*Col 3*||",
        "|dolor|sit|",
        "\n----\n",
        "{code:php}<?php",
        "{panel:bgColor=#deebff}Info news",
        "{quote}_lorem ipsum_ \n\n_dolor sit amet_{quote}",
        '{adf:display=block}{"type":"mediaSingle"',
        '{adf:display=block}{"type":"expand"',
        '{adf:display=inline}{"type":"status"',
        '{adf:display=inline}{"type":"date"',
    ],
)
def test_wiki_kitchen_sink(expected: str) -> None:
    wiki = adf_to_wiki(load_adf("kitchen_sink.jira-editor-output.json"))

    assert wiki is not None
    assert expected in wiki


def test_wiki_embedded_adf_round_trips() -> None:
    document = load_adf("complex_issue_description.gitlab-fixture.json")

    wiki = adf_to_wiki(document)

    assert wiki is not None
    embedded = re.findall(r"\{adf:display=(?:block|inline)\}(.*?)\{adf\}", wiki)
    nodes = [json.loads(item) for item in embedded]
    assert {node["type"] for node in nodes} == {"inlineCard", "mediaSingle"}
    assert nodes[0]["attrs"]["data"]["name"] == "John Lennon"


@pytest.mark.parametrize(
    "expected",
    [
        "h6. Header 6",
        "{panel:bgColor=#e3fcef}Success info panel{panel}",
        "{panel:bgColor=#ffebe6}Error info panel{panel}",
        "[~accountid:5b10ac8d82e05b22cc7d0001] what up",
        "{code:javascript}export function makeIssue",
        "[External Link|https://gitlab.com/gitlab-org/gitlab/-/merge_requests/25718]",
        "^Superscript^",
        "~Subscript~",
    ],
)
def test_wiki_complex_description(expected: str) -> None:
    wiki = adf_to_wiki(load_adf("complex_issue_description.gitlab-fixture.json"))

    assert wiki is not None
    assert expected in wiki
