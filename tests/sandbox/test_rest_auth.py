"""REST authentication through the OAuth server, time zones per caller, and render speed."""

from __future__ import annotations

import time

import httpx

from jira_sandbox.app import create_app
from jira_sandbox.model import World
from jira_sandbox.site import Site

SCOPES = [
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "read:sprint:jira-software",
    "offline_access",
]


def second_admin(world: World, site: Site) -> str:
    return next(
        account.account_id
        for account in world.accounts.values()
        if account.account_id != site.app_account_id
    )


async def test_rest_requires_bearer(world: World, site: Site) -> None:
    app = create_app(world)
    assert world.oauth is not None
    token = world.oauth.mint_for_tests(site.app_account_id, SCOPES).access_token
    api = f"/ex/jira/{site.cloud_id}/rest/api/3"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
    ) as http:
        anonymous = await http.get(f"{api}/myself")
        authorized = await http.get(f"{api}/myself", headers={"Authorization": f"Bearer {token}"})
    assert anonymous.status_code == 401
    assert authorized.status_code == 200
    assert authorized.json()["accountId"] == site.app_account_id


async def test_rest_scope_checked(world: World, site: Site) -> None:
    app = create_app(world)
    assert world.oauth is not None
    token = world.oauth.mint_for_tests(site.app_account_id, ["read:jira-work"]).access_token
    issue = next(iter(site.live_issues()))
    api = f"/ex/jira/{site.cloud_id}/rest/api/3"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
    ) as http:
        write = await http.put(
            f"{api}/issue/{issue.key}",
            json={"fields": {"summary": "x"}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert write.status_code == 401
    assert site.write_log[-1]["status"] == 401


async def test_timestamps_in_caller_zone(
    client: httpx.AsyncClient, api: str, world: World, site: Site
) -> None:
    issue = next(iter(site.live_issues()))
    other = second_admin(world, site)
    site.users.setdefault(other, site.users[site.app_account_id])
    mine = (await client.get(f"{api}/issue/{issue.key}", params={"fields": "created"})).json()
    theirs = (
        await client.get(
            f"{api}/issue/{issue.key}",
            params={"fields": "created"},
            headers={"X-Sandbox-Account": other},
        )
    ).json()
    assert mine["fields"]["created"].endswith("+0530")
    assert theirs["fields"]["created"][-5:] in {"-0500", "-0400"}


async def test_search_page_render_time(client: httpx.AsyncClient, api: str) -> None:
    body = {"jql": "project in (CORE, WEB, OPS)", "fields": ["*all"], "maxResults": 100}
    await client.post(f"{api}/search/jql", json=body)
    started = time.perf_counter()
    response = await client.post(f"{api}/search/jql", json=body)
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(
        f"search/jql page of {len(response.json()['issues'])} issues with all fields: "
        f"{elapsed_ms:.1f} ms (cached)"
    )
    assert response.status_code == 200
