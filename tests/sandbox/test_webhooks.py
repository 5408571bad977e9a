"""Dynamic webhook registration through the REST API, and the webhook JQL filter subset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jira_sandbox.app import create_app
from jira_sandbox.generator import build_world
from jira_sandbox.model import ChangeEvent, World
from jira_sandbox.webhooks import JqlFilterError, WebhookDispatcher, build_payload, parse_jql_filter

SCOPES = ["read:jira-work", "manage:jira-webhook", "offline_access"]
DAY_MS = 86_400_000


@pytest.fixture
def hooks_world() -> World:
    return build_world(9, sites=2, projects_per_site=1, issues=4, users=3, sprints_per_board=1)


@pytest.fixture
def cloud_id(hooks_world: World) -> str:
    return next(iter(hooks_world.sites))


@pytest.fixture
async def app_client(hooks_world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(hooks_world)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        yield http


@pytest.fixture
def auth(hooks_world: World, cloud_id: str, app_client: httpx.AsyncClient) -> dict[str, str]:
    return fresh_auth(hooks_world, cloud_id)


def fresh_auth(world: World, cloud_id: str) -> dict[str, str]:
    """Mint a new access token; tests that move the clock by days need one after the move."""
    assert world.oauth is not None
    account_id = world.sites[cloud_id].app_account_id
    pair = world.oauth.mint_for_tests(account_id, SCOPES)
    return {"Authorization": f"Bearer {pair.access_token}"}


def dispatcher_of(world: World) -> WebhookDispatcher:
    assert world.webhooks is not None
    return world.webhooks


async def register(
    client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str], webhooks: list[dict[str, Any]]
) -> httpx.Response:
    body = {"url": "http://127.0.0.1:1/hook", "webhooks": webhooks}
    return await client.post(f"/ex/jira/{cloud_id}/rest/api/3/webhook", json=body, headers=auth)


def issue_webhook(jql: str = "project = CORE") -> dict[str, Any]:
    return {"events": ["jira:issue_updated"], "jqlFilter": jql}


async def test_register_results_in_order(
    app_client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str]
) -> None:
    webhooks = [
        {"events": ["jira:issue_created", "jira:issue_updated"], "jqlFilter": "project = CORE"},
        {"events": ["jira:issue_deleted"], "jqlFilter": "watchCount > 1"},
        {"events": ["comment_created"], "jqlFilter": "project IN (CORE, EXP) AND status = done"},
    ]

    response = await register(app_client, cloud_id, auth, webhooks)

    results = response.json()["webhookRegistrationResult"]
    assert response.status_code == 200
    assert list(results[0]) == ["createdWebhookId"]
    assert results[1] == {"errors": ["The clause watchCount is unsupported"]}
    assert results[2]["createdWebhookId"] > results[0]["createdWebhookId"]


async def test_register_unknown_event(
    app_client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str]
) -> None:
    webhooks = [{"events": ["board_created"], "jqlFilter": "project = CORE"}]

    response = await register(app_client, cloud_id, auth, webhooks)

    assert response.status_code == 200
    assert "errors" in response.json()["webhookRegistrationResult"][0]


async def test_register_missing_url(
    app_client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str]
) -> None:
    body = {"webhooks": [issue_webhook()]}

    response = await app_client.post(
        f"/ex/jira/{cloud_id}/rest/api/3/webhook", json=body, headers=auth
    )

    assert response.status_code == 400
    assert response.json()["errorMessages"]


async def test_register_needs_token(app_client: httpx.AsyncClient, cloud_id: str) -> None:
    response = await register(app_client, cloud_id, {}, [issue_webhook()])

    assert response.status_code == 401


async def test_register_needs_webhook_scope(
    app_client: httpx.AsyncClient, hooks_world: World, cloud_id: str
) -> None:
    assert hooks_world.oauth is not None
    account_id = hooks_world.sites[cloud_id].app_account_id
    pair = hooks_world.oauth.mint_for_tests(account_id, ["read:jira-work"])
    auth = {"Authorization": f"Bearer {pair.access_token}"}

    response = await register(app_client, cloud_id, auth, [issue_webhook()])

    assert response.status_code == 401


async def test_list_pages(
    app_client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str]
) -> None:
    await register(app_client, cloud_id, auth, [issue_webhook() for _ in range(3)])
    url = f"/ex/jira/{cloud_id}/rest/api/3/webhook"

    first = (await app_client.get(url, params={"maxResults": 2}, headers=auth)).json()
    second = (
        await app_client.get(url, params={"startAt": 2, "maxResults": 2}, headers=auth)
    ).json()

    assert list(first) == ["isLast", "maxResults", "startAt", "total", "values"]
    assert first["isLast"] is False
    assert first["total"] == 3
    assert len(first["values"]) == 2
    assert second["isLast"] is True
    assert len(second["values"]) == 1
    assert set(first["values"][0]) == {"events", "expirationDate", "id", "jqlFilter"}


async def test_list_shows_field_filter(
    app_client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str]
) -> None:
    webhook = issue_webhook() | {"fieldIdsFilter": ["summary"]}
    await register(app_client, cloud_id, auth, [webhook])

    response = await app_client.get(f"/ex/jira/{cloud_id}/rest/api/3/webhook", headers=auth)

    assert response.json()["values"][0]["fieldIdsFilter"] == ["summary"]


async def test_delete_webhooks(
    app_client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str]
) -> None:
    created = (
        await register(app_client, cloud_id, auth, [issue_webhook(), issue_webhook()])
    ).json()
    first_id = created["webhookRegistrationResult"][0]["createdWebhookId"]
    url = f"/ex/jira/{cloud_id}/rest/api/3/webhook"

    deleted = await app_client.request(
        "DELETE", url, json={"webhookIds": [first_id, 999999]}, headers=auth
    )

    listed = (await app_client.get(url, headers=auth)).json()
    assert deleted.status_code == 202
    assert listed["total"] == 1
    assert listed["values"][0]["id"] != first_id


async def test_delete_needs_ids(
    app_client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str]
) -> None:
    url = f"/ex/jira/{cloud_id}/rest/api/3/webhook"

    response = await app_client.request("DELETE", url, json={}, headers=auth)

    assert response.status_code == 400


async def test_refresh_extends_expiry(
    app_client: httpx.AsyncClient, hooks_world: World, cloud_id: str, auth: dict[str, str]
) -> None:
    created = (await register(app_client, cloud_id, auth, [issue_webhook()])).json()
    webhook_id = created["webhookRegistrationResult"][0]["createdWebhookId"]
    hooks_world.clock.advance(days=20)

    response = await app_client.put(
        f"/ex/jira/{cloud_id}/rest/api/3/webhook/refresh",
        json={"webhookIds": [webhook_id, 424242]},
        headers=fresh_auth(hooks_world, cloud_id),
    )

    expiration = response.json()["expirationDate"]
    assert response.status_code == 200
    assert abs(expiration - (hooks_world.clock.peek_ms() + 30 * DAY_MS)) < 60_000
    assert dispatcher_of(hooks_world).registrations(cloud_id)[0].expires_ms == expiration


async def test_refreshed_webhook_outlives_30_days(
    app_client: httpx.AsyncClient, hooks_world: World, cloud_id: str, auth: dict[str, str]
) -> None:
    created = (await register(app_client, cloud_id, auth, [issue_webhook()])).json()
    webhook_id = created["webhookRegistrationResult"][0]["createdWebhookId"]
    url = f"/ex/jira/{cloud_id}/rest/api/3/webhook"
    hooks_world.clock.advance(days=20)
    await app_client.put(
        f"{url}/refresh",
        json={"webhookIds": [webhook_id]},
        headers=fresh_auth(hooks_world, cloud_id),
    )
    hooks_world.clock.advance(days=20)

    listed = (await app_client.get(url, headers=fresh_auth(hooks_world, cloud_id))).json()

    assert listed["total"] == 1


async def test_webhook_expires_after_30_days(
    app_client: httpx.AsyncClient, hooks_world: World, cloud_id: str, auth: dict[str, str]
) -> None:
    await register(app_client, cloud_id, auth, [issue_webhook()])
    hooks_world.clock.advance(days=30, seconds=1)

    listed = (
        await app_client.get(
            f"/ex/jira/{cloud_id}/rest/api/3/webhook", headers=fresh_auth(hooks_world, cloud_id)
        )
    ).json()

    assert listed["total"] == 0
    assert dispatcher_of(hooks_world).live_registrations(cloud_id) == []


async def test_expired_webhook_stops_delivering(
    app_client: httpx.AsyncClient, hooks_world: World, cloud_id: str, auth: dict[str, str]
) -> None:
    await register(app_client, cloud_id, auth, [issue_webhook()])
    hooks_world.clock.advance(days=31)
    site = hooks_world.sites[cloud_id]
    issue = next(site.live_issues())

    site.edit_issue(issue, summary="changed after expiry")

    assert dispatcher_of(hooks_world).stats(cloud_id).scheduled == 0


async def test_expiration_as_date_string(hooks_world: World, cloud_id: str) -> None:
    dispatcher = WebhookDispatcher(
        hooks_world, client_secret="s", client_id="c", expiration_date_format="iso"
    )
    account_id = hooks_world.sites[cloud_id].app_account_id
    dispatcher.register(cloud_id, account_id, "http://127.0.0.1:1/hook", [issue_webhook()])

    value = dispatcher._registration_json(dispatcher.registrations(cloud_id)[0])

    assert isinstance(value["expirationDate"], str)
    assert value["expirationDate"].endswith("+0000")


async def test_failed_list_empty(
    app_client: httpx.AsyncClient, cloud_id: str, auth: dict[str, str]
) -> None:
    response = await app_client.get(f"/ex/jira/{cloud_id}/rest/api/3/webhook/failed", headers=auth)

    assert response.json() == {"values": [], "maxResults": 100}


async def test_admin_webhook_control_paths(app_client: httpx.AsyncClient, cloud_id: str) -> None:
    url = f"/_sandbox/sites/{cloud_id}/admin-webhooks"

    created = await app_client.post(
        url, json={"name": "ops", "url": "http://127.0.0.1:1/admin", "secret": "s3cret"}
    )
    listed = (await app_client.get(url)).json()
    deleted = await app_client.delete(f"{url}/{created.json()['id']}")

    assert created.status_code == 201
    assert listed[0]["hasSecret"] is True
    assert "s3cret" not in str(listed)
    assert deleted.status_code == 204
    assert (await app_client.get(url)).json() == []


# JQL filter subset

ISSUE: dict[str, Any] = {
    "id": "10001",
    "key": "CORE-7",
    "fields": {
        "project": {"id": "10000", "key": "CORE", "name": "Core"},
        "issuetype": {"id": "10002", "name": "Bug"},
        "status": {"id": "3", "name": "In Progress"},
        "assignee": {"accountId": "acc-1"},
        "reporter": None,
    },
}

MATCH_CASES = [
    ("project = CORE", True),
    ("project = core", True),
    ("project = 10000", True),
    ('project = "Core"', True),
    ("project != CORE", False),
    ("project IN (EXP, CORE)", True),
    ("project NOT IN (EXP, CORE)", False),
    ("project != null", True),
    ("issuetype = Bug AND status = 'In Progress'", True),
    ("issuetype = Task OR status = 3", True),
    ("issuetype = Task OR (status = 3 AND assignee = acc-2)", False),
    ("assignee = acc-1", True),
    ("assignee = EMPTY", False),
    ("reporter = EMPTY", True),
    ("reporter != acc-1", False),
    ("issueKey = CORE-7", True),
    ("key IN (CORE-8, CORE-9)", False),
    ("type = bug", True),
]


@pytest.mark.parametrize(("jql", "expected"), MATCH_CASES)
def test_jql_filter_matches(jql: str, expected: bool) -> None:
    assert parse_jql_filter(jql).matches(ISSUE) is expected


ERROR_CASES = [
    ("watchCount > 1", "The clause watchCount is unsupported"),
    ("labels = x", "The clause labels is unsupported"),
    ("project ~ CORE", "The operator '~' is unsupported"),
    ("project IS EMPTY", "The operator 'IS' is unsupported"),
    ("project = CORE ORDER BY key", "The clause ORDER BY is unsupported"),
    ("assignee = currentUser()", "The function currentUser() is unsupported"),
    ("", "The JQL filter is empty; use a bounded filter such as 'project != null'"),
]


@pytest.mark.parametrize(("jql", "message"), ERROR_CASES)
def test_jql_filter_rejects(jql: str, message: str) -> None:
    with pytest.raises(JqlFilterError) as caught:
        parse_jql_filter(jql)

    assert str(caught.value) == message


# Payload building

ACTOR = {"accountId": "acc-1", "displayName": "Alex Example"}


def test_payload_deleted_has_no_event_type() -> None:
    event = ChangeEvent(
        cloud_id="c",
        webhook_event="jira:issue_deleted",
        timestamp_ms=1,
        actor=ACTOR,
        issue_event_type_name="issue_deleted",
        issue=ISSUE,
        changelog={"id": "1", "items": []},
    )

    payload = build_payload(event)

    assert list(payload) == ["timestamp", "webhookEvent", "user", "issue"]


def test_payload_updated_key_order() -> None:
    event = ChangeEvent(
        cloud_id="c",
        webhook_event="jira:issue_updated",
        timestamp_ms=1,
        actor=ACTOR,
        issue_event_type_name="issue_updated",
        issue=ISSUE,
        changelog={"id": "1", "items": []},
    )

    payload = build_payload(event, matched_webhook_ids=[10000])

    expected = [
        "timestamp",
        "webhookEvent",
        "issue_event_type_name",
        "user",
        "issue",
        "changelog",
        "matchedWebhookIds",
    ]
    assert list(payload) == expected
    assert payload["matchedWebhookIds"] == [10000]


def test_payload_comment_trims_issue() -> None:
    event = ChangeEvent(
        cloud_id="c",
        webhook_event="comment_created",
        timestamp_ms=1,
        actor=ACTOR,
        issue=ISSUE | {"fields": ISSUE["fields"] | {"labels": ["x"], "summary": "s"}},
        comment={"id": "5", "body": "hello"},
    )

    payload = build_payload(event)

    assert list(payload) == ["timestamp", "webhookEvent", "comment", "issue"]
    assert "labels" not in payload["issue"]["fields"]
    assert payload["issue"]["fields"]["summary"] == "s"


def test_payload_sprint_deleted_drops_self() -> None:
    sprint = {"id": 3, "self": "https://x/rest/agile/1.0/sprint/3", "state": "future"}
    event = ChangeEvent(
        cloud_id="c", webhook_event="sprint_deleted", timestamp_ms=1, actor=ACTOR, sprint=sprint
    )

    payload = build_payload(event)

    assert "self" not in payload["sprint"]
    assert "user" not in payload


def test_payload_sprint_updated_old_value() -> None:
    event = ChangeEvent(
        cloud_id="c",
        webhook_event="sprint_updated",
        timestamp_ms=1,
        actor=ACTOR,
        sprint={"id": 3, "state": "active"},
        old_sprint={"id": 3, "state": "future"},
    )

    payload = build_payload(event)

    assert payload["oldValue"] == {"id": 3, "state": "future"}
