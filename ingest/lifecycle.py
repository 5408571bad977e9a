"""The side effects of a connection becoming active or disconnected.

Both are announced twice: ``ConnectionChanged`` on ``jira.inbound`` for the
fold, and a message on the space's import thread for the people in Naumu.
The importer starts when the worker's registry sees a connection turn active.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

from ingest.connection import Connection
from ingest.entities import connection_key
from ingest.metrics import CONNECTION_CHANGES
from ingest.publisher import Publisher
from ingest.webhook_registration import WebhookMaintainer
from jiraclient.errors import JiraError
from streams.codec import make
from streams.contract import ConnectionChanged, ThreadMessagePosted
from streams.topics import TopicNames

logger = logging.getLogger(__name__)

SOURCE = "naumu-jira/ingest/connect"

ThreadKind = Literal["connected", "warning", "disconnected", "reauthorisation_required"]


class ConnectionLifecycle:
    def __init__(
        self, producer: Publisher, topics: TopicNames, webhooks: WebhookMaintainer
    ) -> None:
        self._producer = producer
        self._topics = topics
        self._webhooks = webhooks

    async def activated(self, connection: Connection) -> None:
        """Announce an active connection and register its webhooks."""
        site = connection.site
        await self._announce(connection, "connected")
        await self.post(
            connection.space_id,
            "connected",
            f"Connected to Jira site {site.name if site else connection.cloud_id}; "
            "the import starts now.",
        )
        await self.register_webhooks(connection)

    async def register_webhooks(self, connection: Connection) -> None:
        """Register (upsert) the connection's webhooks, posting failures to the thread."""
        try:
            outcome = await self._webhooks.register(connection)
        except JiraError as exc:
            # Live sync then waits for the daily refresh, which registers again.
            logger.warning("webhook registration failed space_id=%s cloud_id=%s: %s",
                           connection.space_id, connection.cloud_id, exc)
            await self.post(connection.space_id, "warning",
                            f"Jira webhooks could not be registered ({exc}); live updates "
                            "start after the next daily refresh.")
            return
        if outcome.failures:
            await self.post(connection.space_id, "warning",
                            "Jira refused some webhooks: " + "; ".join(outcome.failures))

    async def disconnected(self, before: Connection) -> None:
        """Announce a disconnect; ``before`` is the connection as it was, with its site."""
        await self._announce(before, "disconnected")
        await self.post(
            before.space_id,
            "disconnected",
            "Disconnected from Jira. Imported nodes are kept; connecting the same site "
            "again resumes syncing them.",
        )

    async def remove_webhooks(self, connection: Connection) -> None:
        await self._webhooks.remove(connection)

    async def post(self, space_id: str, kind: ThreadKind, text: str) -> None:
        message = ThreadMessagePosted(space_id=space_id, kind=kind, text=text)
        await self._producer.send(
            self._topics.threads, space_id, make(message, source=SOURCE, subject=space_id)
        )

    async def _announce(
        self, connection: Connection, state: Literal["connected", "disconnected"]
    ) -> None:
        if connection.cloud_id is None:
            return
        key = connection_key(connection.cloud_id, connection.space_id)
        changed = ConnectionChanged(
            space_id=connection.space_id,
            cloud_id=connection.cloud_id,
            account_id=connection.account_id,
            state=state,
            observed_at_ms=int(time.time() * 1000),
        )
        envelope = make(changed, source=SOURCE, subject=key)
        await self._producer.send(self._topics.inbound, key, envelope)
        CONNECTION_CHANGES.labels(state=state).inc()
        logger.info("connection %s space_id=%s cloud_id=%s", state,
                    connection.space_id, connection.cloud_id)
