"""Webhooks: dynamic registrations of the OAuth app, admin webhooks, and their delivery.

Dynamic webhooks are managed through `/ex/jira/{cloud_id}/rest/api/{2,3}/webhook`
as Jira Cloud serves them to OAuth 2.0 apps. Admin webhooks, which Jira admins create
in the site settings, are managed under `/_sandbox/sites/{cloud_id}/admin-webhooks`.

Each `ChangeEvent` a site emits becomes one delivery per matching target: the app
URL (with every matching registration id in `matchedWebhookIds`) and each matching
admin webhook. Deliveries of one site start in event order, apart from what the fault
registry injects (drops, duplicates, reordering, delays). Failed attempts are retried
on 408, 409, 425, 429, 5xx and connection errors with exponential back-off. A
delivery that still fails goes to the list that `GET .../webhook/failed` returns.

Authenticity, as the sandbox implements it:

- App deliveries carry `Authorization: Bearer <JWT>` signed HS256 with the app's
  client secret, with claims `iss` (cloud id), `aud` (client id), `sub` (account
  that registered the webhook), `iat` and `exp` (`iat` + 300 s). Atlassian does not
  document this claim set, so these claims are the sandbox's choice.
- Admin deliveries with a secret carry `X-Hub-Signature: sha256=<hex HMAC-SHA256 of
  the raw body>`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from jira_sandbox.faults import DeliveryFaults, DroppedDelivery
from jira_sandbox.jql import Token, tokenize
from jira_sandbox.model import ChangeEvent, JiraApiError, SandboxError, World
from jira_sandbox.oauth import OAuthError

__all__ = [
    "AdminWebhook",
    "DeliveryStats",
    "FailedDelivery",
    "JqlFilterError",
    "Registration",
    "WebhookDispatcher",
    "build_payload",
    "parse_jql_filter",
]

logger = logging.getLogger(__name__)

REGISTRATION_LIFETIME_MS = 30 * 86_400_000
FAILED_RETENTION_MS = 72 * 3_600_000
JWT_LIFETIME_S = 300
RETRY_STATUSES = frozenset({408, 409, 425, 429})
WEBHOOK_SCOPES = ("read:jira-work", "manage:jira-webhook")

# Events the OpenAPI spec lists for dynamic webhooks, plus the sprint events that
# client libraries accept for them (sprint support for OAuth apps is unverified).
REGISTRABLE_EVENTS = frozenset(
    {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
        "issue_property_set",
        "issue_property_deleted",
        "sprint_created",
        "sprint_updated",
        "sprint_started",
        "sprint_closed",
        "sprint_deleted",
    }
)
COMMENT_ISSUE_FIELDS = ("summary", "issuetype", "project", "assignee", "priority", "status")


class WebhookError(SandboxError):
    """Base class of webhook registration and delivery errors."""


class JqlFilterError(WebhookError):
    """A `jqlFilter` outside the subset webhooks accept; the message is Jira's per-webhook error."""


# JQL filter subset

JqlValue = str | None  # None is EMPTY / null


@dataclass(frozen=True)
class _Clause:
    field: str
    negated: bool
    values: tuple[JqlValue, ...]


@dataclass(frozen=True)
class _Junction:
    operator: Literal["AND", "OR"]
    parts: tuple[_Condition, ...]


_Condition = _Clause | _Junction

# Field names webhook filters accept, mapped to the canonical name.
FILTER_FIELDS = {
    "project": "project",
    "issuetype": "issuetype",
    "type": "issuetype",
    "status": "status",
    "assignee": "assignee",
    "reporter": "reporter",
    "issuekey": "issuekey",
    "key": "issuekey",
}


@dataclass(frozen=True)
class JqlFilter:
    """A parsed webhook `jqlFilter`; `matches` evaluates it on a v2 issue object."""

    text: str
    condition: _Condition

    def matches(self, issue: dict[str, Any] | None) -> bool:
        if issue is None:
            return True
        return _evaluate(self.condition, issue)


def parse_jql_filter(text: str) -> JqlFilter:
    """Parse a webhook JQL filter: project, issuetype, status, assignee, reporter, issueKey.

    Operators are `=`, `!=`, `IN` and `NOT IN`, clauses join with AND / OR and
    parentheses. Raises JqlFilterError naming the unsupported clause or operator.
    """
    if not text.strip():
        raise JqlFilterError(
            "The JQL filter is empty; use a bounded filter such as 'project != null'"
        )
    try:
        tokens = tokenize(text)
    except JiraApiError as error:
        raise JqlFilterError(error.error_messages[0]) from error

    parser = _FilterParser(tokens)
    condition = parser.parse_or()
    parser.expect_end()
    return JqlFilter(text=text, condition=condition)


