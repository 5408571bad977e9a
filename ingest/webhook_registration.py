"""Registration of the app's dynamic webhooks for one connection, as an upsert.

Jira keeps one delivery URL per app and site, and registering the same webhook
twice doubles every delivery. So registration lists what exists first and carries
out :func:`ingest.webhook_plan.plan_webhooks`: it keeps one registration per
wanted webhook, deletes the rest, and registers only what is missing. It refreshes
every kept registration, so the stored expiry is the full 30 days. The daily
upkeep afterwards is the reconciler's (:mod:`reconcile.webhooks`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.connection import Connection
from ingest.connections import ConnectionRegistry
from ingest.webhook_plan import DEFAULT_WEBHOOKS, WebhookSpec, plan_webhooks, registration_of
from jiraclient.client import JiraClient
from jiraclient.errors import WebhookRegistrationError
from streams.errors import SyncError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistrationOutcome:
    webhook_ids: tuple[int, ...]
    expires_at_ms: int | None
    failures: tuple[str, ...]


def webhook_url(public_url: str, space_id: str) -> str:
    return f"{public_url.rstrip('/')}/webhooks/jira/{space_id}"


async def upsert_webhooks(
    client: JiraClient,
    url: str,
    *,
    now_ms: int,
    wanted: Sequence[WebhookSpec] = DEFAULT_WEBHOOKS,
) -> RegistrationOutcome:
    """Ensure the site has exactly one refreshed registration per wanted webhook."""
    registered = [registration_of(item) for item in await client.list_webhooks()]
    plan = plan_webhooks(wanted, registered, now_ms=now_ms)

    if plan.delete:
        await client.delete_webhooks(list(plan.delete))
        logger.info("deleted surplus webhooks cloud_id=%s ids=%s", client.cloud_id,
                    list(plan.delete))

    created: list[int] = []
    failures: list[str] = []
    if plan.register:
        try:
            created = [
                int(i)
                for i in await client.register_webhooks(
                    url, [spec.to_json() for spec in plan.register]
                )
            ]
        except WebhookRegistrationError as exc:
            created = [int(i) for i in exc.created_ids]
            failures = [
                f"{', '.join(sorted(plan.register[index].events))}: "
                f"{'; '.join(messages) or 'rejected'}"
                for index, messages in sorted(exc.failures.items())
            ]
            logger.warning("webhook registration partly rejected cloud_id=%s failures=%s",
                           client.cloud_id, failures)

    ids = tuple(sorted([*plan.keep, *created]))
    expires_at_ms: int | None = None
    if ids:
        expires = await client.refresh_webhooks(ids)
        expires_at_ms = int(expires.timestamp() * 1000)
    logger.info("webhooks upserted cloud_id=%s kept=%s created=%s expires_at_ms=%s",
                client.cloud_id, list(plan.keep), created, expires_at_ms)
    return RegistrationOutcome(ids, expires_at_ms, tuple(failures))


class WebhookMaintainer:
    """Registers and removes the webhooks of each connection."""

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
            self._client_for(connection),
            webhook_url(self._public_url, connection.space_id),
            now_ms=self._clock_ms(),
        )
        await self._registry.set_webhooks(
            connection.space_id, outcome.webhook_ids, outcome.expires_at_ms
        )
        return outcome

    async def remove(self, connection: Connection) -> None:
        """Delete the app's webhooks on the connection's site, logging Jira and token errors.

        The stored ids can be out of date, because the daily reconciliation registers
        a webhook again when Jira lost it. So the app's registrations on the site are
        listed too, as the reconciliation's own plan does, and all of them deleted.
        """
        if connection.cloud_id is None:
            return
        ids = set(connection.webhook_ids)
        try:
            client = self._client_for(connection)
            listed = [registration_of(item) for item in await client.list_webhooks()]
            ids.update(registration.id for registration in listed)
            if ids:
                await client.delete_webhooks(sorted(ids))
        except SyncError as exc:
            # Jira errors, and tokens that can no longer be read (a removed
            # encryption key), must not block a disconnect: Jira expires the
            # registrations after 30 days anyway.
            logger.warning("webhooks not deleted space_id=%s cloud_id=%s ids=%s: %s",
                           connection.space_id, connection.cloud_id, sorted(ids), exc)
