"""``naumu-jira status`` and ``naumu-jira reconcile``: the operator's view and lever.

``status`` reads consumer lag straight from Kafka (committed offsets of the
worker's consumer group against each partition's end) and requests from the worker's
HTTP endpoint for per-connection facts: the last webhook, the last
reconciliation and its drift, and recent errors. ``reconcile`` asks the worker
to run a reconciliation now.

``status`` exits with :data:`EXIT_KAFKA_DOWN` when Kafka does not answer, with
:data:`EXIT_TOPICS_MISSING` when a contract topic is missing, with
:data:`EXIT_WORKER_DOWN` when the worker does not answer or answers with an error,
and with 0 otherwise. A missing topic takes precedence over a worker that does
not answer, because the worker cannot run without its topics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from service.cli import Command, register
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames

DEFAULT_WORKER_URL = "http://127.0.0.1:6066"

EXIT_KAFKA_DOWN = 1
# 3 is the LSB init-script code for "not running", as `naumu-jira kafka status` uses.
EXIT_WORKER_DOWN = 3
EXIT_TOPICS_MISSING = 4

# Characters of a worker's response body quoted in an error line.
BODY_PREVIEW_CHARS = 200


def body_preview(response: httpx.Response) -> str:
    """Return the start of ``response``'s body on one line, for an error message."""
    text = " ".join(response.text.split())
    if len(text) > BODY_PREVIEW_CHARS:
        return text[:BODY_PREVIEW_CHARS] + "..."
    return text or "(empty body)"


async def consumer_lag(settings: StreamsSettings, group_id: str,
                       topics: list[str]) -> list[dict[str, Any]]:
    """Return committed offset, end offset and lag per partition of ``topics``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        await admin.close()
        raise
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
        # A new consumer has no topic metadata until it requests it from the cluster.
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, partition)
                      for topic in topics
                      for partition in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await consumer.stop()
        await admin.close()

    rows = []
    for tp in partitions:
        meta = committed.get(tp)
        offset = meta.offset if meta is not None and meta.offset >= 0 else 0
        rows.append({"topic": tp.topic, "partition": tp.partition, "committed": offset,
                     "end": ends[tp], "lag": max(0, ends[tp] - offset)})
    return rows


async def missing_topics(settings: StreamsSettings, names: TopicNames) -> list[str]:
    """Return the contract topics under ``names`` that the broker does not have."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [spec.name for spec in names.specs() if spec.name not in existing]


async def worker_status(worker_url: str) -> tuple[dict[str, Any] | None, str | None]:
    """Request the worker's ``/status`` and return its JSON object, or ``None`` and the error."""
    url = f"{worker_url.rstrip('/')}/status"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(url)
    except httpx.HTTPError as exc:
        return None, (f"worker at {worker_url} did not respond ({exc!r}); "
                      "is `naumu-jira worker` running, and is READ_API_URL right?")

    if response.is_error:
        return None, (f"worker at {url} responded with {response.status_code}: "
                      f"{body_preview(response)}; is READ_API_URL the worker's HTTP endpoint?")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return None, (f"worker at {url} responded with {response.status_code} without a JSON "
                      f"object: {body_preview(response)}; is READ_API_URL the worker's HTTP "
                      "endpoint?")
    return body, None


async def gather_status(settings: StreamsSettings, worker_url: str) -> dict[str, Any]:
    """Collect the consumer lag, the missing contract topics and the worker's status."""
    names = TopicNames(settings.topic_prefix)
    group = f"{names.prefix}naumu-jira-sync"
    lag = await consumer_lag(settings, group, [names.inbound, names.events, names.edits,
                                               names.schema_values])
    status: dict[str, Any] = {"consumer_group": group, "lag": lag,
                              "missing_topics": await missing_topics(settings, names)}
    worker, error = await worker_status(worker_url)
    status["worker"] = worker
    if error is not None:
        status["worker_error"] = error
    return status


