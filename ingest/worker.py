"""The Jira-calling services of the worker process: imports and refetches.

One :class:`IngestServices` per worker. It follows the connection registry and
starts an import whenever a connection becomes active (and, at start, for every
active connection whose import is not done), and runs the refetcher. The
reconciler keeps the webhooks alive (:mod:`reconcile.webhooks`).
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from ingest.connection import Connection, ConnectionStatus
from ingest.connections import ConnectionRegistry
from ingest.import_cursor import load_cursor
from ingest.importer import Importer, ImportResult
from ingest.publisher import Publisher
from ingest.refetcher import Refetcher
from ingest.settings import Settings
from jiraclient.auth import TokenManager
from jiraclient.budget import SiteBudget
from jiraclient.client import JiraClient
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings

logger = logging.getLogger(__name__)


def import_transactional_id(space_id: str, prefix: str = "") -> str:
    # Stable per space, so a restarted import fences the transaction a killed run left open;
    # the topic prefix keeps deployments that share a broker apart.
    return f"{prefix}naumu-jira-import-{space_id}"


class IngestServices:
    def __init__(
        self,
        settings: Settings,
        streams_settings: StreamsSettings,
        *,
        producer: Publisher,
        registry: ConnectionRegistry,
        tokens: TokenManager,
        http: httpx.AsyncClient,
    ) -> None:
        self._settings = settings
        self._streams_settings = streams_settings
        self._registry = registry
        self._tokens = tokens
        self._http = http
        self._budgets: dict[str, SiteBudget] = {}
        self._imports: dict[str, asyncio.Task[ImportResult | None]] = {}
        self.refetcher = Refetcher(
            producer=producer,
            topics=settings.topics,
            client_for=self._refetch_client,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=f"{settings.topics.prefix}naumu-jira-refetcher",
        )

    def client_for(self, connection: Connection, priority: str) -> JiraClient:
        if connection.cloud_id is None:
            raise ValueError(f"connection of space {connection.space_id} has no site yet")
        budget = self._budgets.setdefault(connection.cloud_id, SiteBudget(connection.cloud_id))
        return JiraClient(
            connection.cloud_id,
            tokens=self._tokens.source(connection.connection_id),
            http=self._http,
            api_url=self._settings.api_url,
            budget=budget,
            priority=priority,
        )

    async def start(self) -> None:
        """Resume unfinished imports, watch for new connections, start the refetcher.

        The registry must already be started (loaded).
        """
        self._registry.add_listener(self._on_change)
        for connection in self._registry.active():
            self.start_import(connection)
        await self.refetcher.start()

    async def stop(self) -> None:
        await self.refetcher.stop()
        for task in self._imports.values():
            task.cancel()
        await asyncio.gather(*self._imports.values(), return_exceptions=True)
        self._imports.clear()

    def start_import(self, connection: Connection) -> asyncio.Task[ImportResult | None]:
        """Start (or return the running) import of an active connection."""
        running = self._imports.get(connection.space_id)
        if running is not None and not running.done():
            return running
        task = asyncio.create_task(
            self._import(connection), name=f"import {connection.space_id}"
        )
        self._imports[connection.space_id] = task
        return task

    def _on_change(self, old: Connection | None, new: Connection) -> None:
        became_active = new.status is ConnectionStatus.ACTIVE and (
            old is None or old.status is not ConnectionStatus.ACTIVE or old.cloud_id != new.cloud_id
        )
        if became_active:
            self.start_import(new)

    async def _import(self, connection: Connection) -> ImportResult | None:
        assert connection.cloud_id is not None
        cursor = await load_cursor(
            self._settings.kafka_bootstrap_servers,
            self._settings.topics.connections,
            connection.space_id,
        )
        producer = Producer(
            self._streams_settings, transactional_id=import_transactional_id(connection.space_id,
                                                     self._settings.topics.prefix)
        )
        async with producer:
            importer = Importer(
                space_id=connection.space_id,
                cloud_id=connection.cloud_id,
                client=self.client_for(connection, "import"),
                producer=producer,
                topics=self._settings.topics,
                cursor=cursor,
            )
            try:
                result = await importer.run()
            except Exception:
                logger.exception("import failed space_id=%s cloud_id=%s",
                                 connection.space_id, connection.cloud_id)
                return None
        logger.info("import ended space_id=%s cloud_id=%s phase=%s counts=%s",
                    connection.space_id, connection.cloud_id, result.phase, result.counts)
        return result

    def _refetch_client(self, space_id: str, cloud_id: str) -> JiraClient | None:
        connection = self._registry.get(space_id)
        if (
            connection is None
            or connection.status is not ConnectionStatus.ACTIVE
            or connection.cloud_id != cloud_id
        ):
            return None
        return self.client_for(connection, "refetch")
