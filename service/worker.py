"""The worker process: one Faust app with the agents, the Jira-calling services
and the read API.

Agents (each a thin loop over a pure step, see :mod:`service.pipeline`):

- ``fold``: ``jira.inbound`` -> ``jira.events`` (+ ``jira.refetch``), table ``fold-state``;
- ``project``: ``jira.events`` -> ``naumu.graph.changes`` + ``naumu.graph.nodes``
  (+ ``naumu.schema.values``), table ``nodes`` keyed by node id;
- ``schema`` and ``schema-existing``: ``naumu.schema.values`` and ``naumu.schemas`` ->
  schema additions and the import-thread proposal, table ``schemas`` keyed by space;
- ``writeback``: ``naumu.edits`` -> Jira -> ``jira.writeback.results``.

Services started with the app: the connection registry (the token store), the
importer and refetcher, the reconciler, and the read API served by uvicorn.
One worker owns every partition; running several workers needs the write-back
lookups moved off the ``nodes`` table (see :class:`NodeTableLookup`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import faust
import httpx
import orjson
from faust.streams import _current_event
from mode import Service

from ingest.connection import ConnectionStatus
from ingest.connections import ConnectionRegistry
from ingest.identity import SpaceDirectory
from ingest.settings import Settings as IngestSettings
from ingest.token_cipher import TokenCipher
from ingest.webhook_registration import webhook_url
from ingest.worker import IngestServices
from jiraclient.auth import TokenManager
from projections.fold import FoldContext
from projections.lost_projects import LostProjects
from reconcile.schedule import Reconciler
from reconcile.settings import ReconcileSettings, ReconcileTarget, settings_from_env
from service.logs import configure
from service.pipeline import (
    fold_step,
    live_node,
    node_updated_ms,
    projection_step,
    schema_step,
)
from service.writeback_agent import writeback_agent
from streams.agents import AgentStats, raw_table, stateful_agent
from streams.app import create_app
from streams.envelope import Envelope
from streams.metrics import CONSUMER_LAG, WEBHOOK_TO_GRAPH_SECONDS
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings
from streams.steps import Record, StateLookup, StepResult
from streams.topics import TopicNames

log = logging.getLogger(__name__)


def _outside_event(read: Callable[[], bytes | None]) -> bytes | None:
    """Run a table read as if no event were being processed.

    Faust's RocksDB store reads a key from the partition of the event being
    processed. The write-back agent looks up nodes while it processes an edit from
    another topic, whose partition says nothing about where the node is stored;
    without a current event the store searches every partition it holds.
    """
    token = _current_event.set(None)
    try:
        return read()
    finally:
        _current_event.reset(token)


class _RecentErrors(logging.Handler):
    """Keeps the latest warnings and errors of this process for the status command."""

    def __init__(self, sink: deque[dict[str, Any]]) -> None:
        super().__init__(level=logging.WARNING)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.append({"time_ms": int(record.created * 1000), "level": record.levelname,
                           "logger": record.name, "message": record.getMessage()[:500]})


class NodeStore:
    """Read access to the projection's ``nodes`` table as plain dicts."""

    def __init__(self, table: faust.Table[bytes, bytes]) -> None:
        self._table = table

    def get(self, node_id: str) -> dict[str, Any] | None:
        stored = _outside_event(lambda: self._table.get(node_id.encode()))
        if stored is None:
            return None
        state: dict[str, Any] = orjson.loads(stored)
        if state.get("deleted") or state.get("node") is None:
            return None
        return state

    def nodes(self) -> Iterator[dict[str, Any]]:
        """Yield every live node with its outgoing ``edges`` (a full scan)."""
        for stored in self._table.values():
            node = live_node(orjson.loads(stored))
            if node is not None:
                yield node


class GraphIndexView:
    """The reconciler's view of the graph, read from the ``nodes`` table."""

    def __init__(self, store: NodeStore) -> None:
        self._store = store

    def _issue_nodes(self, space_id: str, cloud_id: str) -> Iterator[dict[str, Any]]:
        for node in self._store.nodes():
            source = node.get("source") or {}
            if node["space_id"] == space_id and source.get("cloud_id") == cloud_id:
                yield node

    def issue_versions(self, space_id: str, cloud_id: str) -> dict[str, int]:
        return {
            node["source"]["jira_id"]: node_updated_ms(node)
            for node in self._issue_nodes(space_id, cloud_id)
            if node["source"]["kind"] == "issue"
        }

    def project_ids(self, space_id: str, cloud_id: str) -> set[str]:
        return {
            node["source"]["jira_id"]
            for node in self._issue_nodes(space_id, cloud_id)
            if node["source"]["kind"] == "project" and not node.get("access_lost")
        }

    def access_lost_issue_ids(self, space_id: str, cloud_id: str) -> set[str]:
        return {
            node["source"]["jira_id"]
            for node in self._issue_nodes(space_id, cloud_id)
            if node["source"]["kind"] == "issue" and node.get("access_lost")
        }

    def issue_projects(self, space_id: str, cloud_id: str) -> dict[str, str]:
        project_of_node: dict[str, str] = {}
        issues: list[dict[str, Any]] = []
        for node in self._issue_nodes(space_id, cloud_id):
            if node["source"]["kind"] == "project":
                project_of_node[node["node_id"]] = node["source"]["jira_id"]
            elif node["source"]["kind"] == "issue":
                issues.append(node)
        result: dict[str, str] = {}
        for node in issues:
            for edge in node["edges"]:
                if edge["edge_type"] == "in_project" and edge["to_node"] in project_of_node:
                    result[node["source"]["jira_id"]] = project_of_node[edge["to_node"]]
        return result


