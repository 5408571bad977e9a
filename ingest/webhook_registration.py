"""Registration of the app's dynamic webhooks for one connection, as an upsert.

Jira keeps one delivery URL per app and site, and registering the same webhook
twice doubles every delivery. So registration lists what exists first, keeps
one registration per wanted entry, deletes the rest, and registers only what
is missing. Registrations expire after 30 days unless refreshed, so
:meth:`WebhookMaintainer.refresh_due` runs daily in the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.connection import Connection
from ingest.connections import ConnectionRegistry
from jiraclient.client import JiraClient
from jiraclient.errors import JiraError, WebhookRegistrationError
from streams.errors import SyncError

logger = logging.getLogger(__name__)

# Issue events are the ones Jira documents for dynamic webhooks. Sprint events go
# in an entry of their own, because Jira may refuse them and that must not
# cost the issue events.
WANTED_WEBHOOKS: tuple[dict[str, Any], ...] = (
    {
        "events": [
            "jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
            "comment_created", "comment_updated", "comment_deleted",
        ],
        "jqlFilter": "project != null",
    },
    {
        "events": [
            "sprint_created", "sprint_updated", "sprint_started", "sprint_closed",
            "sprint_deleted",
        ],
        "jqlFilter": "project != null",
    },
)
REFRESH_AHEAD_MS = 7 * 86_400_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class RegistrationOutcome:
    webhook_ids: tuple[int, ...]
    expires_at_ms: int | None
    failures: tuple[str, ...]


def webhook_url(public_url: str, space_id: str) -> str:
    return f"{public_url.rstrip('/')}/webhooks/jira/{space_id}"


def _signature(webhook: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    return tuple(sorted(webhook.get("events") or ())), str(webhook.get("jqlFilter") or "")


async def upsert_webhooks(
    client: JiraClient, url: str, wanted: Sequence[dict[str, Any]] = WANTED_WEBHOOKS
) -> RegistrationOutcome:
    """Make the site hold exactly one registration per wanted entry, refreshed."""
    existing = await client.list_webhooks()

    kept: dict[tuple[tuple[str, ...], str], int] = {}
    surplus: list[int] = []
    wanted_signatures = {_signature(entry) for entry in wanted}
    for webhook in existing:
        signature = _signature(webhook)
        if signature in wanted_signatures and signature not in kept:
            kept[signature] = int(webhook["id"])
        else:
            surplus.append(int(webhook["id"]))

    if surplus:
        await client.delete_webhooks(surplus)
        logger.info("deleted surplus webhooks cloud_id=%s ids=%s", client.cloud_id, surplus)

    missing = [entry for entry in wanted if _signature(entry) not in kept]
    created: list[int] = []
    failures: list[str] = []
    if missing:
        try:
            created = [int(i) for i in await client.register_webhooks(url, missing)]
        except WebhookRegistrationError as exc:
            created = [int(i) for i in exc.created_ids]
            failures = [
                f"{', '.join(missing[index]['events'])}: {'; '.join(messages) or 'refused'}"
                for index, messages in sorted(exc.failures.items())
            ]
            logger.warning("webhook registration partly rejected cloud_id=%s failures=%s",
                           client.cloud_id, failures)

    ids = tuple(sorted([*kept.values(), *created]))
    expires_at_ms: int | None = None
    if ids:
        expires = await client.refresh_webhooks(ids)
        expires_at_ms = int(expires.timestamp() * 1000)
    logger.info("webhooks upserted cloud_id=%s kept=%s created=%s expires_at_ms=%s",
                client.cloud_id, sorted(kept.values()), created, expires_at_ms)
    return RegistrationOutcome(ids, expires_at_ms, tuple(failures))


class WebhookMaintainer:
    """Registers, refreshes and removes the webhooks of each connection."""

    def __init__(
        self,
        registry: ConnectionRegistry,
        client_for: Callable[[Connection], JiraClient],
        public_url: str,
        *,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._registry = registry
        self._client_for = client_for
        self._public_url = public_url
        self._clock_ms = clock_ms

    async def register(self, connection: Connection) -> RegistrationOutcome:
        """Upsert the webhooks of a connection and store their ids and expiry."""
        outcome = await upsert_webhooks(
            self._client_for(connection), webhook_url(self._public_url, connection.space_id)
        )
        await self._registry.set_webhooks(
            connection.space_id, outcome.webhook_ids, outcome.expires_at_ms
        )
        return outcome

    async def remove(self, connection: Connection) -> None:
        """Delete the connection's webhooks; failures are logged, never raised."""
        if not connection.webhook_ids or connection.cloud_id is None:
            return
        try:
            await self._client_for(connection).delete_webhooks(connection.webhook_ids)
        except SyncError as exc:
            # Jira errors, and tokens that can no longer be read (a removed
            # encryption key), must not block a disconnect: Jira expires the
            # registrations after 30 days anyway.
            logger.warning("webhooks not deleted space_id=%s cloud_id=%s ids=%s: %s",
                           connection.space_id, connection.cloud_id,
                           list(connection.webhook_ids), exc)

    async def refresh_due(self) -> dict[str, RegistrationOutcome]:
        """Upsert the webhooks of every active connection whose expiry is near or unknown.

        The worker calls this daily; with 30-day registrations and a 7-day margin a
        few missed days still leave every registration alive.
        """
        outcomes: dict[str, RegistrationOutcome] = {}
        deadline = self._clock_ms() + REFRESH_AHEAD_MS
        for connection in self._registry.active():
            expires = connection.webhook_expires_at_ms
            if expires is not None and expires > deadline and connection.webhook_ids:
                continue
            try:
                outcomes[connection.space_id] = await self.register(connection)
            except JiraError as exc:
                logger.warning("webhook refresh failed space_id=%s cloud_id=%s: %s",
                               connection.space_id, connection.cloud_id, exc)
        return outcomes
