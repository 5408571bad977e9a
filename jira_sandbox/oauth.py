"""OAuth 2.0 authorization code grants (3LO) as Atlassian's auth server runs them.

Serves `GET|POST /authorize` (consent page), `POST /oauth/token` (code exchange and
refresh), `GET /oauth/token/accessible-resources` and `GET /me`, and validates bearer
tokens for the REST routes through `OAuthServer.authenticate`.

Rules the server enforces, all measured on `world.clock`:

- An authorization code is single use, expires after `code_ttl_s`, is bound to its
  `redirect_uri`, and needs the PKCE verifier when a challenge was sent. Reusing a
  code revokes the grant it produced.
- Access tokens live `access_token_ttl_s`. A refresh token is issued only when
  `offline_access` was granted.
- Refresh tokens rotate: each refresh returns a new one and retires the one sent.
  A retired token sent again within `reuse_leeway_s` of its retirement returns the
  grant's current pair; sent later, it revokes the whole grant and every token in it.
- A refresh token unused for 90 days expires, and a grant stops refreshing 365 days
  after consent.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import logging
import secrets
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from jira_sandbox.model import Account, SandboxError, World

__all__ = ["Grant", "GrantRecord", "OAuthError", "OAuthServer", "TokenPair"]

logger = logging.getLogger(__name__)

AUDIENCE = "api.atlassian.com"
ISSUER = "https://auth.atlassian.com"
OFFLINE_ACCESS = "offline_access"
DAY_S = 86_400
REFRESH_INACTIVITY_S = 90 * DAY_S
GRANT_LIFETIME_S = 365 * DAY_S
SITE_AVATARS = (
    "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/flag.png",
    "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/koala.png",
    "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png",
    "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/star.png",
)
UNAUTHORIZED = {"code": 401, "message": "Unauthorized"}
SCOPE_MISMATCH = {"code": 401, "message": "Unauthorized; scope does not match"}
INVALID_REFRESH = {
    "error": "invalid_grant",
    "error_description": "Unknown or invalid refresh token.",
}


class OAuthError(SandboxError):
    """A rejected OAuth or bearer-token request, with the HTTP status and JSON body to send."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {body}")

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status)


@dataclass(frozen=True)
class Grant:
    """One consent: an account allowed a client these scopes."""

    grant_id: str
    account_id: str
    client_id: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class TokenPair:
    """A token endpoint result; `refresh_token` is None without `offline_access`."""

    access_token: str
    refresh_token: str | None
    expires_in: int
    scope: str
    grant_id: str

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body["scope"] = self.scope
        return body


@dataclass
class GrantRecord:
    """Mutable state of one grant; tests read `token_requests` and `rotations`."""

    grant: Grant
    # Scopes in the order they were requested, as `scope` and accessible-resources list them.
    scope_order: tuple[str, ...]
    created_ms: int
    access_token: str
    access_expires_ms: int
    refresh_token: str | None
    refresh_issued_ms: int
    revoked: bool = False
    revoked_reason: str | None = None
    # Every token endpoint request made with this grant's code or refresh tokens.
    token_requests: int = 0
    # Refreshes that issued a new refresh token.
    rotations: int = 0


@dataclass
class _AuthorizationCode:
    client_id: str
    redirect_uri: str
    account_id: str
    scope_order: tuple[str, ...]
    code_challenge: str | None
    expires_ms: int
    used: bool = False
    grant_id: str | None = None


@dataclass
class _RefreshToken:
    grant_id: str
    retired_ms: int | None = None


@dataclass
class _AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scope_order: tuple[str, ...]
    state: str | None
    code_challenge: str | None


@dataclass
class _TokenStore:
    grants: dict[str, GrantRecord] = field(default_factory=dict)
    codes: dict[str, _AuthorizationCode] = field(default_factory=dict)
    access_tokens: dict[str, tuple[str, int]] = field(default_factory=dict)
    refresh_tokens: dict[str, _RefreshToken] = field(default_factory=dict)


