"""The dynamic webhooks the service registers, and the plan that keeps a site's in line.

Both the connect flow (:mod:`ingest.webhook_registration`) and the daily upkeep
(:mod:`reconcile.webhooks`) list a site's registrations and carry out
:func:`plan_webhooks`, so they agree on which registrations to keep, refresh,
register again or delete. Everything here is pure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jiraclient.dates import parse_epoch_or_text

logger = logging.getLogger(__name__)

# Jira deletes an app's dynamic webhook 30 days after its registration or last refresh.
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


# Sprint events have an entry of their own, because Jira may reject them and
# that must not cost the issue events.
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
    """The requests that bring the registrations in line with the wanted webhooks.

    ``keep`` lists every registration that serves a wanted webhook, ``refresh``
    the part of it that is due for a refresh.
    """

    keep: tuple[int, ...]
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
    """Decide which registrations to keep, refresh, register again or delete.

    A registration serves a wanted webhook when it has the same JQL filter and at
    least its events. The first one that serves it (lowest id) is kept, and
    refreshed when it expires within ``refresh_window`` or has no known expiry.
    Further ones are duplicates, which would double every delivery, so they are
    deleted. A listed registration already past its expiry is dead: it is deleted
    and its webhook registered again. Registrations that serve no wanted webhook
    are deleted, because an app has one webhook URL and they can only be leftovers.
    """
    window_ms = int(refresh_window.total_seconds() * 1000)
    live = [
        item for item in registered if item.expires_at_ms is None or item.expires_at_ms > now_ms
    ]
    dead = [item.id for item in registered if item not in live]

    keep: list[int] = []
    refresh: list[int] = []
    register: list[WebhookSpec] = []
    for spec in wanted:
        serving = sorted(
            (item for item in live if item.id not in keep and _serves(item, spec)),
            key=lambda item: item.id,
        )
        if not serving:
            register.append(spec)
            continue

        kept = serving[0]
        keep.append(kept.id)
        if kept.expires_at_ms is None or kept.expires_at_ms - now_ms <= window_ms:
            refresh.append(kept.id)

    unused = [item.id for item in live if item.id not in keep]
    return WebhookPlan(
        keep=tuple(sorted(keep)),
        refresh=tuple(sorted(set(refresh))),
        register=tuple(register),
        delete=tuple(sorted(set(dead + unused))),
    )


def _serves(registration: Registration, spec: WebhookSpec) -> bool:
    return registration.jql_filter == spec.jql_filter and spec.events <= registration.events


def registration_of(raw: Mapping[str, Any]) -> Registration:
    """Read one webhook of Jira's list response (``GET /rest/api/3/webhook``).

    Jira documents ``expirationDate`` as epoch milliseconds, but its examples show
    date-time text, so both are read. An unreadable expiry counts as unknown.
    """
    expiry = _first_of(raw, "expirationDate", "expiration_date", "expires_at_ms")
    expires_at_ms: int | None = None
    if isinstance(expiry, int | float | str) and not isinstance(expiry, bool):
        try:
            expires_at_ms = round(parse_epoch_or_text(expiry).timestamp() * 1000)
        except (ValueError, OverflowError, OSError):
            # fromtimestamp raises OverflowError or OSError for out-of-range epochs.
            logger.warning(
                "webhook expiry invalid, treated as unknown webhook_id=%s value=%r",
                raw.get("id"),
                expiry,
            )

    jql = _first_of(raw, "jqlFilter", "jql_filter")
    return Registration(
        id=int(raw["id"]),
        events=frozenset(str(event) for event in raw.get("events") or ()),
        jql_filter=str(jql) if jql is not None else None,
        expires_at_ms=expires_at_ms,
    )


def _first_of(raw: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if raw.get(name) is not None:
            return raw[name]
    return None
