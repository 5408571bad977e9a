"""Fixtures of the sandbox site and REST tests: a small generated world, an in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from jira_sandbox.app import create_app
from jira_sandbox.generator import build_world
from jira_sandbox.model import ChangeEvent, World
from jira_sandbox.site import Site

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples"


@pytest.fixture
def world() -> World:
    return build_world(11, sites=2, projects_per_site=3, issues=120, users=10, sprints_per_board=4)


@pytest.fixture
def site(world: World) -> Site:
    return next(iter(world.sites.values()))


@pytest.fixture
def events(site: Site) -> list[ChangeEvent]:
    received: list[ChangeEvent] = []
    site.add_listener(received.append)
    return received


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(world, require_auth=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        yield http


@pytest.fixture
def api(site: Site) -> str:
    return f"/ex/jira/{site.cloud_id}/rest/api/3"


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"Jira sample payloads not found at {SAMPLES}")
    return SAMPLES