class OAuthServer:
    """The sandbox's auth server and API gateway token check for one OAuth app."""

    def __init__(
        self,
        world: World,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        auto_consent: bool = False,
        access_token_ttl_s: int = 3600,
        reuse_leeway_s: int = 600,
        code_ttl_s: int = 600,
    ) -> None:
        self.world = world
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        self.auto_consent = auto_consent
        self.access_token_ttl_s = access_token_ttl_s
        self.reuse_leeway_s = reuse_leeway_s
        self.code_ttl_s = code_ttl_s
        self._store = _TokenStore()
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.RLock()
        self._grant_numbers = itertools.count(1)

    # Public API for the REST layer and tests.

    @property
    def grants(self) -> dict[str, GrantRecord]:
        return self._store.grants

    def grants_for(self, account_id: str) -> list[GrantRecord]:
        return [record for record in self.grants.values() if record.grant.account_id == account_id]

    def authenticate(
        self,
        authorization_header: str | None,
        cloud_id: str,
        *,
        required_scopes: Iterable[str] = (),
    ) -> Grant:
        """Return the grant behind a `Bearer` header that may call `cloud_id`.

        Raises OAuthError(401) for a missing, unknown, expired or revoked token, and
        for a site or scope outside the grant, with the JSON body the API gateway sends.
        """
        record = self._record_for_header(authorization_header)

        account = self.world.accounts.get(record.grant.account_id)
        if account is None or cloud_id not in account.site_ids:
            logger.info(
                "bearer token rejected: site outside grant cloud_id=%s grant_id=%s",
                cloud_id,
                record.grant.grant_id,
            )
            raise OAuthError(401, dict(SCOPE_MISMATCH))

        missing = set(required_scopes) - record.grant.scopes
        if missing:
            logger.info(
                "bearer token rejected: scopes missing cloud_id=%s grant_id=%s missing=%s",
                cloud_id,
                record.grant.grant_id,
                sorted(missing),
            )
            raise OAuthError(401, dict(SCOPE_MISMATCH))

        return record.grant

    def mint_for_tests(self, account_id: str, scopes: list[str]) -> TokenPair:
        """Consent for `account_id` without the browser step and return the first token pair."""
        if account_id not in self.world.accounts:
            raise OAuthError(
                400,
                {
                    "error": "invalid_request",
                    "error_description": f"unknown account {account_id!r}; "
                    f"known accounts are {sorted(self.world.accounts)}",
                },
            )
        with self._lock:
            record = self._new_grant(account_id, tuple(scopes))
            return self._current_pair(record)

    def revoke(self, grant_id: str, reason: str = "revoked by the user") -> None:
        """Revoke a grant and every token issued under it."""
        with self._lock:
            record = self._store.grants.get(grant_id)
            if record is None:
                raise KeyError(f"unknown grant {grant_id!r}")
            self._revoke(record, reason)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/authorize", self._authorize, methods=["GET", "POST"]),
            Route("/oauth/token", self._token, methods=["POST"]),
            Route("/oauth/token/accessible-resources", self._accessible_resources, methods=["GET"]),
            Route("/me", self._me, methods=["GET"]),
        ]

    # /authorize

    async def _authorize(self, request: Request) -> Response:
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            params.update(await _form_params(request))

        # Until client_id and redirect_uri are known good, errors are shown to the
        # user and never redirected, so the server cannot be used as an open redirect.
        client_id = params.get("client_id", "")
        if client_id != self.client_id:
            return _error_page(f"Unknown client_id {client_id!r}.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return _error_page(
                f"redirect_uri {redirect_uri!r} does not match any callback URL "
                "registered for this app."
            )

        state = params.get("state")
        authorize = _AuthorizeRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope_order=tuple(params.get("scope", "").split()),
            state=state,
            code_challenge=params.get("code_challenge") or None,
        )
        problem = _authorize_problem(params)
        if problem is not None:
            return _redirect_error(authorize, "invalid_request", problem)

        if request.method == "POST" and params.get("decision") == "deny":
            logger.info("consent denied client_id=%s", client_id)
            return _redirect_error(authorize, "access_denied", "User did not authorize the request")

        account = self._find_account(params.get("account") or params.get("login_hint"))
        decided = request.method == "POST" and params.get("decision") == "accept"
        if account is None or not (decided or self.auto_consent):
            return self._consent_page(params, authorize, account)

        code = self._issue_code(authorize, account.account_id)
        query = {"code": code}
        if state is not None:
            query["state"] = state
        return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)

    def _find_account(self, hint: str | None) -> Account | None:
        accounts = self.world.accounts
        if hint:
            if hint in accounts:
                return accounts[hint]
            for account in accounts.values():
                if account.email is not None and account.email.lower() == hint.lower():
                    return account
            return None
        if len(accounts) == 1:
            return next(iter(accounts.values()))
        return None

    def _issue_code(self, authorize: _AuthorizeRequest, account_id: str) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._store.codes[code] = _AuthorizationCode(
                client_id=authorize.client_id,
                redirect_uri=authorize.redirect_uri,
                account_id=account_id,
                scope_order=authorize.scope_order,
                code_challenge=authorize.code_challenge,
                expires_ms=self.world.clock.peek_ms() + self.code_ttl_s * 1000,
            )
        logger.info(
            "authorization code issued client_id=%s account_id=%s", authorize.client_id, account_id
        )
        return code

    def _consent_page(
        self, params: dict[str, str], authorize: _AuthorizeRequest, account: Account | None
    ) -> HTMLResponse:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
            for key, value in params.items()
            if key not in ("decision", "account", "login_hint")
        )
        scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in authorize.scope_order)

        if account is not None:
            chooser = (
                f'<input type="hidden" name="account" value="{html.escape(account.account_id)}">'
                f"<p>Signed in as {html.escape(account.display_name)}</p>"
            )
            sites = self._site_list_html(account)
        else:
            options = "".join(
                f'<option value="{html.escape(item.account_id)}">'
                f"{html.escape(item.display_name)} ({html.escape(item.email or item.account_id)})"
                "</option>"
                for item in self.world.accounts.values()
            )
            chooser = f'<label>Account <select name="account">{options}</select></label>'
            sites = "<p>Sites depend on the account you choose.</p>"

        page = (
            "<!doctype html><html><head><title>Authorize app</title></head><body>"
            f"<h1>{html.escape(authorize.client_id)} is requesting access "
            "to your Atlassian account</h1>"
            f'<form method="post" action="/authorize">{hidden}{chooser}'
            f"<h2>Permissions</h2><ul>{scopes}</ul><h2>Sites</h2>{sites}"
            '<button type="submit" name="decision" value="accept">Accept</button>'
            '<button type="submit" name="decision" value="deny">Deny</button>'
            "</form></body></html>"
        )
        return HTMLResponse(page)

    def _site_list_html(self, account: Account) -> str:
        items = "".join(
            f"<li>{html.escape(site.name)} ({html.escape(site.url)})</li>"
            for cloud_id in account.site_ids
            if (site := self.world.sites.get(cloud_id)) is not None
        )
        return f"<ul>{items}</ul>"

    # /oauth/token

    async def _token(self, request: Request) -> Response:
        try:
            params = await _token_params(request)
            self._check_client(params)
            grant_type = params.get("grant_type")
            with self._lock:
                if grant_type == "authorization_code":
                    pair = self._exchange_code(params)
                elif grant_type == "refresh_token":
                    pair = self._refresh(params)
                else:
                    raise OAuthError(
                        403,
                        {
                            "error": "unsupported_grant_type",
                            "error_description": f"Unsupported grant type: {grant_type}; "
                            "use authorization_code or refresh_token",
                        },
                    )
        except OAuthError as error:
            return error.response()
        return JSONResponse(pair.to_json(), headers={"Cache-Control": "no-store"})

    def _check_client(self, params: dict[str, str]) -> None:
        client_id = params.get("client_id")
        secret = params.get("client_secret")
        secret_ok = secret is not None and secrets.compare_digest(secret, self.client_secret)
        if client_id != self.client_id or not secret_ok:
            logger.info("token request rejected: bad client credentials client_id=%s", client_id)
            raise OAuthError(401, {"error": "access_denied", "error_description": "Unauthorized"})

    def _exchange_code(self, params: dict[str, str]) -> TokenPair:
        code_value = _required(params, "code")
        code = self._store.codes.get(code_value)
        if code is None:
            raise OAuthError(
                403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            )

        if code.used:
            # RFC 6749 section 4.1.2: a code used twice revokes what it produced.
            if code.grant_id is not None:
                self._revoke(self._store.grants[code.grant_id], "authorization code reused")
            raise OAuthError(
                403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            )
        code.used = True

        if self.world.clock.peek_ms() > code.expires_ms:
            raise OAuthError(
                403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            )

        redirect_uri = params.get("redirect_uri")
        if redirect_uri != code.redirect_uri:
            raise OAuthError(
                403,
                {
                    "error": "invalid_grant",
                    "error_description": f"redirect_uri {redirect_uri!r} does not match "
                    f"{code.redirect_uri!r}, the one sent to /authorize",
                },
            )

        if code.code_challenge is not None:
            verifier = params.get("code_verifier")
            if verifier is None:
                raise OAuthError(
                    403,
                    {
                        "error": "invalid_grant",
                        "error_description": "Parameter 'code_verifier' is required",
                    },
                )
            if not secrets.compare_digest(_s256(verifier), code.code_challenge):
                raise OAuthError(
                    403,
                    {
                        "error": "invalid_grant",
                        "error_description": "Failed to verify code verifier",
                    },
                )

        record = self._new_grant(code.account_id, code.scope_order)
        code.grant_id = record.grant.grant_id
        record.token_requests += 1
        return self._current_pair(record)

    def _refresh(self, params: dict[str, str]) -> TokenPair:
        token = _required(params, "refresh_token")
        entry = self._store.refresh_tokens.get(token)
        if entry is None:
            raise OAuthError(403, dict(INVALID_REFRESH))

        record = self._store.grants[entry.grant_id]
        record.token_requests += 1
        grant_id = record.grant.grant_id
        now_ms = self.world.clock.peek_ms()

        if record.revoked:
            logger.info("refresh rejected: grant revoked grant_id=%s", grant_id)
            raise OAuthError(403, dict(INVALID_REFRESH))

        if entry.retired_ms is not None:
            if now_ms - entry.retired_ms <= self.reuse_leeway_s * 1000:
                logger.info("retired refresh token reused within leeway grant_id=%s", grant_id)
                return self._current_pair(record)
            self._revoke(record, "retired refresh token reused after the leeway")
            raise OAuthError(403, dict(INVALID_REFRESH))

        if now_ms - record.created_ms > GRANT_LIFETIME_S * 1000:
            self._revoke(record, "grant older than 365 days")
            raise OAuthError(403, dict(INVALID_REFRESH))
        if now_ms - record.refresh_issued_ms > REFRESH_INACTIVITY_S * 1000:
            self._revoke(record, "refresh token unused for 90 days")
            raise OAuthError(403, dict(INVALID_REFRESH))

        entry.retired_ms = now_ms
        self._issue_tokens(record)
        record.rotations += 1
        logger.info("refresh token rotated grant_id=%s rotations=%d", grant_id, record.rotations)
        return self._current_pair(record)

    # Token bookkeeping; callers hold self._lock.

    def _new_grant(self, account_id: str, scope_order: tuple[str, ...]) -> GrantRecord:
        grant = Grant(
            grant_id=f"grant-{next(self._grant_numbers)}-{uuid.uuid4().hex[:8]}",
            account_id=account_id,
            client_id=self.client_id,
            scopes=frozenset(scope_order),
        )
        now_ms = self.world.clock.peek_ms()
        record = GrantRecord(
            grant=grant,
            scope_order=scope_order,
            created_ms=now_ms,
            access_token="",
            access_expires_ms=0,
            refresh_token=None,
            refresh_issued_ms=now_ms,
        )
        self._store.grants[grant.grant_id] = record
        self._issue_tokens(record)
        logger.info(
            "grant created grant_id=%s account_id=%s scopes=%s",
            grant.grant_id,
            account_id,
            " ".join(scope_order),
        )
        return record

    def _issue_tokens(self, record: GrantRecord) -> None:
        now_ms = self.world.clock.peek_ms()
        expires_ms = now_ms + self.access_token_ttl_s * 1000
        claims = {
            "iss": ISSUER,
            "sub": record.grant.account_id,
            "aud": AUDIENCE,
            "iat": now_ms // 1000,
            "exp": expires_ms // 1000,
            "jti": uuid.uuid4().hex,
            "client_id": record.grant.client_id,
            "scope": " ".join(record.scope_order),
        }
        access_token = jwt.encode(claims, self._signing_key, algorithm="HS256")
        self._store.access_tokens[access_token] = (record.grant.grant_id, expires_ms)
        record.access_token = access_token
        record.access_expires_ms = expires_ms

        if OFFLINE_ACCESS in record.grant.scopes:
            refresh_token = secrets.token_urlsafe(48)
            self._store.refresh_tokens[refresh_token] = _RefreshToken(record.grant.grant_id)
            record.refresh_token = refresh_token
            record.refresh_issued_ms = now_ms

    def _current_pair(self, record: GrantRecord) -> TokenPair:
        remaining_ms = record.access_expires_ms - self.world.clock.peek_ms()
        return TokenPair(
            access_token=record.access_token,
            refresh_token=record.refresh_token,
            # Rounded up, so a pair issued a few milliseconds ago reports the full lifetime.
            expires_in=max(0, -(-remaining_ms // 1000)),
            scope=" ".join(record.scope_order),
            grant_id=record.grant.grant_id,
        )

    def _revoke(self, record: GrantRecord, reason: str) -> None:
        if record.revoked:
            return
        record.revoked = True
        record.revoked_reason = reason
        logger.warning("grant revoked grant_id=%s reason=%s", record.grant.grant_id, reason)

    def _record_for_header(self, authorization_header: str | None) -> GrantRecord:
        if authorization_header is None or not authorization_header.startswith("Bearer "):
            raise OAuthError(401, dict(UNAUTHORIZED))

        token = authorization_header[len("Bearer ") :].strip()
        with self._lock:
            entry = self._store.access_tokens.get(token)
            if entry is None:
                raise OAuthError(401, dict(UNAUTHORIZED))
            grant_id, expires_ms = entry
            record = self._store.grants[grant_id]

        if record.revoked:
            logger.info("bearer token rejected: grant revoked grant_id=%s", grant_id)
            raise OAuthError(401, dict(UNAUTHORIZED))
        if self.world.clock.peek_ms() >= expires_ms:
            logger.info("bearer token rejected: expired grant_id=%s", grant_id)
            raise OAuthError(401, dict(UNAUTHORIZED))
        return record

    # API gateway routes

    async def _accessible_resources(self, request: Request) -> Response:
        try:
            record = self._record_for_header(request.headers.get("authorization"))
        except OAuthError as error:
            return error.response()

        account = self.world.accounts.get(record.grant.account_id)
        site_ids = account.site_ids if account is not None else []
        scopes = [scope for scope in record.scope_order if scope != OFFLINE_ACCESS]
        resources = []
        for cloud_id in site_ids:
            site = self.world.sites.get(cloud_id)
            if site is None:
                continue
            avatar = SITE_AVATARS[
                int(hashlib.sha256(cloud_id.encode()).hexdigest(), 16) % len(SITE_AVATARS)
            ]
            resources.append(
                {
                    "id": cloud_id,
                    "name": site.name,
                    "url": site.url,
                    "scopes": scopes,
                    "avatarUrl": avatar,
                }
            )
        return JSONResponse(resources)

    async def _me(self, request: Request) -> Response:
        # NOTE: Atlassian's /me needs the `read:me` scope; the sandbox accepts any valid token.
        try:
            record = self._record_for_header(request.headers.get("authorization"))
        except OAuthError as error:
            return error.response()

        account = self.world.accounts.get(record.grant.account_id)
        if account is None:
            return JSONResponse(dict(UNAUTHORIZED), status_code=401)
        return JSONResponse(
            {
                "account_type": "atlassian",
                "account_id": account.account_id,
                "email": account.email,
                "name": account.display_name,
                "picture": _avatar_url(account.display_name),
                "account_status": "active",
                "nickname": account.display_name.split(" ")[0],
                "zoneinfo": account.time_zone,
                "locale": "en-US",
                "extended_profile": {},
            }
        )


def _authorize_problem(params: dict[str, str]) -> str | None:
    """Return why an /authorize request with a known client and callback is invalid."""
    if params.get("response_type") != "code":
        return f"response_type {params.get('response_type')!r} is unsupported; use 'code'"
    audience = params.get("audience")
    if audience is not None and audience != AUDIENCE:
        return f"audience {audience!r} is invalid; use {AUDIENCE!r}"
    if not params.get("scope", "").split():
        return (
            "scope is missing; pass space-separated scopes such as 'read:jira-work offline_access'"
        )
    if params.get("code_challenge"):
        method = params.get("code_challenge_method", "plain")
        if method != "S256":
            return f"code_challenge_method {method!r} is unsupported; use 'S256'"
    return None


async def _token_params(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return await _form_params(request)

    try:
        body = await request.json()
    except ValueError as error:
        raise OAuthError(
            400,
            {
                "error": "invalid_request",
                "error_description": f"request body is not valid JSON: {error}",
            },
        ) from error
    if not isinstance(body, dict):
        raise OAuthError(
            400,
            {"error": "invalid_request", "error_description": "request body must be a JSON object"},
        )
    return {key: str(value) for key, value in body.items() if value is not None}


async def _form_params(request: Request) -> dict[str, str]:
    # Parsed here because Starlette's form parser needs python-multipart, which the
    # project does not install; urlencoded bodies are all the sandbox receives.
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise OAuthError(
            400,
            {
                "error": "invalid_request",
                "error_description": f"Missing required parameter: {name}",
            },
        )
    return value


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _redirect_error(authorize: _AuthorizeRequest, error: str, description: str) -> RedirectResponse:
    query = {"error": error, "error_description": description}
    if authorize.state is not None:
        query["state"] = authorize.state
    return RedirectResponse(f"{authorize.redirect_uri}?{urlencode(query)}", status_code=302)


def _error_page(message: str) -> HTMLResponse:
    page = (
        "<!doctype html><html><head><title>Something went wrong</title></head><body>"
        f"<h1>Something went wrong</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(page, status_code=400)


def _avatar_url(display_name: str) -> str:
    initials = "".join(part[0] for part in display_name.split()[:2]).upper() or "U"
    return f"https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/{initials}-0.png"
