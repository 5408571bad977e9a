"""Keep the connection's dynamic webhooks alive: refresh before expiry, register when gone.

Jira deletes an app's dynamic webhook 30 days after its registration or last
refresh. Each run lists the registrations, and :func:`plan_webhooks` decides,
without I/O, which to refresh, which to register again and which to delete;
:func:`ensure_webhooks` carries the plan out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jiraclient.errors import WebhookRegistrationError
from reconcile.errors import InvalidTimestamp
from reconcile.jiratime import parse_jira_time
from reconcile.ports import JiraApi
from reconcile.shapes import field_of, items_of

logger = logging.getLogger(__name__)

WEBHOOK_LIFETIME = timedelta(days=30)

# Refreshing when less than this remains leaves a run that fails for days enough
# margin before Jira deletes the registration.
DEFAULT_REFRESH_WINDOW = timedelta(days=20)

ISSUE_EVENTS = frozenset(
    {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
    }
)
SPRINT_EVENTS = frozenset(
    {"sprint_created", "sprint_updated", "sprint_started", "sprint_closed", "sprint_deleted"}
)

# Dynamic webhook JQL accepts only a few fields and the operators =, !=, IN and
# NOT IN; a filter is required, and this one matches every issue.
MATCH_ALL_ISSUES = "project != null"


@dataclass(frozen=True)
class WebhookSpec:
    """One webhook the service wants registered: its events and its JQL filter."""

    events: frozenset[str]
    jql_filter: str

    def to_json(self) -> dict[str, Any]:
        return {"events": sorted(self.events), "jqlFilter": self.jql_filter}


# The same entries the connect flow registers. Sprint events have an entry of
# their own, because Jira may refuse them and that must not cost the issue events.
DEFAULT_WEBHOOKS: tuple[WebhookSpec, ...] = (
    WebhookSpec(events=ISSUE_EVENTS, jql_filter=MATCH_ALL_ISSUES),
    WebhookSpec(events=SPRINT_EVENTS, jql_filter=MATCH_ALL_ISSUES),
)


@dataclass(frozen=True)
class Registration:
    """A webhook as Jira lists it; ``expires_at_ms`` is ``None`` when Jira gave no date."""

    id: int
    events: frozenset[str]
    jql_filter: str | None
    expires_at_ms: int | None


@dataclass(frozen=True)
class WebhookPlan:
    """The requests that bring the registrations in line with the wanted webhooks."""

    refresh: tuple[int, ...]
    register: tuple[WebhookSpec, ...]
    delete: tuple[int, ...]

    @property
    def empty(self) -> bool:
        return not (self.refresh or self.register or self.delete)


def plan_webhooks(
    wanted: Sequence[WebhookSpec],
    registered: Sequence[Registration],
    *,
    now_ms: int,
    refresh_window: timedelta = DEFAULT_REFRESH_WINDOW,
) -> WebhookPlan:
    """Decide which registrations to refresh, register again or delete.

    A registration serves a wanted webhook when it has the same JQL filter and at
    least its events. The first one that serves it (lowest id) is refreshed when
    it expires within ``refresh_window`` (or has no known expiry), and kept
    otherwise. Further ones are duplicates, which would double every delivery,
    so they are deleted. A listed registration already past its expiry is dead:
    it is deleted and its webhook registered again. Registrations that serve no
    wanted webhook are deleted, because an app has one webhook URL and they can
    only be leftovers.
    """
    window_ms = int(refresh_window.total_seconds() * 1000)
    live = [
        item for item in registered if item.expires_at_ms is None or item.expires_at_ms > now_ms
    ]
    dead = [item.id for item in registered if item not in live]

    refresh: list[int] = []
    register: list[WebhookSpec] = []
    used: set[int] = set()
    for spec in wanted:
        serving = sorted(
            (item for item in live if item.id not in used and _serves(item, spec)),
            key=lambda item: item.id,
        )
        if not serving:
            register.append(spec)
            continue

        kept = serving[0]
        used.add(kept.id)
        if kept.expires_at_ms is None or kept.expires_at_ms - now_ms <= window_ms:
            refresh.append(kept.id)

    unused = [item.id for item in live if item.id not in used]
    return WebhookPlan(
        refresh=tuple(sorted(set(refresh))),
        register=tuple(register),
        delete=tuple(sorted(set(dead + unused))),
    )


def _serves(registration: Registration, spec: WebhookSpec) -> bool:
    return registration.jql_filter == spec.jql_filter and spec.events <= registration.events


def registration_of(raw: Mapping[str, Any] | Any) -> Registration:
    """Read one webhook of Jira's list response (``GET /rest/api/3/webhook``)."""
    expiry = field_of(raw, "expirationDate", "expiration_date", "expires_at_ms")
    expires_at_ms: int | None = None
    if expiry is not None:
        try:
            expires_at_ms = parse_jira_time(expiry)
        except InvalidTimestamp:
            logger.warning(
                "webhook expiry unreadable webhook_id=%s value=%r", field_of(raw, "id"), expiry
            )

    jql = field_of(raw, "jqlFilter", "jql_filter")
    return Registration(
        id=int(field_of(raw, "id")),
        events=frozenset(str(event) for event in field_of(raw, "events") or ()),
        jql_filter=str(jql) if jql is not None else None,
        expires_at_ms=expires_at_ms,
    )


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
