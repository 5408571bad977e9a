"""Connecting a space to Jira: OAuth 2.0 (3LO) consent, site choice, status, disconnect.

Only an owner or admin of a space may start a connection, choose its site or
disconnect it, and the role is checked before any redirect to Atlassian, so a
connection is only ever bound to a space its creator administers.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ingest.connection import Connection, ConnectionStatus, SiteCandidate
from ingest.context import Ingress
from ingest.errors import ConflictError, ValidationError
from ingest.identity import user_of
from ingest.oauth_state import code_challenge
from jiraclient.errors import JiraBadRequest, JiraForbidden, JiraUnauthorized

logger = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = (
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "manage:jira-webhook",
    "offline_access",
    # GET /me, which names the account behind the grant, needs read:me.
    "read:me",
    # Listing boards needs read:project:jira next to the board scope.
    "read:board-scope:jira-software",
    "read:project:jira",
    "write:board-scope:jira-software",
    "read:sprint:jira-software",
    "write:sprint:jira-software",
)


def authorize_url(ingress: Ingress, state: str, verifier: str) -> str:
    query = urlencode({
        "audience": "api.atlassian.com",
        "client_id": ingress.settings.client_id,
        "scope": " ".join(SCOPES),
        "redirect_uri": ingress.settings.redirect_url,
        "state": state,
        "response_type": "code",
        "prompt": "consent",
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    })
    return f"{ingress.settings.auth_url}/authorize?{query}"


async def begin(request: Request) -> Response:
    """``POST /spaces/{space_id}/jira/connect``: redirect an admin to Atlassian's consent."""
    ingress: Ingress = request.app.state.ingress
    space_id = request.path_params["space_id"]
    user_id = user_of(request, ingress.settings.jwt_key)
    ingress.spaces.require_admin(space_id, user_id)

    state, consent = ingress.states.issue(user_id, space_id)
    url = authorize_url(ingress, state, consent.code_verifier)
    logger.info("consent started space_id=%s user_id=%s", space_id, user_id)

    # A browser form post follows the redirect. Naumu's card requests JSON and navigates itself.
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"authorize_url": url})
    return RedirectResponse(url, status_code=303)


async def callback(request: Request) -> Response:
    """``GET /oauth/callback``: finish the consent, store the connection, activate it."""
    ingress: Ingress = request.app.state.ingress
    state = request.query_params.get("state")
    if not state:
        raise ValidationError("the callback has no state parameter; start the connection again")
    consent = ingress.states.redeem(state)

    error = request.query_params.get("error")
    if error:
        raise ValidationError(
            f"Atlassian returned error {error!r} for space {consent.space_id} "
            f"({request.query_params.get('error_description', 'no description')}); "
            "start the connection again and grant access"
        )
    code = request.query_params.get("code")
    if not code:
        raise ValidationError("the callback has no code parameter; start the connection again")

    try:
        tokens = await ingress.tokens.exchange_code(
            code, ingress.settings.redirect_url, consent.code_verifier
        )
    except (JiraBadRequest, JiraUnauthorized, JiraForbidden) as exc:
        # Atlassian refused the code itself (expired, reused or forged): the admin
        # starts again; a 5xx stays a 502 through the app's Jira error handler.
        logger.warning("authorization code rejected space_id=%s: %s", consent.space_id, exc)
        raise ValidationError(
            "Atlassian rejected the authorization code (expired, already used or not "
            "issued for this app); start the connection again"
        ) from exc
    sites = await ingress.tokens.accessible_resources(tokens.access_token)
    account_id = await _account_id(ingress, tokens.access_token)

    before = ingress.registry.get(consent.space_id)
    connection = await ingress.registry.connect(
        space_id=consent.space_id,
        account_id=account_id,
        sites=[SiteCandidate(cloud_id=s.cloud_id, name=s.name, url=s.url) for s in sites],
        tokens=tokens,
        created_by=consent.user_id,
    )
    ingress.tokens.forget(connection.connection_id)
    if connection.status is ConnectionStatus.ACTIVE and not _was_active_on(before, connection):
        await ingress.lifecycle.activated(connection)
    elif connection.status is ConnectionStatus.ACTIVE:
        # A renewed consent on the same site: the registrations may have expired or been
        # lost with the old grant, and registering is an upsert, so make sure they exist.
        await ingress.lifecycle.register_webhooks(connection)
    return JSONResponse(connection.public_view())


