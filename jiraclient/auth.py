"""OAuth 2.0 (3LO) tokens for Atlassian: code exchange, refresh, site discovery.

Atlassian rotates refresh tokens: every refresh returns a new refresh token and
retires the one sent, and reusing a retired token outside a short leeway revokes
the whole grant. So :class:`TokenManager` refreshes at most once at a time per
connection, and saves the new token set before anyone uses the new access token.
No token, code or secret is ever written to a log line or an error message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from jiraclient.errors import (
    JiraInvalidResponse,
    ReauthorisationRequired,
    error_from_response,
    transport_error,
)

log = logging.getLogger(__name__)

DEFAULT_AUTH_URL = "https://auth.atlassian.com"
DEFAULT_API_URL = "https://api.atlassian.com"

# Refresh this long before the access token expires, so a request that starts
# with a valid token does not reach Jira with an expired one.
DEFAULT_REFRESH_MARGIN_S = 120.0
# How long a refused refresh token waits for a newer grant to reach the store.
DEFAULT_GRANT_SETTLE_S = 1.5

# A site is a Jira site when its scopes include one of these. Atlassian gives a
# Confluence site of the same organisation the same id, so the id alone is ambiguous.
JIRA_SCOPE_MARKERS = ("jira",)


@dataclass(frozen=True)
class TokenSet:
    """The tokens of one connection. ``repr`` shows the expiry and scopes, never a token."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at_ms: int
    scopes: tuple[str, ...] = ()

    def expires_within(self, seconds: float, *, now_ms: int) -> bool:
        """Return whether the access token expires within ``seconds`` of ``now_ms``."""
        return self.expires_at_ms - now_ms <= seconds * 1000


@dataclass(frozen=True)
class Site:
    """One Jira site the account's grant reaches, as accessible-resources lists it."""

    cloud_id: str
    name: str
    url: str
    scopes: tuple[str, ...]
    avatar_url: str | None = None


class TokenStore(Protocol):
    """Durable storage of each connection's token set (encrypted by the implementation)."""

    async def load(self, connection_id: str) -> TokenSet | None: ...

    async def save(self, connection_id: str, tokens: TokenSet) -> None: ...


class TokenSource(Protocol):
    """The bearer-token callable that :class:`~jiraclient.client.JiraClient` uses.

    ``stale`` is a token that Jira rejected with 401, and the source then returns a
    different, freshly refreshed token instead of the cached one.
    """

    def __call__(self, stale: str | None = None) -> Awaitable[str]: ...


InvalidGrantHandler = Callable[[str], Awaitable[None]]


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _token_set_from(body: Any, *, now_ms: int, previous_refresh: str | None) -> TokenSet:
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise ValueError("the token response has no access_token")

    expires_in = body.get("expires_in", 3600)
    if not isinstance(expires_in, int | float):
        raise ValueError(f"the token response has a non-numeric expires_in: {expires_in!r}")
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    return TokenSet(
        access_token=body["access_token"],
        refresh_token=refresh if isinstance(refresh, str) else previous_refresh,
        expires_at_ms=now_ms + int(expires_in * 1000),
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
    )


def _is_invalid_grant(response: httpx.Response) -> tuple[bool, str]:
    if response.status_code not in (400, 401, 403):
        return False, ""
    try:
        body = response.json()
    except ValueError:
        return False, ""
    if not isinstance(body, dict) or body.get("error") != "invalid_grant":
        return False, ""
    description = body.get("error_description")
    return True, str(description) if description else "invalid_grant"


def jira_sites(resources: Sequence[dict[str, Any]]) -> list[Site]:
    """Return the Jira sites among accessible resources, in the order Atlassian listed them."""
    sites: list[Site] = []
    for resource in resources:
        scopes = tuple(str(scope) for scope in resource.get("scopes") or ())
        if not any(marker in scope for scope in scopes for marker in JIRA_SCOPE_MARKERS):
            continue
        sites.append(
            Site(
                cloud_id=str(resource["id"]),
                name=str(resource.get("name", "")),
                url=str(resource.get("url", "")),
                scopes=scopes,
                avatar_url=resource.get("avatarUrl"),
            )
        )
    return sites


