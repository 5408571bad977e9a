"""Site mutations: moves, deletes, hidden projects, workflows and the events they emit."""

from __future__ import annotations

import httpx
import pytest

from jira_sandbox.model import ChangeEvent, IssueRecord, JiraApiError
from jira_sandbox.site import Site
from jira_sandbox.truth import truth


def first_in(site: Site, project_key: str, *, level: int = 0) -> IssueRecord:
    return next(
        issue
        for issue in site.live_issues()
        if site.projects[issue.project_id].key == project_key
        and site.issue_types[issue.issue_type_id].hierarchy_level == level
    )


async def test_move_keeps_id_and_old_key(
    client: httpx.AsyncClient, api: str, site: Site, events: list[ChangeEvent]
) -> None:
    issue = first_in(site, "CORE")
    old_key = issue.key
    site.move_issue(issue, "WEB")

    moved = (await client.get(f"{api}/issue/{old_key}")).json()
    assert moved["id"] == str(issue.id)
    assert moved["key"].startswith("WEB-")
    event = events[-1]
    assert event.issue_event_type_name == "issue_moved"
    assert event.changelog is not None
    key_item = next(item for item in event.changelog["items"] if item["field"] == "Key")
    assert key_item["fromString"] == old_key
    assert key_item["toString"] == issue.key
    entry = next(item for item in truth(site) if item["id"] == str(issue.id))
    assert entry["old_keys"] == [old_key]


async def test_delete_then_404_and_omitted(
    client: httpx.AsyncClient, api: str, site: Site, events: list[ChangeEvent]
) -> None:
    issue = first_in(site, "CORE")
    site.delete_issue(issue)

    response = await client.get(f"{api}/issue/{issue.id}")
    search = (await client.post(f"{api}/search/jql", json={"jql": f"id = {issue.id}"})).json()
    assert response.status_code == 404
    assert search["issues"] == []
    assert events[-1].webhook_event == "jira:issue_deleted"
    assert events[-1].issue_event_type_name is None
    assert events[-1].changelog is None


async def test_hidden_project_vanishes(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = first_in(site, "CORE")
    site.hide_project(site.app_account_id, "CORE")

    response = await client.get(f"{api}/issue/{issue.key}")
    web = (
        await client.post(
            f"{api}/search/jql", json={"jql": "project in (WEB, OPS)", "maxResults": 500}
        )
    ).json()
    core = await client.post(f"{api}/search/jql", json={"jql": "project = CORE"})
    assert response.status_code == 404
    assert str(issue.id) not in {item["id"] for item in web["issues"]}
    assert core.status_code == 400
    assert all(entry["project"] != "CORE" for entry in truth(site))

    site.unhide_project(site.app_account_id, "CORE")
    assert (await client.get(f"{api}/issue/{issue.key}")).status_code == 200


async def test_no_path_workflow(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = first_in(site, "OPS")
    issue.status_id = "10005"
    listed = (await client.get(f"{api}/issue/{issue.key}/transitions")).json()["transitions"]
    assert [item["to"]["name"] for item in listed] == ["Parked"]
    with pytest.raises(JiraApiError):
        site.transition_path(issue, "Done")


def test_multi_step_emits_each_transition(site: Site, events: list[ChangeEvent]) -> None:
    issue = first_in(site, "OPS")
    if site.statuses[issue.status_id].name != "Backlog":
        issue.status_id = "10003"
    site.move_to_status(issue, "Done")
    statuses = [
        item["toString"]
        for event in events
        for item in (event.changelog or {}).get("items", [])
        if item["field"] == "status"
    ]
    assert statuses == ["Selected for Development", "In Progress", "Done"]
    assert {event.issue_event_type_name for event in events} == {"issue_generic"}


def test_updated_grows_strictly(site: Site) -> None:
    issue = first_in(site, "CORE")
    seen = [issue.updated_ms]
    for number in range(5):
        site.edit_issue(issue, summary=f"Quick {number}")
        seen.append(issue.updated_ms)
    assert seen == sorted(set(seen))


def test_history_ids_grow(site: Site) -> None:
    issue = first_in(site, "CORE")
    first = site.edit_issue(issue, summary="One")
    second = site.edit_issue(issue, summary="Two")
    assert first is not None
    assert second is not None
    assert second.id > first.id


def test_create_emits_created_event(site: Site, events: list[ChangeEvent]) -> None:
    issue = site.create_issue(
        project_key="CORE", issue_type="Bug", summary="Crash on save", labels=["customer"]
    )
    event = events[-1]
    assert event.webhook_event == "jira:issue_created"
    assert event.issue is not None
    assert event.issue["self"] == f"{site.url}/rest/api/2/{issue.id}"
    assert event.issue["fields"]["summary"] == "Crash on save"
    assert event.changelog is not None


def test_sprint_lifecycle_events(site: Site, events: list[ChangeEvent]) -> None:
    board_id = next(iter(site.boards))
    sprint = site.create_sprint(board_id, "New sprint", goal="Goal ✓")
    site.start_sprint(sprint.id)
    site.close_sprint(sprint.id)
    names = [event.webhook_event for event in events]
    assert names == [
        "sprint_created",
        "sprint_updated",
        "sprint_started",
        "sprint_updated",
        "sprint_closed",
    ]
    assert events[1].old_sprint is not None
    assert events[1].old_sprint["state"] == "future"


async def test_move_to_sprint_rest(
    client: httpx.AsyncClient, site: Site, events: list[ChangeEvent]
) -> None:
    issue = site.create_issue(project_key="CORE", issue_type="Story", summary="Sprint candidate")
    sprint = next(
        item
        for item in site.sprints.values()
        if item.state == "future" and site.boards[item.board_id].project_id == issue.project_id
    )
    response = await client.post(
        f"/ex/jira/{site.cloud_id}/rest/agile/1.0/sprint/{sprint.id}/issue",
        json={"issues": [issue.key]},
    )
    assert response.status_code == 204
    assert sprint.id in issue.sprint_ids
    assert events[-1].changelog is not None
    assert events[-1].changelog["items"][0]["fieldId"] == site.sprint_field_id


async def test_control_create_and_truth(client: httpx.AsyncClient, site: Site) -> None:
    base = f"/_sandbox/sites/{site.cloud_id}"
    created = await client.post(
        f"{base}/issues",
        json={
            "project": "WEB",
            "issuetype": "Task",
            "summary": "From control",
            "description": "Line one\nLine two",
        },
    )
    assert created.status_code == 201
    key = created.json()["key"]
    moved = await client.post(f"{base}/issues/{key}/move", json={"project": "CORE"})
    assert moved.status_code == 200
    entries = (await client.get(f"{base}/truth")).json()
    entry = next(item for item in entries if item["old_keys"] == [key])
    assert entry["summary"] == "From control"
    assert entry["updated"].endswith("Z")


async def test_clock_advance(client: httpx.AsyncClient, site: Site) -> None:
    before = (await client.get("/_sandbox/clock")).json()["now_ms"]
    after = (await client.post("/_sandbox/clock/advance", json={"days": 1})).json()["now_ms"]
    assert after - before >= 86_400_000
