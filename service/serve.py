"""The production commands: ``ingress``, ``worker`` and ``serve`` (both).

Both processes read their configuration from the environment (see the
configuration table in the README). ``serve`` runs the two as child processes
and stops both when either one exits, for hosts that run one container.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingest.app import create_app as create_ingress
from ingest.connections import ConnectionRegistry
from ingest.identity import SpaceDirectory
from ingest.settings import Settings as IngestSettings
from ingest.token_cipher import TokenCipher
from jiraclient.auth import TokenManager, TokenStore
from reconcile.errors import UnknownConnection
from service.cli import Command, register
from service.logs import configure
from streams.admin import require_topics
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames

log = logging.getLogger(__name__)


async def require_contract_topics(settings: StreamsSettings) -> None:
    """Stop with one line when the broker lacks a contract topic this deployment needs."""
    names = TopicNames(prefix=settings.topic_prefix)
    await require_topics(settings.kafka_bootstrap_servers,
                         [spec.name for spec in names.specs()],
                         request_timeout_ms=settings.kafka_request_timeout_ms)


def _configure_logging(level: str) -> None:
    configure(level)


# --- ingress ------------------------------------------------------------------------------


def _ingress_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=os.environ.get("INGRESS_HOST", "127.0.0.1"),
                        help="address to listen on (env INGRESS_HOST)")
    parser.add_argument("--port", type=int, default=None,
                        help="TCP port to listen on (env INGRESS_PORT, default 8080)")


async def run_ingress(host: str, port: int) -> None:
    """Serve the ingress until cancelled."""
    streams_settings = StreamsSettings.from_env()
    settings = IngestSettings.from_environ()
    await require_contract_topics(streams_settings)
    producer = Producer(streams_settings)
    await producer.start()
    http = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
    try:
        registry = ConnectionRegistry(
            producer=producer, topic=settings.topics.connections,
            cipher=TokenCipher(settings.token_encryption_keys),
            bootstrap_servers=settings.kafka_bootstrap_servers,
        )
        spaces = SpaceDirectory(settings.kafka_bootstrap_servers, settings.topics.spaces)

        def token_manager(store: TokenStore) -> TokenManager:
            return TokenManager(
                store, client_id=settings.client_id, client_secret=settings.client_secret,
                http=http, on_invalid_grant=registry.require_reauthorisation_of,
                auth_url=settings.auth_url, api_url=settings.api_url,
            )

        app = create_ingress(settings, producer=producer, registry=registry, spaces=spaces,
                             token_manager_factory=token_manager, http=http)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                               lifespan="on", access_log=False))
        log.info("ingress listening on http://%s:%d", host, port)
        await server.serve()
    finally:
        await http.aclose()
        await producer.stop()


def _ingress_port(args: argparse.Namespace) -> int:
    if args.port is not None:
        return int(args.port)
    raw = os.environ.get("INGRESS_PORT", "8080")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"INGRESS_PORT={raw!r} is invalid; set a TCP port from 1 to 65535")
    return int(raw)


def _run_ingress(args: argparse.Namespace) -> int:
    port = _ingress_port(args)
    _configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    asyncio.run(run_ingress(args.host, port))
    return 0


# --- worker -------------------------------------------------------------------------------


def _worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--read-api-port", type=int, default=None,
                        help="TCP port of the worker's HTTP endpoint: read API, status, "
                             "metrics (default: WORKER_WEB_PORT, 6066)")
    parser.add_argument("--read-api-host", default=None,
                        help="address of the worker's HTTP endpoint "
                             "(default: WORKER_WEB_HOST, 127.0.0.1)")


def read_api(worker: Any) -> Starlette:
    """Return the worker's HTTP app: the graph read API and operator endpoints."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from projections.readmodel import read_api_routes

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def stats(request: Request) -> Response:
        return JSONResponse({name: vars(value) for name, value in worker.stats.items()})

    async def status(request: Request) -> Response:
        return JSONResponse({**worker.services.status(),
                             "agents": {name: vars(value) for name, value in worker.stats.items()}})

    async def reconcile(request: Request) -> Response:
        space_id = request.path_params["space_id"]
        dry_run = request.query_params.get("dry_run", "false").lower() in ("1", "true", "yes")
        reconciler = worker.services.reconciler
        if reconciler is None:
            return JSONResponse({"error": {"code": "not_ready", "message":
                                 "the worker's services are still starting; retry shortly"}},
                                status_code=503)
        try:
            report = await reconciler.run_now(space_id, dry_run=dry_run)
        except UnknownConnection as exc:
            log.warning("reconciliation not run space_id=%s: %s", space_id, exc)
            return JSONResponse({"error": {"code": "not_found", "message": str(exc)}},
                                status_code=404)
        except Exception as exc:
            # A connection without a site yet, or a run that failed on Jira or Kafka.
            log.warning("reconciliation failed space_id=%s: %s", space_id, exc)
            return JSONResponse({"error": {"code": "reconcile_failed", "message": str(exc)}},
                                status_code=409)
        return JSONResponse(report.model_dump(mode="json"))

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/spaces/{space_id}/jira/reconcile", reconcile, methods=["POST"]),
        *read_api_routes(worker.nodes),
    ]
    return Starlette(routes=routes)


def _run_worker(args: argparse.Namespace) -> int:
    from faust.contrib.asgi import serve_asgi

    from service.faust_worker import run_worker
    from service.worker import build_worker

    streams_settings = StreamsSettings.from_env()
    ingest_settings = IngestSettings.from_environ()
    asyncio.run(require_contract_topics(streams_settings))
    streams_settings.state_dir.mkdir(parents=True, exist_ok=True)
    worker = build_worker(streams_settings, ingest_settings)
    host = args.read_api_host or streams_settings.worker_web_host
    port = args.read_api_port or streams_settings.worker_web_port
    serve_asgi(worker.app, read_api(worker), host=host, port=port,
               access_log=False, log_level="warning")
    run_worker(worker.app, level=os.environ.get("LOG_LEVEL", "INFO"))
    return 0


# --- serve --------------------------------------------------------------------------------


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    _ingress_arguments(parser)
    _worker_arguments(parser)


def _run_serve(args: argparse.Namespace) -> int:
    base = [sys.executable, "-m", "service"]
    worker = [*base, "worker"]
    if args.read_api_host:
        worker += ["--read-api-host", args.read_api_host]
    if args.read_api_port:
        worker += ["--read-api-port", str(args.read_api_port)]
    children = [
        subprocess.Popen([*base, "ingress", "--host", args.host,
                          "--port", str(_ingress_port(args))]),
        subprocess.Popen(worker),
    ]

    def stop(signum: int, frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                children[0].wait(timeout=1)
    finally:
        stop(signal.SIGTERM, None)
        for child in children:
            child.wait(timeout=30)
    return max(child.returncode or 0 for child in children)


register(Command("ingress", "serve the HTTP ingress (connect, webhooks)", _ingress_arguments,
                 _run_ingress))
register(Command("worker", "run the stream worker (agents, import, write-back, read API)",
                 _worker_arguments, _run_worker))
register(Command("serve", "run the ingress and the worker as two child processes",
                 _serve_arguments, _run_serve))
