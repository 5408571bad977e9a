"""REST search: JQL subset, token paging, caps and bounded-query rejection."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import httpx

from jira_sandbox.model import World
from jira_sandbox.site import Site


async def walk(
    client: httpx.AsyncClient, api: str, body: dict[str, object]
) -> list[dict[str, object]]:
    issues: list[dict[str, object]] = []
    token = None
    for _ in range(100):
        request = dict(body)
        if token:
            request["nextPageToken"] = token
        response = await client.post(f"{api}/search/jql", json=request)
        assert response.status_code == 200, response.text
        page = response.json()
        issues.extend(page["issues"])
        if page["isLast"]:
            assert "nextPageToken" not in page
            return issues
        token = page["nextPageToken"]
    raise AssertionError("search walk did not end")


async def test_search_default_fields_id_only(client: httpx.AsyncClient, api: str) -> None:
    response = await client.get(f"{api}/search/jql", params={"jql": "project = CORE"})
    page = response.json()
    assert response.status_code == 200
    assert page["issues"][0] == {"id": page["issues"][0]["id"]}
    assert "total" not in page


async def test_search_paging_covers_all(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issues = await walk(
        client, api, {"jql": "project = CORE order by id", "maxResults": 7, "fields": ["summary"]}
    )
    expected = sorted(
        issue.id for issue in site.live_issues() if site.projects[issue.project_id].key == "CORE"
    )
    assert [int(str(issue["id"])) for issue in issues] == expected


async def test_search_repeated_token_same_page(client: httpx.AsyncClient, api: str) -> None:
    first = (
        await client.post(f"{api}/search/jql", json={"jql": "project = CORE", "maxResults": 5})
    ).json()
    token = first["nextPageToken"]
    again = (
        await client.post(
            f"{api}/search/jql", json={"jql": "project = CORE", "nextPageToken": token}
        )
    ).json()
    repeat = (
        await client.post(
            f"{api}/search/jql", json={"jql": "project = CORE", "nextPageToken": token}
        )
    ).json()
    assert again == repeat


async def test_search_caps_max_results(client: httpx.AsyncClient, api: str, world: World) -> None:
    with_fields = (
        await client.post(
            f"{api}/search/jql",
            json={"jql": "project in (CORE, WEB, OPS)", "maxResults": 1000, "fields": ["*all"]},
        )
    ).json()
    ids_only = (
        await client.post(
            f"{api}/search/jql", json={"jql": "project in (CORE, WEB, OPS)", "maxResults": 1000}
        )
    ).json()
    assert len(with_fields["issues"]) == 100
    assert len(ids_only["issues"]) == 120


async def test_search_unbounded_rejected(client: httpx.AsyncClient, api: str) -> None:
    for jql in ("", "order by key desc"):
        response = await client.post(f"{api}/search/jql", json={"jql": jql})
        assert response.status_code == 400
        assert response.json()["errors"] == {}
        assert "Unbounded" in response.json()["errorMessages"][0]


async def test_search_unknown_project_rejected(client: httpx.AsyncClient, api: str) -> None:
    response = await client.post(f"{api}/search/jql", json={"jql": "project = NOPE"})
    assert response.status_code == 400
    assert response.json()["errorMessages"] == [
        "The value 'NOPE' does not exist for the field 'project'."
    ]


async def test_search_updated_reads_profile_zone(
    client: httpx.AsyncClient, api: str, site: Site, world: World
) -> None:
    zone = world.accounts[site.app_account_id].time_zone
    issue = next(iter(site.live_issues()))
    local = dt.datetime.fromtimestamp(issue.updated_ms / 1000, ZoneInfo(zone))
    minute = local.replace(second=0, microsecond=0)
    literal = minute.strftime("%Y-%m-%d %H:%M")
    after = minute + dt.timedelta(minutes=1)
    body = {"jql": f'key = {issue.key} AND updated >= "{literal}"'}
    later = {"jql": f'key = {issue.key} AND updated >= "{after.strftime("%Y-%m-%d %H:%M")}"'}

    found = (await client.post(f"{api}/search/jql", json=body)).json()["issues"]
    missed = (await client.post(f"{api}/search/jql", json=later)).json()["issues"]
    assert [item["id"] for item in found] == [str(issue.id)]
    assert missed == []


async def test_search_updated_zone_differs_from_utc(
    client: httpx.AsyncClient, api: str, site: Site, world: World
) -> None:
    zone = world.accounts[site.app_account_id].time_zone
    assert zone == "Asia/Kolkata"
    issue = next(iter(site.live_issues()))
    utc_literal = dt.datetime.fromtimestamp(issue.updated_ms / 1000, dt.UTC).strftime(
        "%Y-%m-%d %H:%M"
    )
    body = {"jql": f'key = {issue.key} AND updated >= "{utc_literal}"'}
    found = (await client.post(f"{api}/search/jql", json=body)).json()["issues"]
    # A UTC wall time read as India time is 5h30 earlier, so the issue matches.
    assert [item["id"] for item in found] == [str(issue.id)]
    later_utc = dt.datetime.fromtimestamp(issue.updated_ms / 1000 + 3 * 3600, dt.UTC).strftime(
        "%Y-%m-%d %H:%M"
    )
    still = (
        await client.post(
            f"{api}/search/jql", json={"jql": f'key = {issue.key} AND updated >= "{later_utc}"'}
        )
    ).json()["issues"]
    assert [item["id"] for item in still] == [str(issue.id)]


async def test_search_epoch_millis(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issue = next(iter(site.live_issues()))
    at = (
        await client.post(
            f"{api}/search/jql",
            json={"jql": f"key = {issue.key} AND updated >= {issue.updated_ms}"},
        )
    ).json()
    after = (
        await client.post(
            f"{api}/search/jql", json={"jql": f"key = {issue.key} AND updated > {issue.updated_ms}"}
        )
    ).json()
    assert len(at["issues"]) == 1
    assert after["issues"] == []


async def test_search_or_parentheses_order(client: httpx.AsyncClient, api: str, site: Site) -> None:
    issues = sorted(site.live_issues(), key=lambda item: item.id)
    jql = (f"(key = {issues[0].key} OR id in ({issues[1].id}, {issues[2].id})) "
           "AND project in (CORE, WEB, OPS) ORDER BY id DESC")
    page = (await client.post(f"{api}/search/jql", json={"jql": jql, "fields": ["key"]})).json()
    assert [item["id"] for item in page["issues"]] == [
        str(issues[2].id),
        str(issues[1].id),
        str(issues[0].id),
    ]


async def test_search_changelog_expand_capped(
    client: httpx.AsyncClient, api: str, site: Site
) -> None:
    issue = next(iter(site.live_issues()))
    for number in range(25):
        site.edit_issue(issue, summary=f"Summary {number}")
    page = (
        await client.post(
            f"{api}/search/jql",
            json={"jql": f"key = {issue.key}", "fields": ["summary"], "expand": "changelog"},
        )
    ).json()
    changelog = page["issues"][0]["changelog"]
    assert len(changelog["histories"]) == 20
    assert changelog["total"] > 20


async def test_approximate_count(client: httpx.AsyncClient, api: str) -> None:
    response = await client.post(f"{api}/search/approximate-count", json={"jql": "project = CORE"})
    assert response.json() == {"count": 40}
