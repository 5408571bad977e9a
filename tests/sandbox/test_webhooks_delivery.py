"""Webhook deliveries to a real HTTP receiver served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jira_sandbox.app import create_app
from jira_sandbox.faults import FaultConfig
from jira_sandbox.generator import build_world
from jira_sandbox.model import World
from jira_sandbox.site import Site
from jira_sandbox.webhooks import WebhookDispatcher

CLIENT_ID = "hooks-client"
CLIENT_SECRET = "hooks-secret-long-enough-for-hs256-keys"
SCOPES = ["read:jira-work", "write:jira-work", "manage:jira-webhook"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


@dataclass
class Receiver:
    """A webhook receiver that returns the `statuses` in order, then 200."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            headers = {key.lower(): value for key, value in request.headers.items()}
            self.requests.append(Received(headers, await request.body()))
            status = self.statuses.pop(0) if self.statuses else 200
            return Response(status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    port = free_port()
    config = uvicorn.Config(receiver.app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # uvicorn.Server exposes only a `started` flag, so startup is polled.
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}/hook"

    yield receiver

    server.should_exit = True
    await task


@pytest.fixture
def hooks_world() -> World:
    return build_world(21, sites=1, projects_per_site=2, issues=6, users=3, sprints_per_board=1)


@pytest.fixture
def site(hooks_world: World) -> Site:
    return next(iter(hooks_world.sites.values()))


@pytest.fixture
async def sandbox(hooks_world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(hooks_world, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    dispatcher = dispatcher_of(hooks_world)
    dispatcher.retry_backoff_s = 0.01
    dispatcher.max_retries = 3
    dispatcher.request_timeout_s = 2
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        yield http
    await dispatcher.aclose()


def dispatcher_of(world: World) -> WebhookDispatcher:
    assert world.webhooks is not None
    return world.webhooks


async def register(
    sandbox: httpx.AsyncClient,
    world: World,
    site: Site,
    url: str,
    *,
    events: list[str] | None = None,
    jql: str | None = None,
    field_ids: list[str] | None = None,
) -> int:
    assert world.oauth is not None
    pair = world.oauth.mint_for_tests(site.app_account_id, SCOPES)
    project_key = next(iter(site.projects.values())).key
    webhook: dict[str, Any] = {
        "events": events or ["jira:issue_updated", "jira:issue_created", "comment_created"],
        "jqlFilter": jql or f"project = {project_key}",
    }
    if field_ids is not None:
        webhook["fieldIdsFilter"] = field_ids
    response = await sandbox.post(
        f"/ex/jira/{site.cloud_id}/rest/api/3/webhook",
        json={"url": url, "webhooks": [webhook]},
        headers={"Authorization": f"Bearer {pair.access_token}"},
    )
    webhook_id: int = response.json()["webhookRegistrationResult"][0]["createdWebhookId"]
    return webhook_id


def issues_in_first_project(site: Site) -> list[Any]:
    project_id = next(iter(site.projects.values())).id
    return [issue for issue in site.live_issues() if issue.project_id == project_id]


async def test_delivery_headers(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    issue = issues_in_first_project(site)[0]

    site.edit_issue(issue, summary="Renamed for the delivery test")
    await dispatcher_of(hooks_world).drain()

    headers = receiver.requests[0].headers
    assert len(receiver.requests) == 1
    assert headers["x-atlassian-webhook-identifier"]
    assert headers["x-atlassian-webhook-flow"] == "Primary"
    assert "x-atlassian-webhook-retry" not in headers
    assert headers["content-type"].startswith("application/json")
    assert headers["authorization"].startswith("Bearer ")


async def test_delivery_jwt_verifies(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    issue = issues_in_first_project(site)[0]

    site.edit_issue(issue, summary="Signed delivery")
    await dispatcher_of(hooks_world).drain()

    token = receiver.requests[0].headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, CLIENT_SECRET, algorithms=["HS256"], audience=CLIENT_ID)
    assert claims["iss"] == site.cloud_id
    assert claims["sub"] == site.app_account_id
    assert claims["exp"] - claims["iat"] == 300


async def test_delivery_jwt_rejects_other_secret(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    site.edit_issue(issues_in_first_project(site)[0], summary="Signed delivery")
    await dispatcher_of(hooks_world).drain()

    token = receiver.requests[0].headers["authorization"].removeprefix("Bearer ")

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-" + "x" * 32, algorithms=["HS256"], audience=CLIENT_ID)


async def test_delivery_payload(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    webhook_id = await register(sandbox, hooks_world, site, receiver.url)
    issue = issues_in_first_project(site)[0]

    site.edit_issue(issue, summary="Payload check")
    await dispatcher_of(hooks_world).drain()

    payload = receiver.requests[0].json
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue"]["id"] == str(issue.id)
    assert payload["issue"]["fields"]["summary"] == "Payload check"
    assert payload["matchedWebhookIds"] == [webhook_id]
    assert payload["changelog"]["items"][0]["field"] == "summary"


async def test_filter_skips_other_project(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    other_project_id = list(site.projects.values())[1].id
    issue = next(item for item in site.live_issues() if item.project_id == other_project_id)

    site.edit_issue(issue, summary="Not for this webhook")
    await dispatcher_of(hooks_world).drain()

    assert receiver.requests == []


async def test_field_filter_limits_updates(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url, field_ids=["summary"])
    issue = issues_in_first_project(site)[0]

    site.edit_issue(issue, labels=["triaged"])
    site.edit_issue(issue, summary="Summary changes pass the filter")
    await dispatcher_of(hooks_world).drain()

    assert len(receiver.requests) == 1
    assert receiver.requests[0].json["changelog"]["items"][0]["fieldId"] == "summary"


async def test_admin_webhook_hmac(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    dispatcher_of(hooks_world).add_admin_webhook(site.cloud_id, receiver.url, secret="admin-secret")
    issue = issues_in_first_project(site)[0]

    site.edit_issue(issue, summary="Admin webhook")
    await dispatcher_of(hooks_world).drain()

    received = receiver.requests[0]
    expected = hmac.new(b"admin-secret", received.body, hashlib.sha256).hexdigest()
    assert received.headers["x-hub-signature"] == f"sha256={expected}"
    assert "authorization" not in received.headers
    assert "matchedWebhookIds" not in received.json


async def test_retry_carries_header(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    receiver.statuses = [503, 429]

    site.edit_issue(issues_in_first_project(site)[0], summary="Retried")
    await dispatcher_of(hooks_world).drain()

    identifiers = {item.headers["x-atlassian-webhook-identifier"] for item in receiver.requests}
    retries = [item.headers.get("x-atlassian-webhook-retry") for item in receiver.requests]
    stats = dispatcher_of(hooks_world).stats(site.cloud_id)
    assert len(identifiers) == 1
    assert retries == [None, "1", "2"]
    assert stats.retried == 2
    assert stats.delivered == 1
    assert stats.failed == 0


async def test_failure_goes_to_failed_list(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    receiver.statuses = [500, 500, 500, 500]

    site.edit_issue(issues_in_first_project(site)[0], summary="Never acknowledged")
    await dispatcher_of(hooks_world).drain()

    assert hooks_world.oauth is not None
    pair = hooks_world.oauth.mint_for_tests(site.app_account_id, SCOPES)
    response = await sandbox.get(
        f"/ex/jira/{site.cloud_id}/rest/api/3/webhook/failed",
        headers={"Authorization": f"Bearer {pair.access_token}"},
    )
    failed = response.json()["values"]
    assert len(receiver.requests) == 4
    assert len(failed) == 1
    assert failed[0]["id"] == receiver.requests[0].headers["x-atlassian-webhook-identifier"]
    assert failed[0]["url"] == receiver.url
    assert json.loads(failed[0]["body"])["webhookEvent"] == "jira:issue_updated"
    assert dispatcher_of(hooks_world).stats(site.cloud_id).failed == 1


async def test_client_error_not_retried(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    receiver.statuses = [400]

    site.edit_issue(issues_in_first_project(site)[0], summary="Rejected by the receiver")
    await dispatcher_of(hooks_world).drain()

    assert len(receiver.requests) == 1
    assert dispatcher_of(hooks_world).stats(site.cloud_id).failed == 1


async def test_connection_error_retried(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site
) -> None:
    closed_url = f"http://127.0.0.1:{free_port()}/hook"
    await register(sandbox, hooks_world, site, closed_url)

    site.edit_issue(issues_in_first_project(site)[0], summary="Nobody listens")
    await dispatcher_of(hooks_world).drain()

    stats = dispatcher_of(hooks_world).stats(site.cloud_id)
    assert stats.sent == 4
    assert stats.retried == 3
    assert stats.failed == 1


async def test_duplicate_keeps_identifier(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    assert hooks_world.faults is not None
    hooks_world.faults.set(site.cloud_id, FaultConfig(duplicate_rate=1))

    site.edit_issue(issues_in_first_project(site)[0], summary="Sent twice")
    await dispatcher_of(hooks_world).drain()

    identifiers = [item.headers["x-atlassian-webhook-identifier"] for item in receiver.requests]
    assert len(identifiers) == 2
    assert identifiers[0] == identifiers[1]
    assert receiver.requests[0].body == receiver.requests[1].body
    assert dispatcher_of(hooks_world).stats(site.cloud_id).duplicated == 1


async def test_drop_is_recorded(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    assert hooks_world.faults is not None
    hooks_world.faults.set(site.cloud_id, FaultConfig(drop_rate=1))
    issue = issues_in_first_project(site)[0]

    site.edit_issue(issue, summary="Lost on the way")
    await dispatcher_of(hooks_world).drain()

    dropped = hooks_world.faults.dropped_for(site.cloud_id)
    assert receiver.requests == []
    assert len(dropped) == 1
    assert dropped[0].issue_id == str(issue.id)
    assert dropped[0].issue_key == issue.key
    assert dropped[0].webhook_event == "jira:issue_updated"
    assert dispatcher_of(hooks_world).stats(site.cloud_id).dropped == 1


async def test_reorder_swaps_deliveries(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    assert hooks_world.faults is not None
    first, second = issues_in_first_project(site)[:2]

    hooks_world.faults.set(site.cloud_id, FaultConfig(reorder_rate=1))
    site.edit_issue(first, summary="Held back")
    hooks_world.faults.set(site.cloud_id, FaultConfig())
    site.edit_issue(second, summary="Overtakes")
    await dispatcher_of(hooks_world).drain()

    order = [item.json["issue"]["id"] for item in receiver.requests]
    assert order == [str(second.id), str(first.id)]
    assert dispatcher_of(hooks_world).stats(site.cloud_id).reordered == 1


async def test_delay_lets_others_pass(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    assert hooks_world.faults is not None
    first, second = issues_in_first_project(site)[:2]

    hooks_world.faults.set(site.cloud_id, FaultConfig(delay_ms=(300, 300)))
    site.edit_issue(first, summary="Late")
    hooks_world.faults.set(site.cloud_id, FaultConfig())
    site.edit_issue(second, summary="On time")
    await dispatcher_of(hooks_world).drain()

    order = [item.json["issue"]["id"] for item in receiver.requests]
    assert order == [str(second.id), str(first.id)]
    assert dispatcher_of(hooks_world).stats(site.cloud_id).delayed == 1


async def test_deliveries_keep_event_order(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    issue = issues_in_first_project(site)[0]

    for number in range(5):
        site.edit_issue(issue, summary=f"Edit {number}")
    await dispatcher_of(hooks_world).drain()

    summaries = [item.json["issue"]["fields"]["summary"] for item in receiver.requests]
    assert summaries == [f"Edit {number}" for number in range(5)]


async def test_rest_write_is_delivered(
    sandbox: httpx.AsyncClient, hooks_world: World, site: Site, receiver: Receiver
) -> None:
    await register(sandbox, hooks_world, site, receiver.url)
    assert hooks_world.oauth is not None
    pair = hooks_world.oauth.mint_for_tests(site.app_account_id, SCOPES)
    issue = issues_in_first_project(site)[0]

    response = await sandbox.put(
        f"/ex/jira/{site.cloud_id}/rest/api/3/issue/{issue.key}",
        json={"fields": {"summary": "Written through REST"}},
        headers={"Authorization": f"Bearer {pair.access_token}"},
    )
    await dispatcher_of(hooks_world).drain()

    assert response.status_code == 204
    assert receiver.requests[0].json["issue"]["fields"]["summary"] == "Written through REST"
    assert receiver.requests[0].json["user"]["accountId"] == site.app_account_id


async def test_change_outside_loop_waits_for_drain(
    hooks_world: World, site: Site, receiver: Receiver
) -> None:
    dispatcher = WebhookDispatcher(hooks_world, client_secret=CLIENT_SECRET, client_id=CLIENT_ID)
    site.add_listener(dispatcher.on_change)
    dispatcher.register(
        site.cloud_id,
        site.app_account_id,
        receiver.url,
        [{"events": ["jira:issue_updated"], "jqlFilter": "project != null"}],
    )
    issue = issues_in_first_project(site)[0]

    # A change made from a thread without an event loop is queued until drain().
    await asyncio.to_thread(site.edit_issue, issue, summary="From a worker thread")
    await dispatcher.drain()
    await dispatcher.aclose()

    assert len(receiver.requests) == 1