def status_exit_code(status: dict[str, Any]) -> int:
    """Return the exit code of ``naumu-jira status`` for a gathered ``status``."""
    if status.get("missing_topics"):
        return EXIT_TOPICS_MISSING
    if status.get("worker") is None:
        return EXIT_WORKER_DOWN
    return 0


def _time(epoch_ms: int | None) -> str:
    if not epoch_ms:
        return "never"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds")


def _print_status(status: dict[str, Any]) -> None:
    missing = status.get("missing_topics") or []
    if missing:
        print(f"missing contract topics: {', '.join(missing)}; run `naumu-jira topics ensure` "
              "with the same TOPIC_PREFIX")
    print(f"consumer group {status['consumer_group']}")
    for row in status["lag"]:
        print(f"  {row['topic']}[{row['partition']}] committed {row['committed']} "
              f"end {row['end']} lag {row['lag']}")
    worker = status.get("worker")
    if worker is None:
        print(status.get("worker_error", "worker status unavailable"))
        return
    for connection in worker.get("connections", []):
        report = connection.get("last_reconciliation") or {}
        print(f"space {connection.get('space_id')}: {connection.get('status')} "
              f"site {connection.get('cloud_id')} last webhook "
              f"{_time(connection.get('last_webhook_ms'))} "
              f"last reconciliation drift "
              f"{ {k: report.get(k) for k in ('missing', 'stale', 'extra')} if report else None}")
    for error in worker.get("recent_errors", [])[-10:]:
        print(f"  {error['level']} {error['logger']}: {error['message']}")


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    _worker_url_argument(parser)


def _worker_url_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--worker-url", default=os.environ.get("READ_API_URL", DEFAULT_WORKER_URL),
                        help="base URL of the worker's HTTP endpoint (default: READ_API_URL, "
                             f"else {DEFAULT_WORKER_URL})")


def _run_status(args: argparse.Namespace) -> int:
    settings = StreamsSettings.from_env()
    try:
        status = asyncio.run(gather_status(settings, args.worker_url))
    except KafkaError as exc:
        print(f"naumu-jira status: Kafka at {settings.kafka_bootstrap_servers} did not respond "
              f"({exc}); start the broker or set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return EXIT_KAFKA_DOWN
    if args.json:
        print(json.dumps(status))
    else:
        _print_status(status)
    return status_exit_code(status)


def space_id_argument(value: str) -> str:
    """Return ``value`` as a space id, rejecting one that cannot name a space in a URL path."""
    if not value.strip():
        raise argparse.ArgumentTypeError("the space id is empty; pass the id of a Naumu space")
    if value in (".", ".."):
        # URL resolution removes these path segments, so the request would reach another route.
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid space id")
    return value


def reconcile_url(worker_url: str, space_id: str) -> str:
    """Return the worker's reconcile URL for ``space_id``, percent-encoded as one path segment."""
    segment = urllib.parse.quote(space_id, safe="")
    return f"{worker_url.rstrip('/')}/spaces/{segment}/jira/reconcile"


def _reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("space_id", type=space_id_argument,
                        help="the Naumu space whose connection to reconcile")
    parser.add_argument("--dry-run", action="store_true", help="report drift without repairing")
    _worker_url_argument(parser)


def _run_reconcile(args: argparse.Namespace) -> int:
    url = reconcile_url(args.worker_url, args.space_id)
    try:
        response = httpx.post(url, params={"dry_run": str(args.dry_run).lower()}, timeout=600)
    except httpx.HTTPError as exc:
        print(f"naumu-jira reconcile: the worker at {args.worker_url} did not respond "
              f"({exc!r}); start `naumu-jira worker` or set READ_API_URL", file=sys.stderr)
        return 1

    try:
        report = response.json() if response.status_code == 200 else None
    except ValueError:
        report = None
    if report is None:
        print(f"naumu-jira reconcile: the worker at {url} responded with "
              f"{response.status_code}: {body_preview(response)}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


register(Command("status", "show lag, connections, reconciliations and recent errors",
                 _status_arguments, _run_status))
register(Command("reconcile", "run a reconciliation of one space now", _reconcile_arguments,
                 _run_reconcile))
