from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jira_sandbox.generator import build_world
from jira_sandbox.model import World
from jira_sandbox.oauth import OAuthError, OAuthServer

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples"
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
REDIRECT_URI = "http://127.0.0.1:9999/callback"
SCOPES = "read:jira-work write:jira-work manage:jira-webhook offline_access"


def build_app(server: OAuthServer) -> Starlette:
    async def whoami(request: Request) -> Response:
        try:
            grant = server.authenticate(
                request.headers.get("authorization"),
                request.path_params["cloud_id"],
                required_scopes=["read:jira-work"],
            )
        except OAuthError as error:
            return error.response()
        return JSONResponse({"accountId": grant.account_id})

    routes = [*server.routes(), Route("/ex/jira/{cloud_id}/rest/api/3/myself", whoami)]
    return Starlette(routes=routes)


@pytest.fixture
def world() -> World:
    return build_world(5, sites=2, projects_per_site=1, issues=3, users=3, sprints_per_board=1)


@pytest.fixture
def admin_id(world: World) -> str:
    # The first admin reaches both generated sites.
    return next(iter(world.accounts.values())).account_id


@pytest.fixture
def server(world: World) -> OAuthServer:
    return OAuthServer(
        world,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[REDIRECT_URI],
        auto_consent=True,
    )


@pytest.fixture
async def client(server: OAuthServer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(server))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        yield http


def authorize_params(account_id: str, **extra: str) -> dict[str, str]:
    params = {
        "audience": "api.atlassian.com",
        "client_id": CLIENT_ID,
        "scope": SCOPES,
        "redirect_uri": REDIRECT_URI,
        "state": "state-123",
        "response_type": "code",
        "prompt": "consent",
        "login_hint": account_id,
    }
    params.update(extra)
    return params


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def get_code(client: httpx.AsyncClient, account_id: str, **extra: str) -> str:
    response = await client.get("/authorize", params=authorize_params(account_id, **extra))
    assert response.status_code == 302
    return query_of(response.headers["location"])["code"]


async def exchange(client: httpx.AsyncClient, code: str, **extra: str) -> httpx.Response:
    body = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": code,
        "redirect_uri": REDIRECT_URI,
    }
    body.update(extra)
    return await client.post("/oauth/token", json=body)


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    body = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": refresh_token,
    }
    return await client.post("/oauth/token", json=body)