class _FilterParser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek_word(self) -> str | None:
        if self.position >= len(self.tokens):
            return None
        token = self.tokens[self.position]
        if token.kind != "value" or token.quoted:
            return None
        return token.value.upper()

    def next(self) -> Token:
        if self.position >= len(self.tokens):
            raise JqlFilterError("The JQL filter ends early; complete the last clause")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expect_end(self) -> None:
        if self.peek_word() == "ORDER":
            raise JqlFilterError("The clause ORDER BY is unsupported")
        if self.position < len(self.tokens):
            raise JqlFilterError(
                f"Unexpected '{self.tokens[self.position].value}' in the JQL filter; "
                "join clauses with AND or OR"
            )

    def parse_or(self) -> _Condition:
        parts = [self.parse_and()]
        while self.peek_word() == "OR":
            self.position += 1
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else _Junction("OR", tuple(parts))

    def parse_and(self) -> _Condition:
        parts = [self.parse_term()]
        while self.peek_word() == "AND":
            self.position += 1
            parts.append(self.parse_term())
        return parts[0] if len(parts) == 1 else _Junction("AND", tuple(parts))

    def parse_term(self) -> _Condition:
        token = self.next()
        if token.kind == "(":
            condition = self.parse_or()
            if self.next().kind != ")":
                raise JqlFilterError("A parenthesis in the JQL filter is not closed")
            return condition
        if token.kind != "value":
            raise JqlFilterError(f"Expected a field name but found '{token.value}'")

        name = FILTER_FIELDS.get(token.value.lower())
        if name is None:
            raise JqlFilterError(f"The clause {token.value} is unsupported")
        negated, many = self.parse_operator()
        values = self.parse_values() if many else (self.parse_value(),)
        return _Clause(name, negated, values)

    def parse_operator(self) -> tuple[bool, bool]:
        """Return (negated, takes a list) for the next operator."""
        token = self.next()
        if token.kind == "op" and token.value in ("=", "!="):
            return token.value == "!=", False
        word = token.value.upper() if token.kind == "value" and not token.quoted else None
        if word == "IN":
            return False, True
        if word == "NOT" and self.peek_word() == "IN":
            self.position += 1
            return True, True
        raise JqlFilterError(f"The operator '{token.value}' is unsupported")

    def parse_value(self) -> JqlValue:
        token = self.next()
        if token.kind != "value":
            raise JqlFilterError(f"Expected a value but found '{token.value}'")
        if not token.quoted and token.value.upper() in ("EMPTY", "NULL"):
            return None
        if self.position < len(self.tokens) and self.tokens[self.position].kind == "(":
            raise JqlFilterError(f"The function {token.value}() is unsupported")
        return token.value

    def parse_values(self) -> tuple[JqlValue, ...]:
        if self.next().kind != "(":
            raise JqlFilterError("IN needs a list of values in parentheses")
        values = [self.parse_value()]
        while True:
            token = self.next()
            if token.kind == ")":
                return tuple(values)
            if token.kind != ",":
                raise JqlFilterError(f"Expected ',' or ')' but found '{token.value}'")
            values.append(self.parse_value())


def _evaluate(condition: _Condition, issue: dict[str, Any]) -> bool:
    if isinstance(condition, _Junction):
        results = (_evaluate(part, issue) for part in condition.parts)
        return all(results) if condition.operator == "AND" else any(results)

    actual = _field_values(condition.field, issue)
    wanted_empty = None in condition.values
    wanted = {value.lower() for value in condition.values if value is not None}
    hit = bool(actual & wanted) or (wanted_empty and not actual)
    if not condition.negated:
        return hit
    # As in JQL, `!=` and NOT IN never match an issue whose field is empty.
    if not actual:
        return False
    return not hit


def _field_values(name: str, issue: dict[str, Any]) -> set[str]:
    fields = issue.get("fields") or {}

    if name == "issuekey":
        return {str(value).lower() for value in (issue.get("key"), issue.get("id")) if value}
    if name in ("assignee", "reporter"):
        user = fields.get(name)
        return {str(user["accountId"]).lower()} if isinstance(user, dict) else set()

    keys = ("key", "id", "name") if name == "project" else ("id", "name")
    value = fields.get(name)
    if not isinstance(value, dict):
        return set()
    return {str(value[key]).lower() for key in keys if value.get(key) is not None}


# Payloads