class TokenManager:
    """Hands out valid access tokens per connection, refreshing them single-flight."""

    def __init__(
        self,
        store: TokenStore,
        *,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient,
        on_invalid_grant: InvalidGrantHandler | None = None,
        auth_url: str = DEFAULT_AUTH_URL,
        api_url: str = DEFAULT_API_URL,
        refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
        clock_ms: Callable[[], int] = _wall_clock_ms,
        grant_settle_s: float = DEFAULT_GRANT_SETTLE_S,
    ) -> None:
        self._store = store
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._on_invalid_grant = on_invalid_grant
        self._token_url = auth_url.rstrip("/") + "/oauth/token"
        self._api_url = api_url.rstrip("/")
        self._margin_s = refresh_margin_s
        self._clock_ms = clock_ms
        self._grant_settle_s = grant_settle_s
        self._cache: dict[str, TokenSet] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Connection id -> (reason, the refresh token Atlassian refused).
        self._revoked: dict[str, tuple[str, str | None]] = {}

    def __repr__(self) -> str:
        return f"TokenManager(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def source(self, connection_id: str) -> TokenSource:
        """Return a :class:`TokenSource` bound to one connection, for a ``JiraClient``."""

        async def token(stale: str | None = None) -> str:
            return await self.access_token(connection_id, stale=stale)

        return token

    async def access_token(self, connection_id: str, *, stale: str | None = None) -> str:
        """Return a valid access token for the connection, refreshing it when needed.

        The token is refreshed when it expires within the refresh margin, or when
        ``stale`` equals the current token (Jira rejected it). Concurrent callers of
        one connection share one refresh. Raises :class:`ReauthorisationRequired`
        once Atlassian refused the refresh token, without asking Atlassian again.
        """
        cached = self._cache.get(connection_id)
        if cached is not None and self._usable(cached, stale):
            return cached.access_token

        lock = self._locks.setdefault(connection_id, asyncio.Lock())
        async with lock:
            stored = await self._store.load(connection_id)
            refused = self._revoked.get(connection_id)
            if refused is not None:
                description, refused_token = refused
                if stored is None or stored.refresh_token == refused_token:
                    raise ReauthorisationRequired(connection_id, description)
                # A space admin connected again, so the store holds a new grant.
                del self._revoked[connection_id]
                self._cache.pop(connection_id, None)

            current = self._cache.get(connection_id)
            if current is None or (stored is not None
                                   and stored.refresh_token != current.refresh_token):
                # Another process refreshed, or the connection was made again.
                current = stored
            if current is None:
                raise ReauthorisationRequired(connection_id, "no tokens are stored")
            if self._usable(current, stale):
                self._cache[connection_id] = current
                return current.access_token

            refreshed = await self._refresh(connection_id, current)
            return refreshed.access_token

    def forget(self, connection_id: str) -> None:
        """Drop the cached tokens of a connection, for example after a disconnect."""
        self._cache.pop(connection_id, None)
        self._revoked.pop(connection_id, None)

    def _usable(self, tokens: TokenSet, stale: str | None) -> bool:
        if stale is not None and tokens.access_token == stale:
            return False
        return not tokens.expires_within(self._margin_s, now_ms=self._clock_ms())

    async def _refresh(self, connection_id: str, current: TokenSet) -> TokenSet:
        if current.refresh_token is None:
            await self._revoke(connection_id, "no refresh token is stored", request=None)

        body = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": current.refresh_token,
        }
        response = await self._post_token(body, connection_id=connection_id)

        invalid, description = _is_invalid_grant(response)
        if invalid:
            newer = await self._newer_grant(connection_id, current.refresh_token)
            if newer is not None:
                log.info("refresh token rejected, but a newer grant is stored; using it "
                         "connection_id=%s", connection_id)
                self._cache[connection_id] = newer
                if self._usable(newer, None):
                    return newer
                return await self._refresh(connection_id, newer)
            await self._revoke(connection_id, description, request=response.request,
                               refused_token=current.refresh_token)
        if response.is_error:
            raise error_from_response(response)

        refreshed = self._parse_tokens(response, previous_refresh=current.refresh_token)

        # Atlassian retired the old refresh token with this response. Unless the new
        # one is stored before its access token is used, a crash loses the grant.
        await self._store.save(connection_id, refreshed)
        self._cache[connection_id] = refreshed
        log.info(
            "refreshed access token connection_id=%s expires_at_ms=%d",
            connection_id,
            refreshed.expires_at_ms,
        )
        return refreshed

    async def _newer_grant(self, connection_id: str, refused: str | None) -> TokenSet | None:
        """Return stored tokens with another refresh token than ``refused``, if any appear.

        A refused refresh token is not always a revoked grant. A space admin may have
        connected again while this process held the old tokens, and the store of a
        process that follows the connections topic learns of the new grant a moment
        later. So the store is read again for up to ``grant_settle_s`` first.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grant_settle_s
        while True:
            stored = await self._store.load(connection_id)
            if stored is not None and stored.refresh_token != refused:
                return stored
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(min(0.25, max(deadline - loop.time(), 0.0)))

    async def _revoke(
        self, connection_id: str, description: str, *, request: httpx.Request | None,
        refused_token: str | None = None,
    ) -> None:
        self._revoked[connection_id] = (description, refused_token)
        self._cache.pop(connection_id, None)
        log.warning(
            "refresh token refused, connection needs re-authorisation connection_id=%s reason=%s",
            connection_id,
            description,
        )
        if self._on_invalid_grant is not None:
            await self._on_invalid_grant(connection_id)
        raise ReauthorisationRequired(connection_id, description, request=request)

    async def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenSet:
        """Exchange an authorization code from the consent redirect for a token set."""
        body = {
            "grant_type": "authorization_code",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }
        if code_verifier is not None:
            body["code_verifier"] = code_verifier

        response = await self._post_token(body, connection_id=None)
        if response.is_error:
            raise error_from_response(response)
        tokens = self._parse_tokens(response, previous_refresh=None)
        log.info("exchanged authorization code expires_at_ms=%d", tokens.expires_at_ms)
        return tokens

    async def accessible_resources(self, access_token: str) -> list[Site]:
        """List the Jira sites the token reaches (other Atlassian products are left out)."""
        url = self._api_url + "/oauth/token/accessible-resources"
        try:
            response = await self._http.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.RequestError as exc:
            raise transport_error(exc, method="GET", url=url) from exc
        log.info("GET /oauth/token/accessible-resources status=%d", response.status_code)
        if response.is_error:
            raise error_from_response(response)

        try:
            resources = response.json()
        except ValueError as exc:
            raise JiraInvalidResponse(
                "accessible-resources returned a body that is not JSON", response=response
            ) from exc
        if not isinstance(resources, list):
            raise JiraInvalidResponse(
                f"accessible-resources returned {type(resources).__name__}, expected a list",
                response=response,
            )
        return jira_sites([item for item in resources if isinstance(item, dict)])

    async def _post_token(
        self, body: dict[str, Any], *, connection_id: str | None
    ) -> httpx.Response:
        started = time.monotonic()
        try:
            response = await self._http.post(
                self._token_url, json=body, headers={"Accept": "application/json"}
            )
        except httpx.RequestError as exc:
            raise transport_error(exc, method="POST", url=self._token_url) from exc
        log.info(
            "POST /oauth/token grant_type=%s status=%d connection_id=%s duration_ms=%.0f",
            body["grant_type"],
            response.status_code,
            connection_id,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _parse_tokens(self, response: httpx.Response, *, previous_refresh: str | None) -> TokenSet:
        try:
            return _token_set_from(
                response.json(), now_ms=self._clock_ms(), previous_refresh=previous_refresh
            )
        except ValueError as exc:
            raise JiraInvalidResponse(
                f"the token endpoint returned an unreadable token response: {exc}",
                response=response,
            ) from exc
