"""The control routes that age, delete and list webhook registrations and dropped deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jira_sandbox.app import create_app
from jira_sandbox.faults import FaultConfig
from jira_sandbox.generator import build_world
from jira_sandbox.model import World

DAY_MS = 86_400_000
ISSUE_WEBHOOK = {"events": ["jira:issue_updated"], "jqlFilter": "project != null"}


@pytest.fixture
def hooks_world() -> World:
    return build_world(9, sites=1, projects_per_site=1, issues=4, users=3, sprints_per_board=1)


@pytest.fixture
def cloud_id(hooks_world: World) -> str:
    return next(iter(hooks_world.sites))


@pytest.fixture
async def http(hooks_world: World) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(hooks_world, require_auth=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        yield client
    assert hooks_world.webhooks is not None
    await hooks_world.webhooks.aclose()


def _register(world: World, cloud_id: str, count: int) -> list[int]:
    assert world.webhooks is not None
    site = world.sites[cloud_id]
    results = world.webhooks.register(
        cloud_id, site.app_account_id, "http://127.0.0.1:9/hook", [ISSUE_WEBHOOK] * count
    )
    return [int(result["createdWebhookId"]) for result in results]


async def test_control_lists_registrations(http, hooks_world, cloud_id):
    ids = _register(hooks_world, cloud_id, 2)

    listed = (await http.get(f"/_sandbox/sites/{cloud_id}/webhooks")).json()

    assert [item["id"] for item in listed] == ids
    assert listed[0]["jqlFilter"] == "project != null"
    assert listed[0]["expired"] is False


async def test_control_sets_expiry(http, hooks_world, cloud_id):
    [webhook_id] = _register(hooks_world, cloud_id, 1)
    now_ms = hooks_world.clock.peek_ms()

    response = await http.patch(
        f"/_sandbox/sites/{cloud_id}/webhooks/{webhook_id}", json={"expires_in_days": 2}
    )
    listed = (await http.get(f"/_sandbox/sites/{cloud_id}/webhooks")).json()

    assert response.status_code == 200
    assert 2 * DAY_MS <= listed[0]["expires_ms"] - now_ms < 2 * DAY_MS + 60_000


async def test_control_expired_leaves_list(http, hooks_world, cloud_id):
    [webhook_id] = _register(hooks_world, cloud_id, 1)
    assert hooks_world.webhooks is not None

    await http.patch(
        f"/_sandbox/sites/{cloud_id}/webhooks/{webhook_id}", json={"expires_in_days": -1}
    )
    listed = (await http.get(f"/_sandbox/sites/{cloud_id}/webhooks")).json()

    assert listed[0]["expired"] is True
    assert hooks_world.webhooks.live_registrations(cloud_id) == []


async def test_control_expiry_invalid(http, hooks_world, cloud_id):
    [webhook_id] = _register(hooks_world, cloud_id, 1)

    response = await http.patch(
        f"/_sandbox/sites/{cloud_id}/webhooks/{webhook_id}", json={"expires_in_days": "soon"}
    )

    assert response.status_code == 400


async def test_control_expiry_unknown_id(http, cloud_id):
    response = await http.patch(
        f"/_sandbox/sites/{cloud_id}/webhooks/123", json={"expires_in_days": 1}
    )

    assert response.status_code == 404


async def test_control_deletes_registration(http, hooks_world, cloud_id):
    first, second = _register(hooks_world, cloud_id, 2)

    response = await http.delete(f"/_sandbox/sites/{cloud_id}/webhooks/{first}")
    listed = (await http.get(f"/_sandbox/sites/{cloud_id}/webhooks")).json()
    again = await http.delete(f"/_sandbox/sites/{cloud_id}/webhooks/{first}")

    assert response.status_code == 204
    assert [item["id"] for item in listed] == [second]
    assert again.status_code == 404


async def test_control_lists_dropped(http, hooks_world, cloud_id):
    _register(hooks_world, cloud_id, 1)
    assert hooks_world.faults is not None
    assert hooks_world.webhooks is not None
    hooks_world.faults.set(cloud_id, FaultConfig(drop_rate=1))
    site = hooks_world.sites[cloud_id]
    issue = sorted(site.live_issues(), key=lambda item: item.id)[0]

    site.edit_issue(issue, summary="Changed while deliveries drop")
    await hooks_world.webhooks.drain()
    dropped = (await http.get(f"/_sandbox/sites/{cloud_id}/faults/dropped")).json()

    assert len(dropped) == 1
    assert dropped[0]["issue_id"] == str(issue.id)
    assert dropped[0]["webhook_event"] == "jira:issue_updated"
    assert isinstance(dropped[0]["timestamp_ms"], int)
