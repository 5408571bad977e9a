"""Keep the connection's dynamic webhooks alive: refresh before expiry, register when gone.

Jira deletes an app's dynamic webhook 30 days after its registration or last
refresh. Each run lists the registrations, :func:`ingest.webhook_plan.plan_webhooks`
decides without I/O which to refresh, register again or delete, and
:func:`ensure_webhooks` carries the plan out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ingest.webhook_plan import (
    DEFAULT_REFRESH_WINDOW,
    WebhookSpec,
    plan_webhooks,
    registration_of,
)
from jiraclient.errors import WebhookRegistrationError
from reconcile.ports import JiraApi
from reconcile.shapes import field_of, items_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookCheck:
    """What :func:`ensure_webhooks` did; ``errors`` holds Jira's registration errors."""

    listed: int
    refreshed: int
    registered: int
    deleted: int
    errors: tuple[str, ...]


async def ensure_webhooks(
    client: JiraApi,
    *,
    url: str,
    wanted: Sequence[WebhookSpec],
    now_ms: int,
    cloud_id: str,
    refresh_window: timedelta = DEFAULT_REFRESH_WINDOW,
) -> WebhookCheck:
    """List the site's registrations and refresh, register or delete as planned.

    Registration errors that Jira returns inside a 200 response are collected in
    the result, not raised, so the caller can switch to polling. Other client
    errors propagate.
    """
    registered = [registration_of(item) for item in items_of(await client.list_webhooks())]
    plan = plan_webhooks(wanted, registered, now_ms=now_ms, refresh_window=refresh_window)
    logger.info(
        "webhook plan cloud_id=%s listed=%d refresh=%s register=%d delete=%s",
        cloud_id,
        len(registered),
        list(plan.refresh),
        len(plan.register),
        list(plan.delete),
    )

    if plan.delete:
        await client.delete_webhooks(list(plan.delete))
    if plan.refresh:
        await client.refresh_webhooks(list(plan.refresh))

    errors: list[str] = []
    registered_count = 0
    if plan.register:
        try:
            result = await client.register_webhooks(url, [spec.to_json() for spec in plan.register])
        except WebhookRegistrationError as exc:
            logger.warning("webhook registration refused cloud_id=%s error=%s", cloud_id, exc)
            errors.append(str(exc))
            registered_count = len(exc.created_ids)
        else:
            created, refused = _registration_outcome(result)
            registered_count = created
            errors.extend(refused)
            for message in refused:
                logger.warning(
                    "webhook registration refused cloud_id=%s error=%s", cloud_id, message
                )

    return WebhookCheck(
        listed=len(registered),
        refreshed=len(plan.refresh),
        registered=registered_count,
        deleted=len(plan.delete),
        errors=tuple(errors),
    )


def _registration_outcome(result: Any) -> tuple[int, list[str]]:
    """Return (created count, error messages) of a registration response or of created ids."""
    if isinstance(result, list | tuple) and all(isinstance(item, int | str) for item in result):
        return len(result), []

    entries = field_of(result, "webhookRegistrationResult") or []
    created = 0
    errors: list[str] = []
    for entry in entries:
        if field_of(entry, "createdWebhookId") is not None:
            created += 1
        errors.extend(str(message) for message in field_of(entry, "errors") or ())
    return created, errors
