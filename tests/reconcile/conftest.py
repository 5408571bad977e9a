"""Fixtures for reconciliation tests: a sandbox site, a real Jira client, a fake graph index."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from reconcile_fakes import FakeGraph, Published
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jira_sandbox.app import create_app
from jira_sandbox.generator import build_world
from jira_sandbox.model import World
from jira_sandbox.site import Site
from jiraclient.client import JiraClient
from reconcile.settings import ReconcileTarget

SANDBOX_URL = "http://sandbox.test"
SCOPES = [
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "manage:jira-webhook",
    "offline_access",
]


@pytest.fixture
def world() -> World:
    return build_world(5, sites=1, projects_per_site=3, issues=60, users=6, sprints_per_board=1)


@pytest.fixture
def site(world: World) -> Site:
    return next(iter(world.sites.values()))


@pytest.fixture
async def jira(world: World, site: Site) -> AsyncIterator[JiraClient]:
    app = create_app(world, auto_consent=True)
    assert world.oauth is not None
    oauth = world.oauth

    async def tokens(stale: str | None = None) -> str:
        return oauth.mint_for_tests(site.app_account_id, SCOPES).access_token

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX_URL) as http:
        yield JiraClient(site.cloud_id, tokens=tokens, http=http, api_url=SANDBOX_URL)
    if world.webhooks is not None:
        await world.webhooks.aclose()


@pytest.fixture
def graph(site: Site) -> FakeGraph:
    return FakeGraph.from_truth(site)


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
async def receiver(graph: FakeGraph) -> AsyncIterator[str]:
    """Serve a webhook receiver on loopback that applies deliveries to ``graph``."""

    async def deliver(request: Request) -> Response:
        payload = await request.json()
        issue = payload.get("issue")
        if payload.get("webhookEvent") == "jira:issue_deleted" and issue:
            graph.forget(str(issue["id"]))
        elif str(payload.get("webhookEvent", "")).startswith("jira:issue_") and issue:
            graph.observe(issue)
        return Response(status_code=200)

    app = Starlette(routes=[Route("/webhooks/jira", deliver, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    # uvicorn exposes only a flag, not an event, for the end of its startup.
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/webhooks/jira"
    server.should_exit = True
    await task


@pytest.fixture
def target(site: Site, receiver: str) -> ReconcileTarget:
    return ReconcileTarget(space_id="space-1", cloud_id=site.cloud_id, webhook_url=receiver)
