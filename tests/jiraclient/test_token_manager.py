from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from jiraclient.auth import TokenManager, TokenSet, jira_sites
from jiraclient.errors import JiraServerError, JiraTransportError, ReauthorisationRequired

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples"
NOW_MS = 1_773_000_000_000
SECRET = "client-secret-value-42"


class MemoryStore:
    def __init__(self, tokens: TokenSet | None) -> None:
        self.tokens = tokens
        self.saved: list[TokenSet] = []
        self.release = asyncio.Event()
        self.release.set()

    async def load(self, connection_id: str) -> TokenSet | None:
        return self.tokens

    async def save(self, connection_id: str, tokens: TokenSet) -> None:
        await self.release.wait()
        self.saved.append(tokens)
        self.tokens = tokens


class TokenServer:
    """The token endpoint: rotates refresh tokens, counts requests, may refuse them."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.refusal: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token/accessible-resources":
            return httpx.Response(200, json=self.resources)
        body = json.loads(request.content)
        self.requests.append(body)
        if self.refusal is not None:
            return self.refusal
        number = len(self.requests)
        return httpx.Response(
            200,
            json={
                "access_token": f"access-token-{number}-abcdef",
                "refresh_token": f"refresh-token-{number}-abcdef",
                "expires_in": 3600,
                "scope": "read:jira-work offline_access",
                "token_type": "Bearer",
            },
        )

    resources: list[dict[str, Any]] = []


def expired_tokens() -> TokenSet:
    return TokenSet(
        access_token="access-token-0-abcdef",
        refresh_token="refresh-token-0-abcdef",
        expires_at_ms=NOW_MS + 10_000,
        scopes=("read:jira-work",),
    )


def make_manager(
    server: TokenServer, store: MemoryStore, revoked: list[str] | None = None
) -> TokenManager:
    async def on_invalid_grant(connection_id: str) -> None:
        if revoked is not None:
            revoked.append(connection_id)

    return TokenManager(
        store,
        client_id="client-1",
        client_secret=SECRET,
        http=httpx.AsyncClient(transport=httpx.MockTransport(server)),
        on_invalid_grant=on_invalid_grant,
        auth_url="https://auth.example.test",
        api_url="https://api.example.test",
        clock_ms=lambda: NOW_MS,
        grant_settle_s=0.05,
    )


async def test_token_fresh_is_not_refreshed() -> None:
    server = TokenServer()
    fresh = TokenSet("access-a", "refresh-a", NOW_MS + 3_600_000)
    manager = make_manager(server, MemoryStore(fresh))
    assert await manager.access_token("conn-1") == "access-a"
    assert server.requests == []


async def test_token_refresh_is_single_flight() -> None:
    server = TokenServer()
    manager = make_manager(server, MemoryStore(expired_tokens()))
    tokens = await asyncio.gather(*(manager.access_token("conn-1") for _ in range(20)))
    assert len(server.requests) == 1
    assert set(tokens) == {"access-token-1-abcdef"}


async def test_token_refresh_sends_refresh_grant() -> None:
    server = TokenServer()
    manager = make_manager(server, MemoryStore(expired_tokens()))
    await manager.access_token("conn-1")
    assert server.requests[0] == {
        "grant_type": "refresh_token",
        "client_id": "client-1",
        "client_secret": SECRET,
        "refresh_token": "refresh-token-0-abcdef",
    }


async def test_token_saved_before_returned() -> None:
    server = TokenServer()
    store = MemoryStore(expired_tokens())
    store.release.clear()
    manager = make_manager(server, store)
    task = asyncio.create_task(manager.access_token("conn-1"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()
    store.release.set()
    assert await task == "access-token-1-abcdef"
    assert store.saved[0].refresh_token == "refresh-token-1-abcdef"


async def test_token_stale_forces_refresh() -> None:
    server = TokenServer()
    fresh = TokenSet("access-a", "refresh-a", NOW_MS + 3_600_000)
    manager = make_manager(server, MemoryStore(fresh))
    assert await manager.access_token("conn-1", stale="access-a") == "access-token-1-abcdef"


@pytest.mark.parametrize("status", [400, 403])
async def test_token_invalid_grant_needs_reauthorisation(status: int) -> None:
    server = TokenServer()
    server.refusal = httpx.Response(
        status,
        json={"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."},
    )
    revoked: list[str] = []
    manager = make_manager(server, MemoryStore(expired_tokens()), revoked)
    with pytest.raises(ReauthorisationRequired, match="conn-1"):
        await manager.access_token("conn-1")
    assert revoked == ["conn-1"]


class ReconnectedStore(MemoryStore):
    """A store that learns of a new grant after a few reads, as a topic follower does."""

    def __init__(self, old: TokenSet, new: TokenSet, after_loads: int) -> None:
        super().__init__(old)
        self.new = new
        self.after_loads = after_loads
        self.loads = 0

    async def load(self, connection_id: str) -> TokenSet | None:
        self.loads += 1
        if self.loads > self.after_loads:
            self.tokens = self.new
        return self.tokens


async def test_token_invalid_grant_uses_newer_grant() -> None:
    server = TokenServer()
    server.refusal = httpx.Response(403, json={"error": "invalid_grant"})
    new = TokenSet("access-new", "refresh-new", NOW_MS + 3_600_000)
    revoked: list[str] = []
    manager = make_manager(server, ReconnectedStore(expired_tokens(), new, after_loads=2), revoked)

    token = await manager.access_token("conn-1")

    assert token == "access-new"
    assert revoked == []
    assert len(server.requests) == 1


async def test_token_invalid_grant_stops_retrying() -> None:
    server = TokenServer()
    server.refusal = httpx.Response(403, json={"error": "invalid_grant"})
    revoked: list[str] = []
    manager = make_manager(server, MemoryStore(expired_tokens()), revoked)
    for _ in range(3):
        with pytest.raises(ReauthorisationRequired):
            await manager.access_token("conn-1")
    assert len(server.requests) == 1
    assert revoked == ["conn-1"]


async def test_token_invalid_grant_sample_is_recognised() -> None:
    sample = SAMPLES / "oauth" / "token_refresh_error.invalid_grant.json"
    if not sample.exists():
        pytest.skip(f"Jira samples not found at {sample}")
    server = TokenServer()
    server.refusal = httpx.Response(403, content=sample.read_bytes())
    manager = make_manager(server, MemoryStore(expired_tokens()))
    with pytest.raises(ReauthorisationRequired, match="Unknown or invalid refresh token"):
        await manager.access_token("conn-1")


async def test_token_server_error_is_retriable() -> None:
    server = TokenServer()
    server.refusal = httpx.Response(503, text="<html>unavailable</html>")
    manager = make_manager(server, MemoryStore(expired_tokens()))
    with pytest.raises(JiraServerError) as caught:
        await manager.access_token("conn-1")
    assert caught.value.retriable


async def test_token_transport_error_is_mapped() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    manager = TokenManager(
        MemoryStore(expired_tokens()),
        client_id="client-1",
        client_secret=SECRET,
        http=httpx.AsyncClient(transport=httpx.MockTransport(refuse)),
        clock_ms=lambda: NOW_MS,
    )
    with pytest.raises(JiraTransportError) as caught:
        await manager.access_token("conn-1")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_token_missing_is_reauthorisation() -> None:
    manager = make_manager(TokenServer(), MemoryStore(None))
    with pytest.raises(ReauthorisationRequired, match="no tokens are stored"):
        await manager.access_token("conn-1")


async def test_token_logs_hold_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    server = TokenServer()
    manager = make_manager(server, MemoryStore(expired_tokens()))
    caplog.set_level(logging.DEBUG)
    await manager.access_token("conn-1")
    await manager.exchange_code("auth-code-secret-99", "https://naumu.test/callback", "verifier-77")
    logged = caplog.text + repr([record.args for record in caplog.records])
    for secret in ("abcdef", SECRET, "auth-code-secret-99", "verifier-77"):
        assert secret not in logged


def test_token_set_repr_hides_tokens() -> None:
    text = repr(expired_tokens())
    assert "abcdef" not in text


async def test_exchange_code_sends_authorization_grant() -> None:
    server = TokenServer()
    manager = make_manager(server, MemoryStore(None))
    tokens = await manager.exchange_code("code-1", "https://naumu.test/callback", "verifier-1")
    assert server.requests[0]["grant_type"] == "authorization_code"
    assert server.requests[0]["code_verifier"] == "verifier-1"
    assert tokens.expires_at_ms == NOW_MS + 3_600_000
    assert tokens.scopes == ("read:jira-work", "offline_access")


async def test_accessible_resources_keeps_jira_sites() -> None:
    server = TokenServer()
    server.resources = [
        {"id": "c-1", "name": "Jira", "url": "https://a.test", "scopes": ["read:jira-work"]},
        {
            "id": "c-1",
            "name": "Wiki",
            "url": "https://a.test/wiki",
            "scopes": ["read:confluence-content.all"],
        },
    ]
    manager = make_manager(server, MemoryStore(None))
    sites = await manager.accessible_resources("access-a")
    assert [site.name for site in sites] == ["Jira"]


def test_jira_sites_reads_sample() -> None:
    sample = SAMPLES / "oauth" / "accessible_resources.two-jira-sites.atlassian-docs.json"
    if not sample.exists():
        pytest.skip(f"Jira samples not found at {sample}")
    sites = jira_sites(json.loads(sample.read_text()))
    assert [site.cloud_id for site in sites] == [
        "8594f221-9797-5f78-1fa4-485e198d7cd0",
        "1324a887-45db-1bf4-1e99-ef0ff456d421",
    ]