@dataclass
class Worker:
    """Handles to the parts of a built worker, for the CLI, the demo and tests."""

    app: faust.App
    names: TopicNames
    nodes: NodeStore
    stats: dict[str, AgentStats]
    services: WorkerServices


class WorkerServices(Service):
    """The worker's Jira-calling services, started and stopped with the Faust app."""

    def __init__(self, streams_settings: StreamsSettings, ingest_settings: IngestSettings,
                 nodes: NodeStore, reconcile_settings: ReconcileSettings | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.streams_settings = streams_settings
        self.ingest_settings = ingest_settings
        self.reconcile_settings = reconcile_settings or ReconcileSettings()
        self.nodes = nodes
        self.lost_projects = LostProjects(nodes.nodes)
        self.producer: Producer | None = None
        self.registry: ConnectionRegistry | None = None
        self.spaces: SpaceDirectory | None = None
        self.tokens: TokenManager | None = None
        self.ingest: IngestServices | None = None
        self.reconciler: Reconciler | None = None
        self.http: httpx.AsyncClient | None = None
        self.last_webhook_ms: dict[str, int] = {}
        self._lag_task: asyncio.Task[None] | None = None
        self.recent_errors: deque[dict[str, Any]] = deque(maxlen=50)
        self._errors_handler = _RecentErrors(self.recent_errors)

    async def on_start(self) -> None:
        # Faust replaced the root handlers when it started, so the handler that keeps
        # recent errors is attached only now, and the others get the configured format.
        configure(logging.getLevelName(logging.getLogger().level))
        root = logging.getLogger()
        if self._errors_handler not in root.handlers:
            root.addHandler(self._errors_handler)
        settings = self.ingest_settings
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        self.producer = Producer(self.streams_settings)
        await self.producer.start()

        self.registry = ConnectionRegistry(
            producer=self.producer, topic=settings.topics.connections,
            cipher=TokenCipher(settings.token_encryption_keys),
            bootstrap_servers=settings.kafka_bootstrap_servers,
        )
        await self.registry.start()
        self.spaces = SpaceDirectory(settings.kafka_bootstrap_servers, settings.topics.spaces)
        await self.spaces.start()
        self.tokens = TokenManager(
            self.registry, client_id=settings.client_id, client_secret=settings.client_secret,
            http=self.http, on_invalid_grant=self.registry.require_reauthorisation_of,
            auth_url=settings.auth_url, api_url=settings.api_url,
        )
        self.ingest = IngestServices(
            settings, self.streams_settings, producer=self.producer, registry=self.registry,
            tokens=self.tokens, http=self.http,
        )
        await self.ingest.start()

        registry, ingest = self.registry, self.ingest
        def targets() -> list[ReconcileTarget]:
            return [
                ReconcileTarget(c.space_id, c.cloud_id,
                                webhook_url(settings.webhook_public_url, c.space_id))
                for c in registry.active() if c.cloud_id is not None
            ]

        def client_for(target: ReconcileTarget) -> Any:
            return ingest.client_for(registry.require(target.space_id), "reconcile")

        producer, lost_projects = self.producer, self.lost_projects

        async def publish_repair(topic: str, key: str, envelope: Envelope) -> None:
            # A run publishes a project's access loss before the 404s of its issues, which
            # sit on other partitions and may be folded first, so the fold context learns
            # of the loss before the send.
            lost_projects.note(envelope)
            await producer.send(topic, key, envelope)

        self.reconciler = Reconciler(
            targets=targets, client_for=client_for, graph=GraphIndexView(self.nodes),
            publish=publish_repair, topics=settings.topics, settings=self.reconcile_settings,
        )
        await self.reconciler.start()
        self._lag_task = asyncio.create_task(self._report_lag(), name="consumer-lag")
        log.info("worker services started connections=%d", len(registry.all()))

    async def _report_lag(self, interval_s: float = 30.0) -> None:
        """Export the agents' consumer lag as a gauge, read from Kafka every ``interval_s``."""
        from service.status import consumer_lag

        names = TopicNames(self.streams_settings.topic_prefix)
        group = f"{names.prefix}naumu-jira-sync"
        sources = [names.inbound, names.events, names.edits, names.schema_values]
        while True:
            try:
                for row in await consumer_lag(self.streams_settings, group, sources):
                    CONSUMER_LAG.labels(row["topic"], str(row["partition"])).set(row["lag"])
            except Exception as exc:
                log.warning("consumer lag not read group=%s: %s", group, exc)
            await asyncio.sleep(interval_s)

    async def on_stop(self) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
        if self.reconciler is not None:
            await self.reconciler.stop()
        if self.ingest is not None:
            await self.ingest.stop()
        if self.spaces is not None:
            await self.spaces.stop()
        if self.registry is not None:
            await self.registry.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.http is not None:
            await self.http.aclose()

    def note_observation(self, envelope: Envelope) -> None:
        """Record project visibility for the fold and webhook arrivals for status and polling."""
        self.lost_projects.note(envelope)
        if envelope.type != "jira.webhook.received":
            return
        space_id = str(envelope.data.get("space_id"))
        received_at_ms = int(envelope.data.get("received_at_ms") or 0)
        self.last_webhook_ms[space_id] = max(received_at_ms,
                                             self.last_webhook_ms.get(space_id, 0))
        if self.reconciler is not None:
            self.reconciler.note_delivery(space_id, received_at_ms)
        if received_at_ms:
            WEBHOOK_TO_GRAPH_SECONDS.observe(max(0.0, time.time() - received_at_ms / 1000))

    def status(self) -> dict[str, Any]:
        """Return per-connection facts for ``naumu-jira status``; never tokens."""
        connections = []
        for connection in self.registry.all() if self.registry is not None else []:
            report = (self.reconciler.last_reports.get(connection.space_id)
                      if self.reconciler is not None else None)
            connections.append({
                **connection.public_view(),
                "last_webhook_ms": self.last_webhook_ms.get(connection.space_id),
                "last_reconciliation": report.model_dump(mode="json") if report else None,
            })
        return {"connections": connections, "recent_errors": list(self.recent_errors)}

    def fold_context(self, space_id: str, cloud_id: str) -> FoldContext:
        connection = self.registry.get(space_id) if self.registry is not None else None
        lost = self.lost_projects.of(space_id, cloud_id)
        if connection is None or connection.cloud_id != cloud_id:
            return FoldContext(lost_project_ids=lost)
        return FoldContext(app_account_id=connection.account_id, lost_project_ids=lost)

    def active(self, space_id: str) -> bool:
        connection = self.registry.get(space_id) if self.registry is not None else None
        return connection is not None and connection.status is ConnectionStatus.ACTIVE


def build_worker(
    streams_settings: StreamsSettings,
    ingest_settings: IngestSettings,
    *,
    app_id: str | None = None,
    with_services: bool = True,
    with_writeback: bool = True,
) -> Worker:
    """Build the worker's Faust app with every agent and service declared on it."""
    names = TopicNames(prefix=streams_settings.topic_prefix)
    # The app id names the consumer group and the tables' changelog topics, so a
    # prefixed deployment gets its own.
    app = create_app(streams_settings, app_id=app_id or f"{names.prefix}naumu-jira-sync")

    fold_table = raw_table(app, "fold-state", help_text="fold state per space and entity")
    nodes_table = raw_table(app, "nodes", help_text="projection state per node id")
    schema_table = raw_table(app, "schemas", help_text="schema state per space")
    nodes = NodeStore(nodes_table)

    # Read before Faust starts, so a bad schedule stops the worker with the variable's name.
    reconcile_settings = settings_from_env(os.environ) if with_services else None
    services = WorkerServices(streams_settings, ingest_settings, nodes, reconcile_settings,
                              loop=app.loop)

    def context_for(space_id: str, cloud_id: str) -> FoldContext:
        if not with_services:
            return FoldContext()
        return services.fold_context(space_id, cloud_id)

    folding = fold_step(names, context_for)

    def observed_fold(lookup: StateLookup, envelope: Envelope, record: Record) -> StepResult:
        services.note_observation(envelope)
        return folding(lookup, envelope, record)

    stats = {
        "fold": stateful_agent(app, name="fold", source=names.inbound, table=fold_table,
                               step=observed_fold, dead_letter=names.dead_letter),
        "project": stateful_agent(app, name="project", source=names.events, table=nodes_table,
                                  step=projection_step(names), dead_letter=names.dead_letter),
        "schema": stateful_agent(app, name="schema", source=names.schema_values,
                                 table=schema_table, step=schema_step(names),
                                 dead_letter=names.dead_letter),
        "schema-existing": stateful_agent(app, name="schema-existing", source=names.schemas,
                                          table=schema_table, step=schema_step(names),
                                          dead_letter=names.dead_letter),
    }
    if with_writeback:
        stats["writeback"] = writeback_agent(app, names=names, nodes=nodes, services=services)
    if with_services:
        app.add_runtime_dependency  # noqa: B018 (documents the hook the service uses below)

        @app.service
        class _Services(Service):  # Faust instantiates it; it wraps the shared instance.
            async def on_start(self) -> None:
                await services.start()

            async def on_stop(self) -> None:
                await services.stop()

    return Worker(app=app, names=names, nodes=nodes, stats=stats, services=services)
