"""Structural contract between captured Jira payloads and the sandbox's REST responses.

For each sample under jira-samples/search, issues and agile whose request the
sandbox serves, the equivalent request goes to the sandbox and every key the
sample shows must be present with the same JSON type and nesting. Extra keys
in the sandbox are allowed. A null in the sample accepts any value. Lists are
compared element by element (the sample's i-th element against the sandbox's
i-th, or its last when shorter) and an empty list on either side is skipped.

Documentation artefacts the sandbox omits on purpose (Atlassian's hand-written
OpenAPI examples, not what Jira Cloud returns):

- `fields.watcher` and `fields.sub-tasks`: Jira names these fields `watches`
  and `subtasks`; the sandbox returns those names.
- `fields.comment` and `fields.worklog` as bare lists: Jira returns page
  objects (`comments`/`worklogs` plus `startAt`, `maxResults`, `total`).
- `fields.updated` as the number 1, and `fields.description` as a plain
  string in the search example: v3 returns a timestamp string and an ADF
  document.
- `fields.timetracking` members: present only when estimates are set, and the
  sandbox models no time tracking.
- `project.insight` (returned only with `expand=insight` on project endpoints)
  and the trash keys `deleted`, `deletedBy`, `deletedDate`, `retentionTillDate`
  (present only for projects in the trash, which the sandbox does not model).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from jira_sandbox.model import IssueRecord
from jira_sandbox.site import Site

ARTEFACTS = (
    re.compile(r"fields\.(watcher|sub-tasks|comment|worklog|updated)$"),
    re.compile(r"^issues\[\]\.fields\.description$"),
    re.compile(r"fields\.timetracking\.\w+$"),
    re.compile(r"project\.(insight|deleted|deletedBy|deletedDate|retentionTillDate)$"),
)


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


def is_artefact(path: str) -> bool:
    normalized = re.sub(r"\[\d+\]", "[]", path).removeprefix("$.").removeprefix("$")
    return any(pattern.search(normalized) for pattern in ARTEFACTS)


def compare(sample: Any, actual: Any, path: str = "$") -> list[str]:
    """Return the JSON paths where `actual` lacks the sample's structure."""
    if sample is None or is_artefact(path):
        return []
    if json_type(sample) != json_type(actual):
        return [f"{path}: sample has {json_type(sample)}, sandbox has {json_type(actual)}"]
    problems: list[str] = []
    if isinstance(sample, dict):
        for key, value in sample.items():
            child = f"{path}.{key}"
            if is_artefact(child):
                continue
            if key not in actual:
                problems.append(f"{child}: missing in sandbox")
                continue
            problems.extend(compare(value, actual[key], child))
    elif isinstance(sample, list) and sample and actual:
        for index, item in enumerate(sample):
            problems.extend(compare(item, actual[min(index, len(actual) - 1)], f"{path}[{index}]"))
    return problems


def load(samples: Path, name: str) -> Any:
    return json.loads((samples / name).read_text(encoding="utf-8"))


def rich_issue(site: Site) -> IssueRecord:
    """Return an issue with a priority, an assignee whose e-mail is visible, and a parent."""
    for issue in site.live_issues():
        assignee = site.users.get(issue.assignee_id or "")
        if (
            issue.priority_id
            and assignee is not None
            and assignee.email is not None
            and issue.parent_id is not None
            and site.description_of(issue) is not None
            and not site.issue_types[issue.issue_type_id].subtask
        ):
            return issue
    raise AssertionError("the generated site has no fully populated issue")


def test_compare_names_path() -> None:
    problems = compare({"a": {"b": [{"c": 1}]}}, {"a": {"b": [{"c": "x"}]}})
    assert problems == ["$.a.b[0].c: sample has number, sandbox has string"]


async def test_contract_search_jql(
    client: httpx.AsyncClient, api: str, site: Site, samples: Path
) -> None:
    sample = load(samples, "search/search_jql.response.atlassian-example.json")
    issue = rich_issue(site)
    response = await client.post(
        f"{api}/search/jql", json={"jql": f"key = {issue.key}", "fields": ["*all"]}
    )
    assert compare(sample, response.json()) == []


async def test_contract_issue_get(
    client: httpx.AsyncClient, api: str, site: Site, samples: Path
) -> None:
    sample = load(samples, "issues/issue_get.v3-adf.atlassian-example.json")
    issue = rich_issue(site)
    response = await client.get(f"{api}/issue/{issue.key}")
    assert compare(sample, response.json()) == []


async def test_contract_bulkfetch(
    client: httpx.AsyncClient, api: str, site: Site, samples: Path
) -> None:
    sample = load(samples, "search/bulkfetch.response.atlassian-example.json")
    issue = rich_issue(site)
    request = {"issueIdsOrKeys": [issue.key], "fields": ["summary", "project", "assignee"]}
    response = await client.post(f"{api}/issue/bulkfetch", json=request)
    assert compare(sample, response.json()) == []


async def test_contract_bulkfetch_missing_key(
    client: httpx.AsyncClient, api: str, site: Site, samples: Path
) -> None:
    sample = load(samples, "search/bulkfetch.response.missing-key-silently-dropped.real-2026.json")
    issue = rich_issue(site)
    request = {
        "issueIdsOrKeys": [issue.key, "ZZZZ-99999"],
        "fields": ["summary", "status"],
        "fieldsByKeys": False,
    }
    body = (await client.post(f"{api}/issue/bulkfetch", json=request)).json()
    assert compare(sample, body) == []
    assert len(body["issues"]) == 1


async def test_contract_changelog_bulkfetch(
    client: httpx.AsyncClient, api: str, site: Site, samples: Path
) -> None:
    sample = load(samples, "search/changelog_bulkfetch.response.atlassian-example.json")
    issue = rich_issue(site)
    site.edit_issue(issue, summary="Contract one", actor_id=site.app_account_id)
    site.edit_issue(issue, summary="Contract two", actor_id=site.app_account_id)
    request = {"issueIdsOrKeys": [issue.key], "fieldIds": ["summary"], "maxResults": 1}
    body = (await client.post(f"{api}/changelog/bulkfetch", json=request)).json()
    assert compare(sample, body) == []


async def test_contract_transitions(
    client: httpx.AsyncClient, api: str, site: Site, samples: Path
) -> None:
    sample = load(samples, "issues/transitions_list.real-2025.json")
    issue = rich_issue(site)
    body = (await client.get(f"{api}/issue/{issue.key}/transitions")).json()
    assert body["expand"] == "transitions"
    assert compare(sample, body["transitions"]) == []


async def test_contract_sprint_get(client: httpx.AsyncClient, site: Site, samples: Path) -> None:
    sample = load(samples, "agile/sprint_get.response.atlassian-example.json")
    sprint = next(
        item for item in site.sprints.values() if item.state == "closed" and item.goal is not None
    )
    body = (await client.get(f"/ex/jira/{site.cloud_id}/rest/agile/1.0/sprint/{sprint.id}")).json()
    assert compare(sample, body) == []


async def test_contract_board_sprints(client: httpx.AsyncClient, site: Site, samples: Path) -> None:
    sample = load(samples, "agile/board_sprints.response.atlassian-example.json")
    board = next(
        board_id
        for board_id in site.boards
        if all(
            sprint.goal is not None
            for sprint in site.sprints.values()
            if sprint.board_id == board_id
        )
    )
    params = {"startAt": 1, "maxResults": 2}
    body = (
        await client.get(
            f"/ex/jira/{site.cloud_id}/rest/agile/1.0/board/{board}/sprint", params=params
        )
    ).json()
    assert compare(sample, body) == []
