"""The ingress: a Starlette app that accepts HTTP and publishes to Kafka.

Every error is a JSON body ``{"error": {"code": ..., "message": ...}}`` whose
message names the offending value and the fix.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingest import connect, webhooks
from ingest.connections import ConnectionRegistry
from ingest.context import Ingress
from ingest.deliveries import DeliveryLog
from ingest.errors import IngestError
from ingest.identity import SpaceDirectory
from ingest.lifecycle import ConnectionLifecycle
from ingest.metrics import WEBHOOK_DELIVERIES
from ingest.oauth_state import OAuthStates
from ingest.publisher import EncodedPublisher
from ingest.settings import Settings
from ingest.webhook_registration import WebhookMaintainer
from jiraclient.auth import TokenManager, TokenStore
from jiraclient.errors import JiraError, ReauthorisationRequired

logger = logging.getLogger(__name__)

TokenManagerFactory = Callable[[TokenStore], TokenManager]


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


# The path prefix of a space's webhook endpoint, ``/webhooks/jira/{space_id}``.
WEBHOOK_PATH = "/webhooks/jira/"


async def _ingest_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IngestError)
    if request.url.path.startswith(WEBHOOK_PATH):
        # Jira receives only the status code, so a rejected delivery must leave a trace here.
        # The messages name what failed, never the token or a secret.
        WEBHOOK_DELIVERIES.labels(outcome=f"rejected_{exc.status_code}").inc()
        logger.warning("webhook rejected path=%s status=%d code=%s delivery_id=%s: %s",
                       request.url.path, exc.status_code, exc.code,
                       request.headers.get("x-atlassian-webhook-identifier", "-"), exc)
    elif exc.status_code >= 500:
        logger.warning("request failed path=%s code=%s: %s", request.url.path, exc.code, exc)
    return JSONResponse(error_body(exc.code, str(exc)), status_code=exc.status_code)


async def _jira_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JiraError)
    if isinstance(exc, ReauthorisationRequired):
        return JSONResponse(error_body("reauthorisation_required", str(exc)), status_code=409)
    logger.warning("Jira call failed path=%s: %s", request.url.path, exc)
    status = 503 if exc.retriable else 502
    return JSONResponse(error_body("jira_unavailable", str(exc)), status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    message = (
        f"no route for {request.method} {request.url.path}; see docs/openapi.yaml"
        if exc.status_code in (404, 405)
        else str(exc.detail)
    )
    return JSONResponse(error_body(code, message), status_code=exc.status_code)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error path=%s", request.url.path)
    return JSONResponse(
        error_body("internal_error", "the service failed unexpectedly; the error is logged"),
        status_code=500,
    )


async def healthz(request: Request) -> Response:
    # Liveness only: a broker outage must not make an orchestrator restart the ingress.
    return JSONResponse({"status": "ok"})


# How long after the broker's last failure /readyz keeps reporting it, unless an
# observation is acknowledged first.
READY_AFTER_FAILURE_S = 30.0


async def readyz(request: Request) -> Response:
    """Return 503 while webhooks cannot reach the broker, so a balancer sends them elsewhere."""
    ingress: Ingress = request.app.state.ingress
    failed_at = ingress.broker_failed_at
    if failed_at is not None and time.monotonic() - failed_at < READY_AFTER_FAILURE_S:
        return JSONResponse(error_body(
            "broker_unavailable",
            "the broker did not acknowledge the last webhook observation; webhooks get 503 "
            "and Jira retries them. Check KAFKA_BOOTSTRAP_SERVERS and the broker",
        ), status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: Settings,
    *,
    producer: EncodedPublisher,
    registry: ConnectionRegistry,
    spaces: SpaceDirectory,
    token_manager_factory: TokenManagerFactory,
    http: httpx.AsyncClient,
    deliveries: DeliveryLog | None = None,
    states: OAuthStates | None = None,
) -> Starlette:
    """Build the ingress app.

    The lifespan starts ``spaces``, ``registry`` and the delivery log (each
    loads its topic) and stops them on shutdown; the caller owns ``producer``
    and ``http``.
    """
    deliveries = deliveries or DeliveryLog(
        producer=producer,
        topic=settings.topics.webhook_deliveries,
        bootstrap_servers=settings.kafka_bootstrap_servers,
    )
    tokens = token_manager_factory(registry)
    ingress = Ingress(
        settings=settings,
        producer=producer,
        registry=registry,
        spaces=spaces,
        deliveries=deliveries,
        states=states or OAuthStates(settings.token_encryption_keys),
        tokens=tokens,
        http=http,
        lifecycle=ConnectionLifecycle(
            producer,
            settings.topics,
            WebhookMaintainer(
                registry, lambda c: ingress.client_for(c), settings.webhook_public_url
            ),
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for component in (spaces, registry, deliveries):
                await component.start()
                stack.push_async_callback(component.stop)
            logger.info("ingress started topics_prefix=%r", settings.topics.prefix)
            yield
        logger.info("ingress stopped")

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/spaces/{space_id}/jira", connect.status, methods=["GET"]),
        Route("/spaces/{space_id}/jira/connect", connect.begin, methods=["POST"]),
        Route("/spaces/{space_id}/jira/sites", connect.sites, methods=["GET"]),
        Route("/spaces/{space_id}/jira/site", connect.choose_site, methods=["POST"]),
        Route("/spaces/{space_id}/jira/disconnect", connect.disconnect, methods=["POST"]),
        Route("/oauth/callback", connect.callback, methods=["GET"]),
        Route(WEBHOOK_PATH + "{space_id}", webhooks.receive_webhook, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            IngestError: _ingest_error,
            JiraError: _jira_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    app.state.ingress = ingress
    return app
