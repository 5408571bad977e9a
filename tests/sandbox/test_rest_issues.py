"""REST issue reads and writes: GET, bulkfetch, edit validation, transitions, assignee, comments."""

from __future__ import annotations

import httpx

from jira_sandbox.model import ChangeEvent, IssueRecord
from jira_sandbox.site import Site

NOT_FOUND = {
    "errorMessages": ["Issue does not exist or you do not have permission to see it."],
    "errors": {},
}


def first_in(site: Site, project_key: str, *, level: int = 0) -> IssueRecord:
    return next(
        issue
        for issue in site.live_issues()
        if site.projects[issue.project_id].key == project_key
        and site.issue_types[issue.issue_type_id].hierarchy_level == level
    )


async def test_get_issue_all_fields(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = first_in(site, "CORE")
    body = (await client.get(f"{api}/issue/{issue.key}")).json()
    assert body["id"] == str(issue.id)
    assert body["self"].endswith(f"/rest/api/3/issue/{issue.id}")
    assert body["fields"]["summary"] == issue.summary
    assert body["fields"]["created"].endswith("+0530")
    assert site.sprint_field_id in body["fields"]


async def test_get_issue_unknown_404(client: httpx.AsyncClient, api: str) -> None:
    response = await client.get(f"{api}/issue/CORE-99999")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_get_issue_field_selection(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = first_in(site, "CORE")
    body = (await client.get(f"{api}/issue/{issue.id}", params={"fields": "summary,status"})).json()
    assert set(body["fields"]) == {"summary", "status"}


async def test_bulkfetch_sorted_and_drops_unknown(
    client: httpx.AsyncClient, api: str, site: Site
) -> None:
    issues = sorted(site.live_issues(), key=lambda item: item.id)[:3]
    request = {
        "issueIdsOrKeys": [issues[2].key, "ZZZZ-99999", str(issues[0].id), issues[1].key.lower()],
        "fields": ["summary"],
    }
    body = (await client.post(f"{api}/issue/bulkfetch", json=request)).json()
    assert [item["id"] for item in body["issues"]] == [str(issue.id) for issue in issues]
    assert body["issueErrors"] == []


async def test_bulkfetch_over_limit_400(client: httpx.AsyncClient, api: str) -> None:
    response = await client.post(
        f"{api}/issue/bulkfetch", json={"issueIdsOrKeys": [str(n) for n in range(101)]}
    )
    assert response.status_code == 400


async def test_edit_summary_and_labels(
    client: httpx.AsyncClient, api: str, site: Site, events: list[ChangeEvent]
) -> None:
    issue = first_in(site, "CORE")
    before = issue.updated_ms
    body = {
        "fields": {"summary": "Renamed"},
        "update": {"labels": [{"add": "triaged"}, {"remove": "backend"}]},
    }
    response = await client.put(
        f"{api}/issue/{issue.key}", json=body, headers={"X-Naumu-Edit-Id": "edit-1"}
    )
    assert response.status_code == 204
    assert issue.summary == "Renamed"
    assert "triaged" in issue.labels
    assert "backend" not in issue.labels
    assert issue.updated_ms > before
    assert [event.issue_event_type_name for event in events] == ["issue_updated"]
    assert site.write_log[-1]["edit_id"] == "edit-1"
    assert site.write_log[-1]["status"] == 204


async def test_edit_label_with_space_rejected(
    client: httpx.AsyncClient, api: str, site: Site
) -> None:
    issue = first_in(site, "CORE")
    response = await client.put(
        f"{api}/issue/{issue.key}", json={"update": {"labels": [{"add": "two words"}]}}
    )
    assert response.status_code == 400
    assert response.json()["errorMessages"] == []
    assert "labels" in response.json()["errors"]


async def test_edit_status_field_rejected(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = first_in(site, "CORE")
    response = await client.put(
        f"{api}/issue/{issue.key}", json={"fields": {"status": {"id": "3"}}}
    )
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


async def test_edit_field_in_both_rejected(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = first_in(site, "CORE")
    body = {"fields": {"summary": "A"}, "update": {"summary": [{"set": "B"}]}}
    response = await client.put(f"{api}/issue/{issue.key}", json=body)
    assert response.status_code == 400
    assert "summary" in response.json()["errors"]


async def test_edit_bad_priority_and_long_summary(
    client: httpx.AsyncClient, api: str, site: Site
) -> None:
    issue = first_in(site, "CORE")
    priority = await client.put(
        f"{api}/issue/{issue.key}", json={"fields": {"priority": {"id": "99"}}}
    )
    summary = await client.put(f"{api}/issue/{issue.key}", json={"fields": {"summary": "x" * 256}})
    assert priority.status_code == 400
    assert "priority" in priority.json()["errors"]
    assert summary.status_code == 400
    assert "summary" in summary.json()["errors"]


async def test_edit_description_string_rejected(
    client: httpx.AsyncClient, api: str, site: Site
) -> None:
    issue = first_in(site, "CORE")
    response = await client.put(
        f"{api}/issue/{issue.key}", json={"fields": {"description": "plain"}}
    )
    assert response.status_code == 400


async def test_transition_requires_resolution(
    client: httpx.AsyncClient, api: str, site: Site
) -> None:
    issue = first_in(site, "CORE")
    site.move_to_status(issue, "In Progress")
    listed = (
        await client.get(
            f"{api}/issue/{issue.key}/transitions", params={"expand": "transitions.fields"}
        )
    ).json()
    done = next(item for item in listed["transitions"] if item["name"] == "Done")
    assert done["fields"]["resolution"]["required"] is True

    missing = await client.post(
        f"{api}/issue/{issue.key}/transitions", json={"transition": {"id": done["id"]}}
    )
    assert missing.status_code == 400
    ok = await client.post(
        f"{api}/issue/{issue.key}/transitions",
        json={"transition": {"id": done["id"]}, "fields": {"resolution": {"name": "Done"}}},
    )
    assert ok.status_code == 204
    assert site.statuses[issue.status_id].name == "Done"
    assert issue.resolution_id == "10000"


async def test_transition_unavailable_rejected(
    client: httpx.AsyncClient, api: str, site: Site
) -> None:
    issue = first_in(site, "CORE")
    site.move_to_status(issue, "To Do")
    response = await client.post(
        f"{api}/issue/{issue.key}/transitions", json={"transition": {"id": "31"}}
    )
    assert response.status_code == 400


async def test_assignee_put_and_unknown(
    client: httpx.AsyncClient, api: str, site: Site, events: list[ChangeEvent]
) -> None:
    issue = first_in(site, "CORE")
    target = next(
        user.account_id
        for user in site.users.values()
        if user.active and user.account_id != issue.assignee_id and user.account_type == "atlassian"
    )
    ok = await client.put(f"{api}/issue/{issue.key}/assignee", json={"accountId": target})
    unknown = await client.put(
        f"{api}/issue/{issue.key}/assignee", json={"accountId": "5b10ac8d82e05b22cc7dffff"}
    )
    cleared = await client.put(f"{api}/issue/{issue.key}/assignee", json={"accountId": None})
    assert ok.status_code == 204
    assert unknown.status_code == 404
    assert cleared.status_code == 204
    assert issue.assignee_id is None
    assert events[0].issue_event_type_name == "issue_assigned"


async def test_comments_paged_beyond_embedded(
    client: httpx.AsyncClient, api: str, site: Site
) -> None:
    issue = first_in(site, "CORE")
    for number in range(25):
        site.add_comment(
            issue,
            {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": f"c{number}"}]}
                ],
            },
        )
    embedded = (await client.get(f"{api}/issue/{issue.key}", params={"fields": "comment"})).json()[
        "fields"
    ]["comment"]
    paged = (
        await client.get(
            f"{api}/issue/{issue.key}/comment", params={"startAt": 20, "maxResults": 50}
        )
    ).json()
    assert len(embedded["comments"]) == 20
    assert embedded["total"] == len(issue.comments)
    assert paged["total"] == len(issue.comments)
    assert len(paged["comments"]) == len(issue.comments) - 20


async def test_changelog_paged(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = first_in(site, "CORE")
    for number in range(5):
        site.edit_issue(issue, summary=f"S{number}")
    page = (await client.get(f"{api}/issue/{issue.key}/changelog", params={"maxResults": 2})).json()
    ids = [int(item["id"]) for item in page["values"]]
    assert page["isLast"] is False
    assert page["total"] == len(issue.histories)
    assert ids == sorted(ids)


async def test_changelog_bulkfetch_filters(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = first_in(site, "CORE")
    site.edit_issue(issue, summary="Changed once")
    site.edit_issue(issue, priority_id="1" if issue.priority_id != "1" else "2")
    body = (
        await client.post(
            f"{api}/changelog/bulkfetch",
            json={"issueIdsOrKeys": [issue.key], "fieldIds": ["summary"]},
        )
    ).json()
    items = [
        item
        for entry in body["issueChangeLogs"]
        for history in entry["changeHistories"]
        for item in history["items"]
    ]
    assert items
    assert {item["fieldId"] for item in items} == {"summary"}


async def test_field_catalogue_sprint(client: httpx.AsyncClient, api: str, site: Site) -> None:
    fields = (await client.get(f"{api}/field")).json()
    sprint = [
        item["id"]
        for item in fields
        if item.get("schema", {}).get("custom") == "com.pyxis.greenhopper.jira:gh-sprint"
    ]
    assert sprint == [site.sprint_field_id]


async def test_catalogue_endpoints(client: httpx.AsyncClient, api: str) -> None:
    priorities = (await client.get(f"{api}/priority")).json()
    projects = (await client.get(f"{api}/project/search", params={"maxResults": 2})).json()
    myself = await client.get(f"{api}/myself")
    assert [item["id"] for item in priorities] == ["1", "2", "3", "4", "5"]
    assert projects["isLast"] is False
    assert projects["total"] == 3
    assert myself.status_code == 200
