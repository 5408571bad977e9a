"""Servers the benchmark runs in child processes, each on a loopback port.

Usage: ``python -m bench.servers KIND --port PORT [options]``; the child prints
``READY {json}`` on stdout once it accepts requests, and stops on SIGTERM.

- ``bare``: a Starlette app whose one POST route reads the body and returns 204
  (the B_http baseline), on the ingress's uvicorn settings.
- ``ingress``: the ingress of :func:`ingest.app.create_app`, with one active
  connection for ``--space-id`` and ``--cloud-id`` stored before it reports ready.
- ``sandbox``: the Jira sandbox serving a generated one-site world.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

import httpx
import orjson
import uvicorn
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# The ingress's uvicorn settings (service/serve.py), used for every server here.
UVICORN_OPTIONS: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "access_log": False}
BENCH_CLIENT_ID = "bench-client"
# HS256 keys need at least 32 bytes; this one signs only loopback benchmark traffic.
BENCH_CLIENT_SECRET = "bench-client-secret-for-loopback-only-0123"
BENCH_ACCOUNT = "557058:bench-account"


async def _accept(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/webhooks/jira/{space_id}", _accept, methods=["POST"])])


async def _serve(app: Starlette, port: int, ready: dict[str, Any],
                 after_start: Any = None) -> None:
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, **UVICORN_OPTIONS))
    serving = asyncio.create_task(server.serve())
    # uvicorn exposes `started` as a flag, with no event to wait on.
    while not server.started and not serving.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if serving.done():
        await serving
        return
    if after_start is not None:
        await after_start()

    print("READY " + orjson.dumps(ready).decode(), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.should_exit = True
    await serving


async def serve_bare(args: argparse.Namespace) -> None:
    await _serve(bare_app(), args.port, {"port": args.port})


async def serve_ingress(args: argparse.Namespace) -> None:
    # Imported here so that the bare server starts without loading the service.
    from ingest.app import create_app
    from ingest.connection import SiteCandidate
    from ingest.connections import ConnectionRegistry
    from ingest.deliveries import DeliveryLog
    from ingest.identity import SpaceDirectory
    from ingest.settings import Settings
    from ingest.token_cipher import TokenCipher
    from jiraclient.auth import TokenManager, TokenSet, TokenStore
    from streams.producer import Producer
    from streams.settings import Settings as StreamsSettings
    from streams.topics import TopicNames

    names = TopicNames(prefix=args.prefix)
    base_url = f"http://{HOST}:{args.port}"
    settings = Settings(
        client_id=BENCH_CLIENT_ID,
        client_secret=BENCH_CLIENT_SECRET,
        redirect_url=f"{base_url}/oauth/callback",
        webhook_public_url=f"{base_url}/webhooks/jira",
        token_encryption_keys=(Fernet.generate_key().decode(),),
        jwt_key="j" * 40,
        # Nothing in the webhook path calls Jira; these point at a closed loopback port.
        auth_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9",
        kafka_bootstrap_servers=args.bootstrap,
        topics=names,
    )
    producer = Producer(StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": args.bootstrap}))
    await producer.start()
    registry = ConnectionRegistry(producer=producer, topic=names.connections,
                                  cipher=TokenCipher(settings.token_encryption_keys),
                                  bootstrap_servers=args.bootstrap)
    deliveries = DeliveryLog(producer=producer, topic=names.webhook_deliveries,
                             bootstrap_servers=args.bootstrap)

    async with httpx.AsyncClient() as http:

        def token_manager(store: TokenStore) -> TokenManager:
            return TokenManager(store, client_id=settings.client_id,
                                client_secret=settings.client_secret, http=http,
                                auth_url=settings.auth_url, api_url=settings.api_url)

        app = create_app(settings, producer=producer, registry=registry,
                         spaces=SpaceDirectory(), token_manager_factory=token_manager,
                         http=http, deliveries=deliveries)

        async def connect() -> None:
            await registry.connect(
                space_id=args.space_id,
                account_id=BENCH_ACCOUNT,
                sites=[SiteCandidate(cloud_id=args.cloud_id, name="bench",
                                     url="https://bench.atlassian.net")],
                tokens=TokenSet(access_token="unused", refresh_token="unused",
                                expires_at_ms=4_102_444_800_000),
                created_by="bench",
            )

        await _serve(app, args.port, {"port": args.port}, connect)
    await producer.stop()


async def serve_sandbox(args: argparse.Namespace) -> None:
    from jira_sandbox.app import build_world, create_app

    world = build_world(args.seed, sites=1, projects_per_site=args.projects, issues=args.issues,
                        users=12, sprints_per_board=4)
    site = next(iter(world.sites.values()))
    app = create_app(world, require_auth=False)
    ready = {"port": args.port, "cloud_id": site.cloud_id,
             "project_ids": sorted(int(p) for p in site.projects),
             "sprint_field_id": site.sprint_field_id}
    await _serve(app, args.port, ready)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("kind", choices=("bare", "ingress", "sandbox"))
    parser.add_argument("--port", type=int, required=True, help="loopback TCP port to bind")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092",
                        help="Kafka bootstrap servers (ingress)")
    parser.add_argument("--prefix", default="", help="topic name prefix (ingress)")
    parser.add_argument("--space-id", default="bench-space", help="connected space (ingress)")
    parser.add_argument("--cloud-id", default="", help="connected site (ingress)")
    parser.add_argument("--seed", type=int, default=1, help="world seed (sandbox)")
    parser.add_argument("--issues", type=int, default=1000, help="issues on the site (sandbox)")
    parser.add_argument("--projects", type=int, default=3, help="projects on the site (sandbox)")
    parser.add_argument("--log-level", default="WARNING", help="level of the server's own logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runner = {"bare": serve_bare, "ingress": serve_ingress, "sandbox": serve_sandbox}[args.kind]
    asyncio.run(runner(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
