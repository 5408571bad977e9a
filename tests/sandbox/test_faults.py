"""Fault settings, their seeded decisions and the REST fault middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jira_sandbox.faults import FaultConfig, FaultConfigError, FaultRegistry

CLOUD_ID = "11111111-2222-3333-4444-555555555555"


def build_app(registry: FaultRegistry) -> Starlette:
    async def ok(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route("/ex/jira/{cloud_id}/rest/api/3/myself", ok),
        Route("/_sandbox/sites/{cloud_id}/truth", ok),
    ]
    return Starlette(routes=routes, middleware=[registry.middleware()])


@pytest.fixture
def registry() -> FaultRegistry:
    return FaultRegistry()


@pytest.fixture
async def client(registry: FaultRegistry) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(registry))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        yield http


API = f"/ex/jira/{CLOUD_ID}/rest/api/3/myself"


def test_config_defaults_inject_nothing(registry: FaultRegistry) -> None:
    decision = registry.decide_delivery(CLOUD_ID)

    assert decision.drop is False
    assert decision.duplicate is False
    assert decision.reorder is False
    assert decision.delay_s == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"drop_rate": 1.5},
        {"duplicate_rate": -0.1},
        {"delay_ms": (50, 10)},
        {"slow_ms": -1},
        {"retry_after_s": -2},
        {"server_error_retry_after_s": -1},
    ],
)
def test_config_rejects_invalid(settings: dict[str, object]) -> None:
    with pytest.raises(FaultConfigError):
        FaultConfig(**settings)  # type: ignore[arg-type]


def test_from_json_unknown_key() -> None:
    with pytest.raises(FaultConfigError) as caught:
        FaultConfig.from_json({"drop": 1})

    assert "drop_rate" in str(caught.value)


def test_from_json_wrong_type() -> None:
    with pytest.raises(FaultConfigError):
        FaultConfig.from_json({"slow_ms": "slow"})


def test_from_json_keeps_base() -> None:
    base = FaultConfig(drop_rate=0.5, seed=3)

    config = FaultConfig.from_json({"delay_ms": [10, 20]}, base=base)

    assert config.drop_rate == 0.5
    assert config.seed == 3
    assert config.delay_ms == (10, 20)


def test_json_round_trip() -> None:
    config = FaultConfig(reorder_rate=0.25, delay_ms=(5, 9), slow_ms=7)

    assert FaultConfig.from_json(config.to_json()) == config


def test_seeded_decisions_repeat() -> None:
    config = FaultConfig(drop_rate=0.3, duplicate_rate=0.3, reorder_rate=0.3, delay_ms=(0, 50))
    first, second = FaultRegistry(), FaultRegistry()
    first.set(CLOUD_ID, config)
    second.set(CLOUD_ID, config)

    first_run = [first.decide_delivery(CLOUD_ID) for _ in range(50)]
    second_run = [second.decide_delivery(CLOUD_ID) for _ in range(50)]

    assert first_run == second_run
    assert any(item.drop for item in first_run)
    assert not all(item.drop for item in first_run)


def test_other_seed_differs() -> None:
    first, second = FaultRegistry(), FaultRegistry()
    first.set(CLOUD_ID, FaultConfig(drop_rate=0.5, seed=1))
    second.set(CLOUD_ID, FaultConfig(drop_rate=0.5, seed=2))

    first_run = [first.decide_delivery(CLOUD_ID).drop for _ in range(50)]
    second_run = [second.decide_delivery(CLOUD_ID).drop for _ in range(50)]

    assert first_run != second_run


async def test_rate_limit_response(client: httpx.AsyncClient, registry: FaultRegistry) -> None:
    registry.set(CLOUD_ID, FaultConfig(rate_limit_rate=1, retry_after_s=2.5))

    response = await client.get(API)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["ratelimit-reason"] == "jira-burst-based"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert "<html>" in response.text
    assert registry.rest_stats(CLOUD_ID).rate_limited == 1


async def test_server_error_response(client: httpx.AsyncClient, registry: FaultRegistry) -> None:
    registry.set(CLOUD_ID, FaultConfig(server_error_rate=1))

    response = await client.get(API)

    assert response.status_code == 503
    assert "retry-after" not in response.headers
    assert registry.rest_stats(CLOUD_ID).server_errors == 1


async def test_server_error_retry_after(client: httpx.AsyncClient, registry: FaultRegistry) -> None:
    registry.set(CLOUD_ID, FaultConfig(server_error_rate=1, server_error_retry_after_s=4))

    response = await client.get(API)

    assert response.headers["retry-after"] == "4"


async def test_slow_response_passes(client: httpx.AsyncClient, registry: FaultRegistry) -> None:
    registry.set(CLOUD_ID, FaultConfig(slow_ms=20))

    response = await client.get(API)

    assert response.status_code == 200
    assert registry.rest_stats(CLOUD_ID).slowed == 1


async def test_control_paths_untouched(client: httpx.AsyncClient, registry: FaultRegistry) -> None:
    registry.set(CLOUD_ID, FaultConfig(rate_limit_rate=1, server_error_rate=1))

    response = await client.get(f"/_sandbox/sites/{CLOUD_ID}/truth")

    assert response.status_code == 200


async def test_other_site_untouched(client: httpx.AsyncClient, registry: FaultRegistry) -> None:
    registry.set(CLOUD_ID, FaultConfig(rate_limit_rate=1))

    response = await client.get("/ex/jira/another-site/rest/api/3/myself")

    assert response.status_code == 200


async def test_reset_turns_faults_off(client: httpx.AsyncClient, registry: FaultRegistry) -> None:
    registry.set(CLOUD_ID, FaultConfig(rate_limit_rate=1))
    registry.reset(CLOUD_ID)

    response = await client.get(API)

    assert response.status_code == 200


async def test_control_endpoint_sets_faults() -> None:
    from jira_sandbox.app import create_app
    from jira_sandbox.generator import build_world

    world = build_world(2, sites=1, projects_per_site=1, issues=2, users=2, sprints_per_board=1)
    cloud_id = next(iter(world.sites))
    transport = httpx.ASGITransport(app=create_app(world, require_auth=False))

    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        response = await http.put(
            f"/_sandbox/sites/{cloud_id}/faults", json={"drop_rate": 0.25, "delay_ms": [1, 2]}
        )
        invalid = await http.put(f"/_sandbox/sites/{cloud_id}/faults", json={"drop_rate": 2})

    assert world.faults is not None
    assert response.status_code == 200
    assert world.faults.get(cloud_id).drop_rate == 0.25
    assert world.faults.get(cloud_id).delay_ms == (1, 2)
    assert invalid.status_code == 400