async def sites(request: Request) -> Response:
    """``GET /spaces/{space_id}/jira/sites``: the sites the connected account can reach."""
    ingress: Ingress = request.app.state.ingress
    space_id = request.path_params["space_id"]
    ingress.spaces.require_admin(space_id, user_of(request, ingress.settings.jwt_key))

    connection = ingress.registry.require(space_id)
    return JSONResponse({
        "status": connection.status.value,
        "cloud_id": connection.cloud_id,
        "sites": [candidate.model_dump() for candidate in connection.site_candidates],
    })


async def choose_site(request: Request) -> Response:
    """``POST /spaces/{space_id}/jira/site`` with ``{"cloud_id": ...}``."""
    ingress: Ingress = request.app.state.ingress
    space_id = request.path_params["space_id"]
    ingress.spaces.require_admin(space_id, user_of(request, ingress.settings.jwt_key))

    cloud_id = _cloud_id_of(await _json_object(request))
    before = ingress.registry.require(space_id)
    connection = await ingress.registry.choose_site(space_id, cloud_id)
    if not _was_active_on(before, connection):
        await ingress.lifecycle.activated(connection)
    return JSONResponse(connection.public_view())


async def status(request: Request) -> Response:
    """``GET /spaces/{space_id}/jira``: the connection status, never the tokens."""
    ingress: Ingress = request.app.state.ingress
    space_id = request.path_params["space_id"]
    ingress.spaces.require_member(space_id, user_of(request, ingress.settings.jwt_key))
    return JSONResponse(ingress.registry.require(space_id).public_view())


async def disconnect(request: Request) -> Response:
    """``POST /spaces/{space_id}/jira/disconnect``: drop tokens and webhooks, keep nodes."""
    ingress: Ingress = request.app.state.ingress
    space_id = request.path_params["space_id"]
    user_id = user_of(request, ingress.settings.jwt_key)
    ingress.spaces.require_admin(space_id, user_id)

    before = ingress.registry.require(space_id)
    if before.status is ConnectionStatus.DISCONNECTED:
        return JSONResponse(before.public_view())

    # Webhooks go first, while the tokens that can delete them still exist.
    await ingress.lifecycle.remove_webhooks(before)
    connection = await ingress.registry.disconnect(space_id)
    ingress.tokens.forget(before.connection_id)
    await ingress.lifecycle.disconnected(before)
    logger.info("disconnect requested space_id=%s user_id=%s", space_id, user_id)
    return JSONResponse(connection.public_view())


def _was_active_on(before: Connection | None, after: Connection) -> bool:
    return (
        before is not None
        and before.status is ConnectionStatus.ACTIVE
        and before.cloud_id == after.cloud_id
    )


async def _account_id(ingress: Ingress, access_token: str) -> str:
    url = f"{ingress.settings.api_url}/me"
    try:
        response = await ingress.http.get(
            url, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        )
    except httpx.TransportError as exc:
        raise ConflictError(
            f"GET {url} failed ({type(exc).__name__}); try connecting again"
        ) from exc
    if response.is_error:
        raise ConflictError(
            f"GET {url} returned {response.status_code}; the account could not be identified, "
            "try connecting again"
        )

    profile = response.json()
    account_id = profile.get("account_id") if isinstance(profile, dict) else None
    if not isinstance(account_id, str) or not account_id:
        raise ConflictError(f"GET {url} returned no account_id; try connecting again")
    return account_id


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ValidationError(
            'the request body is not valid JSON; send {"cloud_id": "..."}'
        ) from None
    if not isinstance(body, dict):
        raise ValidationError('the request body must be a JSON object such as {"cloud_id": "..."}')
    return body


def _cloud_id_of(body: dict[str, Any]) -> str:
    cloud_id = body.get("cloud_id")
    if not isinstance(cloud_id, str) or not cloud_id:
        raise ValidationError(f"cloud_id {cloud_id!r} is missing or not a string; send one of the "
                              "cloud ids GET /spaces/{space_id}/jira/sites lists")
    return cloud_id

