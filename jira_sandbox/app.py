"""The sandbox's Starlette app: auth server, Jira REST and Agile APIs, webhooks, control paths."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from jira_sandbox.agile import AgileApi
from jira_sandbox.control import ControlApi
from jira_sandbox.faults import FaultRegistry
from jira_sandbox.generator import build_world
from jira_sandbox.model import World
from jira_sandbox.oauth import OAuthServer
from jira_sandbox.rest import ApiContext, RestApi

__all__ = ["build_world", "create_app"]

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret-change-me"
DEFAULT_REDIRECT_URIS = ("http://127.0.0.1:8000/oauth/callback",)


def create_app(
    world: World,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    redirect_uris: list[str] | None = None,
    auto_consent: bool = False,
    require_auth: bool = True,
) -> Starlette:
    """Build the app serving `world` and attach its OAuth server, webhooks and faults.

    `require_auth=False` is for unit tests only: REST calls then act as the
    account in the `X-Sandbox-Account` header, or the site's consenting account.
    """
    world.oauth = OAuthServer(
        world,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uris=list(redirect_uris or DEFAULT_REDIRECT_URIS),
        auto_consent=auto_consent,
    )
    world.faults = FaultRegistry()

    routes: list[BaseRoute] = list(world.oauth.routes())
    try:
        from jira_sandbox.webhooks import WebhookDispatcher
    except ImportError:
        # NOTE: without the webhooks module the app serves REST only and sends no deliveries.
        logger.warning("webhook dispatcher unavailable; serving without webhooks")
    else:
        dispatcher = WebhookDispatcher(world, client_secret=client_secret, client_id=client_id)
        world.webhooks = dispatcher
        for site in world.sites.values():
            site.add_listener(dispatcher.on_change)
        routes.extend(dispatcher.routes())

    context = ApiContext(world, require_auth=require_auth)
    routes.extend(RestApi(context).routes())
    routes.extend(AgileApi(context).routes())
    routes.extend(ControlApi(context).routes())

    middleware: list[Middleware] = [world.faults.middleware()]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.world = world
    return app