async def call_api(client: httpx.AsyncClient, access_token: str, cloud_id: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    return await client.get(f"/ex/jira/{cloud_id}/rest/api/3/myself", headers=headers)


async def first_tokens(client: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    response = await exchange(client, await get_code(client, account_id))
    assert response.status_code == 200
    tokens: dict[str, Any] = response.json()
    return tokens


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_authorize_auto_consent_redirects(client: httpx.AsyncClient, admin_id: str) -> None:
    response = await client.get("/authorize", params=authorize_params(admin_id))

    query = query_of(response.headers["location"])
    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    assert query["state"] == "state-123"
    assert query["code"]


async def test_consent_page_lists_scopes_and_sites(
    server: OAuthServer, client: httpx.AsyncClient, world: World, admin_id: str
) -> None:
    server.auto_consent = False

    response = await client.get("/authorize", params=authorize_params(admin_id))

    assert response.status_code == 200
    for scope in SCOPES.split():
        assert scope in response.text
    for cloud_id in world.accounts[admin_id].site_ids:
        assert world.sites[cloud_id].url in response.text
    assert 'value="accept"' in response.text
    assert 'value="deny"' in response.text


async def test_consent_accept_issues_code(
    server: OAuthServer, client: httpx.AsyncClient, admin_id: str
) -> None:
    server.auto_consent = False
    form = authorize_params(admin_id) | {"decision": "accept", "account": admin_id}

    response = await client.post("/authorize", data=form)

    assert response.status_code == 302
    assert "code" in query_of(response.headers["location"])


async def test_consent_deny_redirects_error(
    server: OAuthServer, client: httpx.AsyncClient, admin_id: str
) -> None:
    server.auto_consent = False
    form = authorize_params(admin_id) | {"decision": "deny", "account": admin_id}

    response = await client.post("/authorize", data=form)

    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied"
    assert query["state"] == "state-123"


async def test_authorize_redirect_mismatch_shows_error(
    client: httpx.AsyncClient, admin_id: str
) -> None:
    params = authorize_params(admin_id, redirect_uri="http://127.0.0.1:9999/other")

    response = await client.get("/authorize", params=params)

    assert response.status_code == 400
    assert "location" not in response.headers


async def test_authorize_plain_pkce_rejected(client: httpx.AsyncClient, admin_id: str) -> None:
    params = authorize_params(admin_id, code_challenge="abc", code_challenge_method="plain")

    response = await client.get("/authorize", params=params)

    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_token_response_shape(client: httpx.AsyncClient, admin_id: str) -> None:
    tokens = await first_tokens(client, admin_id)

    assert list(tokens) == ["access_token", "expires_in", "token_type", "refresh_token", "scope"]
    assert tokens["expires_in"] == 3600
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == SCOPES


async def test_token_without_offline_access(client: httpx.AsyncClient, admin_id: str) -> None:
    code = await get_code(client, admin_id, scope="read:jira-work")

    tokens = (await exchange(client, code)).json()

    assert "refresh_token" not in tokens
    assert tokens["scope"] == "read:jira-work"


async def test_code_single_use(
    server: OAuthServer, client: httpx.AsyncClient, admin_id: str, world: World
) -> None:
    code = await get_code(client, admin_id)
    first = await exchange(client, code)

    second = await exchange(client, code)

    assert first.status_code == 200
    assert second.status_code == 403
    assert second.json()["error"] == "invalid_grant"
    cloud_id = world.accounts[admin_id].site_ids[0]
    api = await call_api(client, first.json()["access_token"], cloud_id)
    assert api.status_code == 401


async def test_code_expires(client: httpx.AsyncClient, admin_id: str, world: World) -> None:
    code = await get_code(client, admin_id)
    world.clock.advance(seconds=601)

    response = await exchange(client, code)

    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


async def test_code_redirect_mismatch(client: httpx.AsyncClient, admin_id: str) -> None:
    code = await get_code(client, admin_id)

    response = await exchange(client, code, redirect_uri="http://127.0.0.1:9999/elsewhere")

    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


async def test_pkce_verifier_accepted(client: httpx.AsyncClient, admin_id: str) -> None:
    verifier = "v" * 64
    code = await get_code(
        client, admin_id, code_challenge=s256(verifier), code_challenge_method="S256"
    )

    response = await exchange(client, code, code_verifier=verifier)

    assert response.status_code == 200


async def test_pkce_wrong_verifier(client: httpx.AsyncClient, admin_id: str) -> None:
    code = await get_code(
        client, admin_id, code_challenge=s256("v" * 64), code_challenge_method="S256"
    )

    response = await exchange(client, code, code_verifier="w" * 64)

    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


async def test_pkce_missing_verifier(client: httpx.AsyncClient, admin_id: str) -> None:
    code = await get_code(
        client, admin_id, code_challenge=s256("v" * 64), code_challenge_method="S256"
    )

    response = await exchange(client, code)

    assert response.status_code == 403


async def test_bad_client_secret(client: httpx.AsyncClient, admin_id: str) -> None:
    code = await get_code(client, admin_id)

    response = await exchange(client, code, client_secret="wrong")

    assert response.status_code == 401
    assert response.json()["error"] == "access_denied"


async def test_unknown_grant_type(client: httpx.AsyncClient) -> None:
    body = {"grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}

    response = await client.post("/oauth/token", json=body)

    assert response.status_code == 403
    assert response.json()["error"] == "unsupported_grant_type"


async def test_refresh_rotates_token(
    server: OAuthServer, client: httpx.AsyncClient, admin_id: str
) -> None:
    tokens = await first_tokens(client, admin_id)

    rotated = (await refresh(client, tokens["refresh_token"])).json()

    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["access_token"] != tokens["access_token"]
    assert server.grants_for(admin_id)[0].rotations == 1


async def test_concurrent_refreshes_rotate_once(
    server: OAuthServer, client: httpx.AsyncClient, admin_id: str
) -> None:
    tokens = await first_tokens(client, admin_id)

    responses = await asyncio.gather(*(refresh(client, tokens["refresh_token"]) for _ in range(20)))

    record = server.grants_for(admin_id)[0]
    assert [response.status_code for response in responses] == [200] * 20
    assert {response.json()["refresh_token"] for response in responses} == {record.refresh_token}
    assert record.rotations == 1
    assert record.token_requests == 21


async def test_retired_token_within_leeway(
    client: httpx.AsyncClient, admin_id: str, world: World
) -> None:
    tokens = await first_tokens(client, admin_id)
    rotated = (await refresh(client, tokens["refresh_token"])).json()
    world.clock.advance(seconds=540)

    again = await refresh(client, tokens["refresh_token"])

    assert again.status_code == 200
    assert again.json()["refresh_token"] == rotated["refresh_token"]


async def test_reuse_after_leeway_revokes_grant(
    client: httpx.AsyncClient, admin_id: str, world: World
) -> None:
    if not SAMPLES.is_dir():
        pytest.skip("jira-samples folder is absent; it holds the invalid_grant body")
    expected = json.loads(
        (SAMPLES / "oauth" / "token_refresh_error.invalid_grant.json").read_text()
    )
    tokens = await first_tokens(client, admin_id)
    rotated = (await refresh(client, tokens["refresh_token"])).json()
    world.clock.advance(seconds=601)

    reused = await refresh(client, tokens["refresh_token"])
    newest = await refresh(client, rotated["refresh_token"])

    assert reused.status_code == 403
    assert reused.json() == expected
    assert newest.status_code == 403
    assert newest.json() == expected
    cloud_id = world.accounts[admin_id].site_ids[0]
    api = await call_api(client, rotated["access_token"], cloud_id)
    assert api.status_code == 401


async def test_refresh_inactivity_expiry(
    client: httpx.AsyncClient, admin_id: str, world: World
) -> None:
    tokens = await first_tokens(client, admin_id)
    world.clock.advance(days=91)

    response = await refresh(client, tokens["refresh_token"])

    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


async def test_unknown_refresh_token(client: httpx.AsyncClient) -> None:
    response = await refresh(client, "not-a-token")

    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


async def test_access_token_accepted(
    client: httpx.AsyncClient, admin_id: str, world: World
) -> None:
    tokens = await first_tokens(client, admin_id)
    cloud_id = world.accounts[admin_id].site_ids[0]

    response = await call_api(client, tokens["access_token"], cloud_id)

    assert response.status_code == 200
    assert response.json() == {"accountId": admin_id}


async def test_access_token_expires(client: httpx.AsyncClient, admin_id: str, world: World) -> None:
    tokens = await first_tokens(client, admin_id)
    cloud_id = world.accounts[admin_id].site_ids[0]
    world.clock.advance(seconds=3601)

    response = await call_api(client, tokens["access_token"], cloud_id)

    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized"}


async def test_missing_bearer_rejected(client: httpx.AsyncClient, world: World) -> None:
    cloud_id = next(iter(world.sites))

    response = await client.get(f"/ex/jira/{cloud_id}/rest/api/3/myself")

    assert response.status_code == 401


async def test_site_outside_grant(server: OAuthServer, world: World) -> None:
    second_admin = list(world.accounts.values())[1]
    outside = next(cloud_id for cloud_id in world.sites if cloud_id not in second_admin.site_ids)
    pair = server.mint_for_tests(second_admin.account_id, ["read:jira-work"])

    with pytest.raises(OAuthError) as caught:
        server.authenticate(f"Bearer {pair.access_token}", outside)

    assert caught.value.status == 401
    assert caught.value.body["message"] == "Unauthorized; scope does not match"


async def test_missing_scope_rejected(server: OAuthServer, world: World, admin_id: str) -> None:
    pair = server.mint_for_tests(admin_id, ["read:jira-work"])
    cloud_id = world.accounts[admin_id].site_ids[0]

    with pytest.raises(OAuthError) as caught:
        server.authenticate(
            f"Bearer {pair.access_token}", cloud_id, required_scopes=["write:jira-work"]
        )

    assert caught.value.status == 401


async def test_short_access_token_ttl(world: World, admin_id: str) -> None:
    server = OAuthServer(
        world,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[REDIRECT_URI],
        access_token_ttl_s=5,
    )
    pair = server.mint_for_tests(admin_id, ["read:jira-work"])
    cloud_id = world.accounts[admin_id].site_ids[0]
    world.clock.advance(seconds=6)

    with pytest.raises(OAuthError):
        server.authenticate(f"Bearer {pair.access_token}", cloud_id)

    assert pair.expires_in == 5


async def test_accessible_resources_shape(
    client: httpx.AsyncClient, admin_id: str, world: World
) -> None:
    if not SAMPLES.is_dir():
        pytest.skip("jira-samples folder is absent; it holds the accessible-resources sample")
    sample_path = SAMPLES / "oauth" / "accessible_resources.two-jira-sites.atlassian-docs.json"
    sample = json.loads(sample_path.read_text())
    tokens = await first_tokens(client, admin_id)

    response = await client.get(
        "/oauth/token/accessible-resources",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )

    resources = response.json()
    assert [item["id"] for item in resources] == world.accounts[admin_id].site_ids
    for item in resources:
        assert list(item) == list(sample[0])
        assert item["scopes"] == ["read:jira-work", "write:jira-work", "manage:jira-webhook"]
        assert item["url"] == world.sites[item["id"]].url


async def test_accessible_resources_needs_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/oauth/token/accessible-resources")

    assert response.status_code == 401


async def test_me_returns_account(client: httpx.AsyncClient, admin_id: str, world: World) -> None:
    tokens = await first_tokens(client, admin_id)

    response = await client.get(
        "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    body = response.json()
    account = world.accounts[admin_id]
    assert body["account_id"] == admin_id
    assert body["name"] == account.display_name
    assert body["email"] == account.email
    assert body["account_status"] == "active"
    assert body["account_type"] == "atlassian"
    assert body["picture"].startswith("https://")