def build_payload(
    event: ChangeEvent, *, matched_webhook_ids: Sequence[int] | None = None
) -> dict[str, Any]:
    """Build the JSON body Jira POSTs for one change, in Jira's key order.

    `matched_webhook_ids` is added as `matchedWebhookIds` for dynamic webhooks.
    """
    payload: dict[str, Any] = {"timestamp": event.timestamp_ms, "webhookEvent": event.webhook_event}
    name = event.webhook_event

    if name.startswith("jira:issue_"):
        # jira:issue_deleted carries no event type name and no changelog.
        if event.issue_event_type_name is not None and name != "jira:issue_deleted":
            payload["issue_event_type_name"] = event.issue_event_type_name
        payload["user"] = event.actor
        payload["issue"] = event.issue
        if event.changelog is not None and name != "jira:issue_deleted":
            payload["changelog"] = event.changelog
    elif name.startswith("comment_"):
        payload["comment"] = event.comment
        payload["issue"] = _trim_issue(event.issue)
    elif name.startswith("sprint_"):
        sprint = dict(event.sprint or {})
        if name == "sprint_deleted":
            sprint.pop("self", None)
        payload["sprint"] = sprint
        if name == "sprint_updated" and event.old_sprint is not None:
            payload["oldValue"] = event.old_sprint
    else:
        payload["user"] = event.actor
        if event.issue is not None:
            payload["issue"] = event.issue

    if matched_webhook_ids is not None:
        payload["matchedWebhookIds"] = list(matched_webhook_ids)
    result: dict[str, Any] = _without_emails(payload)
    return result


def _without_emails(value: Any) -> Any:
    """Copy a payload without `emailAddress` on user objects.

    No captured Jira Cloud webhook body carries an e-mail address, even where
    the REST API shows one to the same app.
    """
    if isinstance(value, list):
        return [_without_emails(item) for item in value]
    if not isinstance(value, dict):
        return value
    is_user = "accountId" in value
    return {
        key: _without_emails(item)
        for key, item in value.items()
        if not (is_user and key == "emailAddress")
    }


def _trim_issue(issue: dict[str, Any] | None) -> dict[str, Any] | None:
    if issue is None:
        return None
    fields = issue.get("fields") or {}
    trimmed_fields = {name: fields.get(name) for name in COMMENT_ISSUE_FIELDS}
    return {
        "id": issue.get("id"),
        "self": issue.get("self"),
        "key": issue.get("key"),
        "fields": trimmed_fields,
    }


# Registrations and delivery records


@dataclass
class Registration:
    """A dynamic webhook the OAuth app registered on one site."""

    webhook_id: int
    cloud_id: str
    client_id: str
    account_id: str
    events: tuple[str, ...]
    jql_filter: JqlFilter
    field_ids_filter: tuple[str, ...] | None
    issue_property_keys_filter: tuple[str, ...] | None
    expires_ms: int

    def matches(self, event: ChangeEvent) -> bool:
        if event.webhook_event not in self.events:
            return False
        if not event.webhook_event.startswith("sprint_") and not self.jql_filter.matches(
            event.issue
        ):
            return False
        if self.field_ids_filter is not None and event.webhook_event == "jira:issue_updated":
            return _touches_fields(event.changelog, self.field_ids_filter)
        return True


@dataclass
class AdminWebhook:
    """A webhook a Jira admin created in the site settings; it never expires."""

    webhook_id: int
    cloud_id: str
    name: str
    url: str
    events: tuple[str, ...]
    jql_filter: JqlFilter | None
    secret: str | None
    enabled: bool = True

    def matches(self, event: ChangeEvent) -> bool:
        if not self.enabled or event.webhook_event not in self.events:
            return False
        if self.jql_filter is None or event.webhook_event.startswith("sprint_"):
            return True
        return self.jql_filter.matches(event.issue)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.webhook_id,
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "jqlFilter": self.jql_filter.text if self.jql_filter is not None else None,
            "hasSecret": self.secret is not None,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class FailedDelivery:
    """A delivery that failed after its last retry, as `GET .../webhook/failed` lists it."""

    delivery_id: str
    cloud_id: str
    url: str
    body: str
    failure_time_ms: int
    admin: bool


@dataclass
class DeliveryStats:
    """Delivery counters for one site.

    `sent` counts HTTP attempts, including retries and duplicates; `delivered`
    counts deliveries a receiver acknowledged with 2xx at least once.
    """

    scheduled: int = 0
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    retried: int = 0
    failed: int = 0
    reordered: int = 0
    delayed: int = 0


@dataclass
class _Delivery:
    delivery_id: str
    cloud_id: str
    url: str
    body: bytes
    webhook_event: str
    issue_id: str | None
    issue_key: str | None
    timestamp_ms: int
    faults: DeliveryFaults
    # JWT subject for app deliveries; None for admin deliveries.
    account_id: str | None
    secret: str | None
    admin: bool


@dataclass
class _SiteHooks:
    registrations: dict[int, Registration] = field(default_factory=dict)
    # One URL per app: the URL of the app's latest registration on this site.
    app_url: str | None = None
    admin_webhooks: dict[int, AdminWebhook] = field(default_factory=dict)
    failed: list[FailedDelivery] = field(default_factory=list)
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    # Completes when the previous delivery's first attempt is done, so the next one
    # starts in event order.
    previous_first_attempt: asyncio.Future[None] | None = None
    held: list[asyncio.Event] = field(default_factory=list)


