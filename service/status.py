"""``naumu-jira status`` and ``naumu-jira reconcile``: the operator's view and lever.

``status`` reads consumer lag straight from Kafka (committed offsets of the
worker's consumer group against each partition's end) and requests from the worker's
HTTP endpoint for per-connection facts: the last webhook, the last
reconciliation and its drift, and recent errors. ``reconcile`` asks the worker
to run a reconciliation now.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
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


async def gather_status(settings: StreamsSettings, worker_url: str) -> dict[str, Any]:
    names = TopicNames(settings.topic_prefix)
    group = f"{names.prefix}naumu-jira-sync"
    lag = await consumer_lag(settings, group, [names.inbound, names.events, names.edits,
                                               names.schema_values])
    status: dict[str, Any] = {"consumer_group": group, "lag": lag}
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{worker_url.rstrip('/')}/status")
            response.raise_for_status()
            status["worker"] = response.json()
    except httpx.HTTPError as exc:
        status["worker"] = None
        status["worker_error"] = (f"worker at {worker_url} did not answer ({exc}); "
                                  "is `naumu-jira worker` running, and is READ_API_URL right?")
    return status


def _time(epoch_ms: int | None) -> str:
    if not epoch_ms:
        return "never"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="seconds")


def _print_status(status: dict[str, Any]) -> None:
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
    parser.add_argument("--worker-url", default=os.environ.get("READ_API_URL", DEFAULT_WORKER_URL),
                        help="base URL of the worker's HTTP endpoint (env READ_API_URL)")


def _run_status(args: argparse.Namespace) -> int:
    settings = StreamsSettings.from_env()
    try:
        status = asyncio.run(gather_status(settings, args.worker_url))
    except KafkaError as exc:
        print(f"naumu-jira status: Kafka at {settings.kafka_bootstrap_servers} did not answer "
              f"({exc}); start the broker or set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status))
    else:
        _print_status(status)
    return 0


def _reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("space_id", help="the Naumu space whose connection to reconcile")
    parser.add_argument("--dry-run", action="store_true", help="report drift without repairing")
    parser.add_argument("--worker-url", default=os.environ.get("READ_API_URL", DEFAULT_WORKER_URL),
                        help="base URL of the worker's HTTP endpoint (env READ_API_URL)")


def _run_reconcile(args: argparse.Namespace) -> int:
    url = f"{args.worker_url.rstrip('/')}/spaces/{args.space_id}/jira/reconcile"
    try:
        response = httpx.post(url, params={"dry_run": str(args.dry_run).lower()}, timeout=600)
    except httpx.HTTPError as exc:
        print(f"reconcile failed: the worker at {args.worker_url} did not answer ({exc}); "
              "start `naumu-jira worker` or set READ_API_URL", file=sys.stderr)
        return 1
    print(json.dumps(response.json()))
    return 0 if response.status_code == 200 else 1


register(Command("status", "show lag, connections, reconciliations and recent errors",
                 _status_arguments, _run_status))
register(Command("reconcile", "run a reconciliation of one space now", _reconcile_arguments,
                 _run_reconcile))
