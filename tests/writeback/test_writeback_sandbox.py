"""Write-back round trips against the Jira sandbox, through the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from jira_sandbox.app import build_world, create_app
from jira_sandbox.faults import FaultConfig
from jira_sandbox.model import IssueRecord, World
from jira_sandbox.site import Site
from jiraclient.client import JiraClient
from jiraclient.retry import RetryPolicy
from projections.adf import adf_to_markdown
from streams.contract import EditField, EditRequested, WritebackResult
from writeback.executor import EditTarget, InMemoryLedger, apply_edit
from writeback.plan import WritebackConfig

CLASSIC = "10100"
IN_PROGRESS = "3"
TO_DO = "10000"


@pytest.fixture
def world() -> World:
    return build_world(5, sites=1, projects_per_site=2, issues=40, users=6, sprints_per_board=3)


@pytest.fixture
def site(world: World) -> Site:
    return next(iter(world.sites.values()))


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(world, require_auth=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
    ) as client:
        yield client


@pytest.fixture
def jira(site: Site, http: httpx.AsyncClient) -> JiraClient:
    async def tokens(stale: str | None = None) -> str:
        return "sandbox-token"

    async def no_sleep(seconds: float) -> None:
        return None

    return JiraClient(
        site.cloud_id,
        tokens=tokens,
        http=http,
        api_url="http://sandbox.test",
        priority="writeback",
        retry_policy=RetryPolicy(max_attempts=8),
        sleep=no_sleep,
    )


class Lookup:
    def __init__(self, target: EditTarget) -> None:
        self._target = target

    async def target(self, edit: EditRequested) -> EditTarget:
        return self._target


def find_issue(site: Site, predicate: Callable[[IssueRecord], bool]) -> IssueRecord:
    for issue in site.live_issues():
        if predicate(issue):
            return issue
    pytest.skip("the generated site has no issue of the kind this test needs")


def is_standard(site: Site, issue: IssueRecord) -> bool:
    return site.issue_types[issue.issue_type_id].hierarchy_level == 0


async def current_issue(jira: JiraClient, issue: IssueRecord) -> dict[str, Any]:
    return await jira.get_issue(str(issue.id))


async def write(
    jira: JiraClient,
    site: Site,
    issue: IssueRecord,
    field: EditField,
    value: Any,
    base: Any,
    *,
    edit_id: str = "edit-1",
    ledger: InMemoryLedger | None = None,
    **maps: dict[str, str],
) -> WritebackResult:
    edit = EditRequested(
        edit_id=edit_id,
        space_id="space-1",
        node_id=f"node-{issue.id}",
        user_id="user-1",
        field=field,
        value=value,
        base=base,
    )
    target = EditTarget(cloud_id=site.cloud_id, issue_id=str(issue.id), **maps)  # type: ignore[arg-type]

    async def no_sleep(seconds: float) -> None:
        return None

    applied = await apply_edit(
        edit,
        client=jira,
        lookup=Lookup(target),
        ledger=ledger or InMemoryLedger(),
        config=WritebackConfig(sprint_field_id=site.sprint_field_id),
        policy=RetryPolicy(max_attempts=12, max_elapsed_s=10_000.0),
        sleep=no_sleep,
    )
    return applied.result


async def test_sandbox_label_written(jira: JiraClient, site: Site) -> None:
    issue = find_issue(site, lambda i: True)
    result = await write(jira, site, issue, "label", "Renamed from Naumu", issue.summary)
    assert result.outcome == "applied"
    assert (await current_issue(jira, issue))["fields"]["summary"] == "Renamed from Naumu"


async def test_sandbox_content_keeps_other_blocks(jira: JiraClient, site: Site) -> None:
    issue = find_issue(
        site, lambda i: len((site.description_of(i) or {}).get("content") or []) >= 2
    )
    before = (await current_issue(jira, issue))["fields"]["description"]
    markdown = adf_to_markdown(before)
    result = await write(
        jira, site, issue, "content", markdown + "\n\nA new closing line.", markdown
    )
    after = (await current_issue(jira, issue))["fields"]["description"]
    assert result.outcome == "applied"
    assert after["content"][: len(before["content"])] == before["content"]
    assert after["content"][-1]["content"][0]["text"] == "A new closing line."


async def test_sandbox_priority_by_name(jira: JiraClient, site: Site) -> None:
    issue = find_issue(site, lambda i: i.priority_id is not None)
    current = site.priorities[str(issue.priority_id)].name
    other = next(p.name for p in site.priorities.values() if p.name != current)
    result = await write(jira, site, issue, "Priority", other, current)
    assert result.outcome == "applied"
    assert (await current_issue(jira, issue))["fields"]["priority"]["name"] == other


async def test_sandbox_labels_add_remove(jira: JiraClient, site: Site) -> None:
    issue = find_issue(site, lambda i: True)
    base = list(issue.labels)
    value = [*base[1:], "from-naumu"]
    result = await write(jira, site, issue, "Labels", value, base)
    assert result.outcome == "applied"
    assert sorted((await current_issue(jira, issue))["fields"]["labels"]) == sorted(value)


async def test_sandbox_status_with_resolution(jira: JiraClient, site: Site) -> None:
    issue = find_issue(
        site, lambda i: site.workflow_of(i).id == CLASSIC and i.status_id == IN_PROGRESS
    )
    result = await write(jira, site, issue, "Status", "Done", "In Progress")
    fields = (await current_issue(jira, issue))["fields"]
    assert result.outcome == "applied"
    assert fields["status"]["name"] == "Done"
    assert fields["resolution"] is not None


async def test_sandbox_status_without_path(jira: JiraClient, site: Site) -> None:
    issue = find_issue(site, lambda i: site.workflow_of(i).id == CLASSIC and i.status_id == TO_DO)
    result = await write(jira, site, issue, "Status", "In Review", "To Do")
    assert result.outcome == "rejected"
    assert result.reason == "no transition path from 'To Do' to 'In Review'"
    assert site.write_log == []


async def test_sandbox_assignee_by_member(jira: JiraClient, site: Site) -> None:
    issue = find_issue(site, lambda i: i.assignee_id is not None)
    other = next(account for account in site.users if account != issue.assignee_id)
    members = {"node-old": str(issue.assignee_id), "node-new": other}
    result = await write(jira, site, issue, "assignee", "node-new", "node-old", members=members)
    assert result.outcome == "applied"
    assert (await current_issue(jira, issue))["fields"]["assignee"]["accountId"] == other


async def test_sandbox_parent_set(jira: JiraClient, site: Site) -> None:
    epic = find_issue(site, lambda i: site.issue_types[i.issue_type_id].hierarchy_level == 1)
    issue = find_issue(
        site,
        lambda i: is_standard(site, i) and i.parent_id is None and i.project_id == epic.project_id,
    )
    issue_ids = {"node-epic": str(epic.id)}
    result = await write(jira, site, issue, "parent", "node-epic", None, issue_ids=issue_ids)
    assert result.outcome == "applied"
    assert (await current_issue(jira, issue))["fields"]["parent"]["id"] == str(epic.id)


async def test_sandbox_sprint_move(jira: JiraClient, site: Site) -> None:
    issue = find_issue(site, lambda i: is_standard(site, i) and not i.sprint_ids)
    sprint = next(
        s
        for s in site.sprints.values()
        if s.state == "future" and site.boards[s.board_id].project_id == issue.project_id
    )
    sprint_ids = {"node-sprint": str(sprint.id)}
    result = await write(jira, site, issue, "sprint", "node-sprint", None, sprint_ids=sprint_ids)
    sprints = (await current_issue(jira, issue))["fields"][site.sprint_field_id]
    assert result.outcome == "applied"
    assert sprint.id in [item["id"] for item in sprints]


async def test_sandbox_storm_applies_each_once(world: World, jira: JiraClient, site: Site) -> None:
    assert world.faults is not None
    world.faults.set(
        site.cloud_id,
        FaultConfig(rate_limit_rate=0.3, server_error_rate=0.3, retry_after_s=0, seed=7),
    )
    issues = [issue for issue in site.live_issues()][:8]
    ledger = InMemoryLedger()
    results = []
    for index, issue in enumerate(issues):
        edit_id = f"edit-storm-{index}"
        for _ in range(2):
            results.append(
                await write(
                    jira,
                    site,
                    issue,
                    "label",
                    f"Storm {index}",
                    issue.summary,
                    edit_id=edit_id,
                    ledger=ledger,
                )
            )

    applied = [entry for entry in site.write_log if entry["status"] == 204]
    assert {result.outcome for result in results} == {"applied"}
    assert sorted(entry["edit_id"] for entry in applied) == sorted(
        f"edit-storm-{i}" for i in range(8)
    )
    assert world.faults.rest_stats(site.cloud_id).rate_limited > 0
