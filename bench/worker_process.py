"""Run the worker's Faust app as a benchmark child process.

Usage: ``python -m bench.worker_process --bootstrap B --prefix P --app-id A --state-dir D``.
The app is :func:`service.worker.build_worker` without the Jira-calling services
and the write-back agent, so only the fold, projection and schema agents run.
With ``--read-api-port`` it also serves the worker's read API
(:func:`service.serve.read_api`) on that loopback port once the tables are recovered.
It prints ``READY {json}`` with its pid before Faust starts, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import orjson
from cryptography.fernet import Fernet
from faust.contrib.asgi import serve_asgi

from ingest.settings import Settings as IngestSettings
from service.faust_worker import run_worker
from service.serve import read_api
from service.worker import build_worker
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_process")
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--prefix", required=True, help="topic name prefix")
    parser.add_argument("--app-id", required=True, help="Faust app id (the consumer group)")
    parser.add_argument("--state-dir", required=True, help="directory of the RocksDB tables")
    parser.add_argument("--web-port", type=int, required=True, help="loopback port of Faust's web")
    parser.add_argument("--read-api-port", type=int, default=None,
                        help="loopback port of the read API (default: no read API)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    streams_settings = StreamsSettings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": args.bootstrap,
        "TOPIC_PREFIX": args.prefix,
        "STATE_DIR": args.state_dir,
        "WORKER_WEB_PORT": str(args.read_api_port or args.web_port),
        # Faust starts its web service only when enabled, and the read API runs in it.
        "WORKER_WEB_ENABLED": "true" if args.read_api_port else "false",
    })
    ingest_settings = IngestSettings(
        client_id="bench-client",
        client_secret="bench-client-secret-for-loopback-only-0123",
        redirect_url="http://127.0.0.1:9/oauth/callback",
        webhook_public_url="http://127.0.0.1:9/webhooks/jira",
        token_encryption_keys=(Fernet.generate_key().decode(),),
        jwt_key="j" * 40,
        auth_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9",
        kafka_bootstrap_servers=args.bootstrap,
        topics=TopicNames(prefix=args.prefix),
    )
    worker = build_worker(streams_settings, ingest_settings, app_id=args.app_id,
                          with_services=False, with_writeback=False)
    if args.read_api_port:
        serve_asgi(worker.app, read_api(worker), host="127.0.0.1", port=args.read_api_port,
                   access_log=False, log_level="warning")

    print("READY " + orjson.dumps({"pid": os.getpid()}).decode(), flush=True)
    run_worker(worker.app, level="WARNING")
    return 0


if __name__ == "__main__":
    sys.exit(main())