class WebhookDispatcher:
    """Registers webhooks, turns site changes into deliveries and sends them."""

    def __init__(
        self,
        world: World,
        *,
        client_secret: str,
        client_id: str,
        http: httpx.AsyncClient | None = None,
        max_retries: int = 5,
        retry_backoff_s: float = 0.5,
        request_timeout_s: float = 10.0,
        reorder_hold_s: float = 5.0,
        expiration_date_format: Literal["epoch_ms", "iso"] = "epoch_ms",
    ) -> None:
        self.world = world
        self.client_id = client_id
        self.client_secret = client_secret
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.request_timeout_s = request_timeout_s
        self.reorder_hold_s = reorder_hold_s
        self.expiration_date_format = expiration_date_format
        self._http = http
        self._owns_http = http is None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._sites: dict[str, _SiteHooks] = {}
        self._ids = itertools.count(10000)
        self._lock = threading.RLock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[_Delivery] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # Python API

    def stats(self, cloud_id: str) -> DeliveryStats:
        return self._site(cloud_id).stats

    def registrations(self, cloud_id: str) -> list[Registration]:
        return sorted(self._site(cloud_id).registrations.values(), key=lambda item: item.webhook_id)

    def failed(self, cloud_id: str) -> list[FailedDelivery]:
        return list(self._site(cloud_id).failed)

    def add_admin_webhook(
        self,
        cloud_id: str,
        url: str,
        *,
        name: str = "admin webhook",
        events: Iterable[str] | None = None,
        jql_filter: str | None = None,
        secret: str | None = None,
    ) -> AdminWebhook:
        """Create an admin webhook; `events` None means every event the sandbox emits."""
        parsed = parse_jql_filter(jql_filter) if jql_filter else None
        webhook = AdminWebhook(
            webhook_id=next(self._ids),
            cloud_id=cloud_id,
            name=name,
            url=url,
            events=tuple(events) if events is not None else tuple(sorted(REGISTRABLE_EVENTS)),
            jql_filter=parsed,
            secret=secret,
        )
        with self._lock:
            self._site(cloud_id).admin_webhooks[webhook.webhook_id] = webhook
        logger.info("admin webhook created cloud_id=%s webhook_id=%s", cloud_id, webhook.webhook_id)
        return webhook

    def remove_admin_webhook(self, cloud_id: str, webhook_id: int) -> None:
        with self._lock:
            if self._site(cloud_id).admin_webhooks.pop(webhook_id, None) is None:
                raise KeyError(f"admin webhook {webhook_id} not found on site {cloud_id}")

    def on_change(self, event: ChangeEvent) -> None:
        """Schedule the deliveries one change produces; registered as a site listener."""
        deliveries = self._plan(event)
        if not deliveries:
            return

        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None

        if loop is not None:
            self._loop = loop
            self._start(deliveries)
        elif self._loop is not None and self._loop.is_running():
            # A change made from another thread, such as a test driving a server
            # that runs in a background thread.
            self._loop.call_soon_threadsafe(self._start, deliveries)
        else:
            with self._lock:
                self._pending.extend(deliveries)

    async def drain(self, timeout_s: float = 10) -> None:
        """Wait until every scheduled delivery and retry has finished.

        Held (reordered) deliveries are released at once. Raises TimeoutError when
        deliveries are still running after `timeout_s`.
        """
        self._loop = asyncio.get_running_loop()
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            self._start(pending)

        deadline = time.monotonic() + timeout_s
        while self._tasks:
            for site in self._sites.values():
                _release_held(site)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(self._tasks)} webhook deliveries still running after {timeout_s} s; "
                    "check the receiver or raise timeout_s"
                )
            await asyncio.wait(set(self._tasks), timeout=remaining)

    async def aclose(self) -> None:
        """Close the HTTP client the dispatcher created for itself."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for version in ("2", "3"):
            base = f"/ex/jira/{{cloud_id}}/rest/api/{version}/webhook"
            routes.extend(
                [
                    Route(base, self._register, methods=["POST"]),
                    Route(base, self._list, methods=["GET"]),
                    Route(base, self._delete, methods=["DELETE"]),
                    Route(f"{base}/refresh", self._refresh, methods=["PUT"]),
                    Route(f"{base}/failed", self._failed, methods=["GET"]),
                ]
            )
        admin_base = "/_sandbox/sites/{cloud_id}/admin-webhooks"
        routes.extend(
            [
                Route(admin_base, self._admin_list, methods=["GET"]),
                Route(admin_base, self._admin_create, methods=["POST"]),
                Route(f"{admin_base}/{{webhook_id:int}}", self._admin_delete, methods=["DELETE"]),
            ]
        )
        return routes

    # Registration (REST)

    def register(
        self, cloud_id: str, account_id: str, url: str, webhooks: list[Any]
    ) -> list[dict[str, Any]]:
        """Register webhooks for the app; returns one result per request entry, in order."""
        results: list[dict[str, Any]] = []
        now_ms = self.world.clock.peek_ms()

        with self._lock:
            site = self._site(cloud_id)
            if site.app_url is not None and site.app_url != url:
                # NOTE: Jira allows one URL per app but does not document what a new URL
                # does to older registrations. The sandbox moves them all to the new URL.
                logger.info(
                    "app webhook URL replaced cloud_id=%s webhook_count=%d",
                    cloud_id,
                    len(site.registrations),
                )
            site.app_url = url

            for entry in webhooks:
                try:
                    registration = self._new_registration(cloud_id, account_id, entry, now_ms)
                except JqlFilterError as error:
                    results.append({"errors": [str(error)]})
                    continue
                site.registrations[registration.webhook_id] = registration
                results.append({"createdWebhookId": registration.webhook_id})
                logger.info(
                    "webhook registered cloud_id=%s webhook_id=%s events=%s",
                    cloud_id,
                    registration.webhook_id,
                    ",".join(registration.events),
                )
        return results

    def _new_registration(
        self, cloud_id: str, account_id: str, entry: Any, now_ms: int
    ) -> Registration:
        if not isinstance(entry, dict):
            raise JqlFilterError("Each webhook must be an object with events and jqlFilter")

        events = entry.get("events")
        if not isinstance(events, list) or not events:
            raise JqlFilterError("events must list at least one webhook event")
        unknown = [name for name in events if name not in REGISTRABLE_EVENTS]
        if unknown:
            raise JqlFilterError(f"The event {unknown[0]} is not supported for dynamic webhooks")

        jql_text = entry.get("jqlFilter")
        if not isinstance(jql_text, str):
            raise JqlFilterError("jqlFilter is required")
        jql_filter = parse_jql_filter(jql_text)

        field_ids = entry.get("fieldIdsFilter")
        property_keys = entry.get("issuePropertyKeysFilter")
        return Registration(
            webhook_id=next(self._ids),
            cloud_id=cloud_id,
            client_id=self.client_id,
            account_id=account_id,
            events=tuple(events),
            jql_filter=jql_filter,
            field_ids_filter=tuple(field_ids) if isinstance(field_ids, list) else None,
            issue_property_keys_filter=tuple(property_keys)
            if isinstance(property_keys, list)
            else None,
            expires_ms=now_ms + REGISTRATION_LIFETIME_MS,
        )

    def refresh(self, cloud_id: str, webhook_ids: Iterable[int]) -> int:
        """Extend live registrations by 30 days; unknown or expired ids are ignored."""
        now_ms = self.world.clock.peek_ms()
        expires_ms = now_ms + REGISTRATION_LIFETIME_MS
        with self._lock:
            site = self._site(cloud_id)
            for webhook_id in webhook_ids:
                registration = site.registrations.get(webhook_id)
                if registration is not None and registration.expires_ms > now_ms:
                    registration.expires_ms = expires_ms
        return expires_ms

    def delete(self, cloud_id: str, webhook_ids: Iterable[int]) -> None:
        with self._lock:
            site = self._site(cloud_id)
            for webhook_id in webhook_ids:
                site.registrations.pop(webhook_id, None)

    def set_expiry(self, cloud_id: str, webhook_id: int, expires_ms: int) -> Registration:
        """Move a registration's expiry, as if it had been registered or refreshed earlier.

        Raises KeyError when the site has no registration with that id.
        """
        with self._lock:
            registration = self._site(cloud_id).registrations.get(webhook_id)
            if registration is None:
                raise KeyError(f"webhook {webhook_id} is not registered on site {cloud_id}")
            registration.expires_ms = expires_ms
        logger.info(
            "webhook expiry set cloud_id=%s webhook_id=%s expires_ms=%s",
            cloud_id,
            webhook_id,
            expires_ms,
        )
        return registration

    def live_registrations(self, cloud_id: str) -> list[Registration]:
        now_ms = self.world.clock.peek_ms()
        return [item for item in self.registrations(cloud_id) if item.expires_ms > now_ms]

    # Planning and sending

    def _plan(self, event: ChangeEvent) -> list[_Delivery]:
        site = self._site(event.cloud_id)
        faults = self.world.faults
        issue = event.issue or {}
        issue_id = issue.get("id")
        issue_key = issue.get("key")
        deliveries: list[_Delivery] = []

        with self._lock:
            matched = [
                item for item in self.live_registrations(event.cloud_id) if item.matches(event)
            ]
            targets: list[tuple[str, bytes, str | None, str | None, bool]] = []
            if matched and site.app_url is not None:
                body = _encode(
                    build_payload(event, matched_webhook_ids=[item.webhook_id for item in matched])
                )
                # The JWT subject is the account that registered the first matching webhook.
                targets.append((site.app_url, body, matched[0].account_id, None, False))
            for admin in site.admin_webhooks.values():
                if admin.matches(event):
                    targets.append(
                        (admin.url, _encode(build_payload(event)), None, admin.secret, True)
                    )

            for url, body, account_id, secret, admin_target in targets:
                decided = (
                    faults.decide_delivery(event.cloud_id)
                    if faults is not None
                    else DeliveryFaults()
                )
                delivery = _Delivery(
                    delivery_id=str(uuid.uuid4()),
                    cloud_id=event.cloud_id,
                    url=url,
                    body=body,
                    webhook_event=event.webhook_event,
                    issue_id=issue_id,
                    issue_key=issue_key,
                    timestamp_ms=event.timestamp_ms,
                    faults=decided,
                    account_id=account_id,
                    secret=secret,
                    admin=admin_target,
                )
                site.stats.scheduled += 1
                if decided.drop:
                    site.stats.dropped += 1
                    if faults is not None:
                        faults.record_drop(
                            DroppedDelivery(
                                cloud_id=event.cloud_id,
                                delivery_id=delivery.delivery_id,
                                webhook_event=event.webhook_event,
                                issue_id=issue_id,
                                issue_key=issue_key,
                                timestamp_ms=event.timestamp_ms,
                                url=url,
                            )
                        )
                    continue
                deliveries.append(delivery)
        return deliveries

    def _start(self, deliveries: list[_Delivery]) -> None:
        loop = asyncio.get_running_loop()
        for delivery in deliveries:
            site = self._site(delivery.cloud_id)
            previous = site.previous_first_attempt
            if previous is not None and previous.get_loop() is not loop:
                previous = None
            first_attempt_done: asyncio.Future[None] = loop.create_future()
            site.previous_first_attempt = first_attempt_done

            task = loop.create_task(self._run(delivery, previous, first_attempt_done))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        delivery: _Delivery,
        previous: asyncio.Future[None] | None,
        first_attempt_done: asyncio.Future[None],
    ) -> None:
        site = self._site(delivery.cloud_id)
        try:
            if delivery.faults.delay_s > 0:
                # A late delivery does not hold up the ones behind it.
                site.stats.delayed += 1
                _finish(first_attempt_done)
                await asyncio.sleep(delivery.faults.delay_s)
            elif previous is not None:
                await asyncio.shield(previous)

            if delivery.faults.reorder:
                site.stats.reordered += 1
                released = asyncio.Event()
                site.held.append(released)
                _finish(first_attempt_done)
                try:
                    await asyncio.wait_for(released.wait(), timeout=self.reorder_hold_s)
                except TimeoutError:
                    logger.debug(
                        "held delivery released by timeout delivery_id=%s", delivery.delivery_id
                    )

            ok, retriable = await self._attempt(delivery, retry=0)
            if not delivery.faults.reorder:
                _release_held(site)
            _finish(first_attempt_done)

            if delivery.faults.duplicate:
                site.stats.duplicated += 1
                await self._attempt(delivery, retry=0)

            if not ok:
                ok = await self._retry(delivery, retriable)
            if ok:
                site.stats.delivered += 1
        except Exception:
            logger.exception(
                "webhook delivery crashed cloud_id=%s delivery_id=%s",
                delivery.cloud_id,
                delivery.delivery_id,
            )
            raise
        finally:
            _finish(first_attempt_done)

    async def _retry(self, delivery: _Delivery, retriable: bool) -> bool:
        """Retry with exponential back-off; record a failure and return False when all fail."""
        site = self._site(delivery.cloud_id)
        attempt = 0
        while retriable and attempt < self.max_retries:
            attempt += 1
            await asyncio.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
            site.stats.retried += 1
            ok, retriable = await self._attempt(delivery, retry=attempt)
            if ok:
                return True

        site.stats.failed += 1
        failure = FailedDelivery(
            delivery_id=delivery.delivery_id,
            cloud_id=delivery.cloud_id,
            url=delivery.url,
            body=delivery.body.decode("utf-8"),
            failure_time_ms=self.world.clock.peek_ms(),
            admin=delivery.admin,
        )
        with self._lock:
            site.failed.append(failure)
        logger.warning(
            "webhook delivery failed after %d retries "
            "cloud_id=%s delivery_id=%s event=%s issue_id=%s",
            attempt,
            delivery.cloud_id,
            delivery.delivery_id,
            delivery.webhook_event,
            delivery.issue_id,
        )
        return False

    async def _attempt(self, delivery: _Delivery, *, retry: int) -> tuple[bool, bool]:
        """Send one HTTP attempt; return (acknowledged, worth retrying)."""
        site = self._site(delivery.cloud_id)
        site.stats.sent += 1
        headers = self._headers(delivery, retry)

        try:
            response = await self._client().post(
                delivery.url, content=delivery.body, headers=headers, timeout=self.request_timeout_s
            )
        except httpx.HTTPError as error:
            logger.warning(
                "webhook delivery attempt failed cloud_id=%s delivery_id=%s retry=%d error=%r",
                delivery.cloud_id,
                delivery.delivery_id,
                retry,
                error,
            )
            return False, True

        if 200 <= response.status_code < 300:
            logger.debug(
                "webhook delivered cloud_id=%s delivery_id=%s event=%s issue_id=%s status=%d",
                delivery.cloud_id,
                delivery.delivery_id,
                delivery.webhook_event,
                delivery.issue_id,
                response.status_code,
            )
            return True, False

        retriable = response.status_code in RETRY_STATUSES or response.status_code >= 500
        logger.warning(
            "webhook receiver returned %d cloud_id=%s delivery_id=%s retry=%d retriable=%s",
            response.status_code,
            delivery.cloud_id,
            delivery.delivery_id,
            retry,
            retriable,
        )
        return False, retriable

    def _headers(self, delivery: _Delivery, retry: int) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": delivery.delivery_id,
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if retry > 0:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)

        if delivery.admin:
            if delivery.secret is not None:
                digest = hmac.new(
                    delivery.secret.encode(), delivery.body, hashlib.sha256
                ).hexdigest()
                headers["X-Hub-Signature"] = f"sha256={digest}"
        else:
            headers["Authorization"] = f"Bearer {self._jwt(delivery)}"
        return headers

    def _jwt(self, delivery: _Delivery) -> str:
        # Wall-clock times, not world.clock: receivers check `exp` against their own
        # clock, and a sandbox clock moved forward by days would make every token
        # look issued in the future.
        issued_at = int(time.time())
        claims = {
            "iss": delivery.cloud_id,
            "aud": self.client_id,
            "sub": delivery.account_id,
            "iat": issued_at,
            "exp": issued_at + JWT_LIFETIME_S,
        }
        with warnings.catch_warnings():
            # The app's secret is whatever the developer console issued; a short test
            # secret must not turn every delivery into an error.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            return jwt.encode(claims, self.client_secret, algorithm="HS256")

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or (self._owns_http and self._http_loop is not loop):
            self._http = httpx.AsyncClient()
            self._http_loop = loop
        return self._http

    def _site(self, cloud_id: str) -> _SiteHooks:
        with self._lock:
            site = self._sites.get(cloud_id)
            if site is None:
                site = _SiteHooks()
                self._sites[cloud_id] = site
            return site

    # Routes

    def _authenticate(self, request: Request) -> tuple[str, str]:
        """Return (cloud_id, account_id) of an app call allowed to manage webhooks."""
        cloud_id: str = request.path_params["cloud_id"]
        if cloud_id not in self.world.sites:
            raise JiraApiError(404, [f"Site {cloud_id} not found."])
        oauth = self.world.oauth
        if oauth is None:
            raise JiraApiError(403, ["Only Connect and OAuth 2.0 apps can use this operation."])
        grant = oauth.authenticate(
            request.headers.get("authorization"), cloud_id, required_scopes=WEBHOOK_SCOPES
        )
        return cloud_id, grant.account_id

    async def _register(self, request: Request) -> Response:
        try:
            cloud_id, account_id = self._authenticate(request)
            body = await _json_body(request)
            url = body.get("url")
            webhooks = body.get("webhooks")
            if not isinstance(url, str) or not url:
                raise JiraApiError(400, ["url is required"], {"url": "The URL is missing."})
            if not isinstance(webhooks, list) or not webhooks:
                raise JiraApiError(400, ["webhooks must list at least one webhook"])
        except (OAuthError, JiraApiError) as error:
            return _error_response(error)

        results = self.register(cloud_id, account_id, url, webhooks)
        return JSONResponse({"webhookRegistrationResult": results})

    async def _list(self, request: Request) -> Response:
        try:
            cloud_id, _ = self._authenticate(request)
            start_at = _int_param(request, "startAt", 0)
            max_results = min(_int_param(request, "maxResults", 100), 100)
        except (OAuthError, JiraApiError) as error:
            return _error_response(error)

        live = self.live_registrations(cloud_id)
        page = live[start_at : start_at + max_results]
        return JSONResponse(
            {
                "isLast": start_at + len(page) >= len(live),
                "maxResults": max_results,
                "startAt": start_at,
                "total": len(live),
                "values": [self._registration_json(item) for item in page],
            }
        )

    async def _delete(self, request: Request) -> Response:
        try:
            cloud_id, _ = self._authenticate(request)
            webhook_ids = _webhook_ids(await _json_body(request))
        except (OAuthError, JiraApiError) as error:
            return _error_response(error)

        self.delete(cloud_id, webhook_ids)
        logger.info("webhooks deleted cloud_id=%s webhook_ids=%s", cloud_id, webhook_ids)
        return Response(status_code=202)

    async def _refresh(self, request: Request) -> Response:
        try:
            cloud_id, _ = self._authenticate(request)
            webhook_ids = _webhook_ids(await _json_body(request))
        except (OAuthError, JiraApiError) as error:
            return _error_response(error)

        expires_ms = self.refresh(cloud_id, webhook_ids)
        logger.info("webhooks refreshed cloud_id=%s webhook_ids=%s", cloud_id, webhook_ids)
        return JSONResponse({"expirationDate": self._expiration(expires_ms)})

    async def _failed(self, request: Request) -> Response:
        # NOTE: Jira documents this operation for Connect apps only; the sandbox also
        # serves it to OAuth apps so tests can inspect failures.
        try:
            cloud_id, _ = self._authenticate(request)
            max_results = min(_int_param(request, "maxResults", 100), 100)
            after = _int_param(request, "after", _int_param(request, "failedAfter", -1))
        except (OAuthError, JiraApiError) as error:
            return _error_response(error)

        cutoff_ms = self.world.clock.peek_ms() - FAILED_RETENTION_MS
        failures = [
            item
            for item in self.failed(cloud_id)
            if not item.admin and item.failure_time_ms > max(after, cutoff_ms)
        ]
        page = failures[:max_results]
        body: dict[str, Any] = {
            "values": [
                {
                    "id": item.delivery_id,
                    "body": item.body,
                    "url": item.url,
                    "failureTime": item.failure_time_ms,
                }
                for item in page
            ],
            "maxResults": max_results,
        }
        if len(failures) > len(page):
            site_url = self.world.sites[cloud_id].url
            body["next"] = (
                f"{site_url}/rest/api/3/webhook/failed?failedAfter={page[-1].failure_time_ms}"
                f"&maxResults={max_results}"
            )
        return JSONResponse(body)

    async def _admin_list(self, request: Request) -> Response:
        cloud_id = request.path_params["cloud_id"]
        webhooks = sorted(
            self._site(cloud_id).admin_webhooks.values(), key=lambda item: item.webhook_id
        )
        return JSONResponse([item.to_json() for item in webhooks])

    async def _admin_create(self, request: Request) -> Response:
        cloud_id = request.path_params["cloud_id"]
        try:
            if cloud_id not in self.world.sites:
                raise JiraApiError(404, [f"Site {cloud_id} not found."])
            body = await _json_body(request)
            url = body.get("url")
            if not isinstance(url, str) or not url:
                raise JiraApiError(400, ["url is required"])
            webhook = self.add_admin_webhook(
                cloud_id,
                url,
                name=str(body.get("name", "admin webhook")),
                events=body.get("events"),
                jql_filter=body.get("jqlFilter"),
                secret=body.get("secret"),
            )
        except JqlFilterError as error:
            return JSONResponse({"errorMessages": [str(error)], "errors": {}}, status_code=400)
        except JiraApiError as error:
            return _error_response(error)
        return JSONResponse(webhook.to_json(), status_code=201)

    async def _admin_delete(self, request: Request) -> Response:
        cloud_id = request.path_params["cloud_id"]
        webhook_id = request.path_params["webhook_id"]
        try:
            self.remove_admin_webhook(cloud_id, webhook_id)
        except KeyError as error:
            return JSONResponse({"errorMessages": [str(error)], "errors": {}}, status_code=404)
        return Response(status_code=204)

    def _registration_json(self, registration: Registration) -> dict[str, Any]:
        value: dict[str, Any] = {"events": list(registration.events)}
        value["expirationDate"] = self._expiration(registration.expires_ms)
        if registration.field_ids_filter is not None:
            value["fieldIdsFilter"] = list(registration.field_ids_filter)
        value["id"] = registration.webhook_id
        if registration.issue_property_keys_filter is not None:
            value["issuePropertyKeysFilter"] = list(registration.issue_property_keys_filter)
        value["jqlFilter"] = registration.jql_filter.text
        return value

    def _expiration(self, expires_ms: int) -> int | str:
        # The OpenAPI schema types this as int64 epoch ms, but its examples show a date string.
        if self.expiration_date_format == "epoch_ms":
            return expires_ms
        moment = dt.datetime.fromtimestamp(expires_ms / 1000, tz=dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{expires_ms % 1000:03d}+0000"


def _touches_fields(changelog: dict[str, Any] | None, field_ids: Sequence[str]) -> bool:
    if changelog is None:
        return False
    wanted = set(field_ids)
    return any(
        item.get("fieldId", item.get("field")) in wanted for item in changelog.get("items", [])
    )


def _release_held(site: _SiteHooks) -> None:
    held, site.held = site.held, []
    for released in held:
        released.set()


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise JiraApiError(400, [f"The request body is not valid JSON: {error}"]) from error
    if not isinstance(body, dict):
        raise JiraApiError(400, ["The request body must be a JSON object."])
    return body


def _webhook_ids(body: dict[str, Any]) -> list[int]:
    ids = body.get("webhookIds")
    if not isinstance(ids, list) or not all(isinstance(item, int) for item in ids):
        raise JiraApiError(400, ["webhookIds must be a list of webhook ids (integers)"])
    return ids


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise JiraApiError(400, [f"{name}={raw!r} is invalid; use an integer"]) from error


def _error_response(error: OAuthError | JiraApiError) -> JSONResponse:
    if isinstance(error, OAuthError):
        return error.response()
    return JSONResponse(error.body(), status_code=error.status)
