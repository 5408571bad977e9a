"""The service's Jira Cloud REST client for one site.

Every request goes through :meth:`JiraClient._send`, the one retry loop:
acquire the site budget, send, map the response to an error class, back off with
:class:`~jiraclient.retry.RetryPolicy`, and after a 401 retry once with a freshly
refreshed token. Paged endpoints are walked here, so callers see whole lists or
one page at a time with the token to resume from.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson

from jiraclient.auth import DEFAULT_API_URL, TokenSource
from jiraclient.budget import SiteBudget
from jiraclient.dates import parse_epoch_or_text
from jiraclient.errors import (
    JiraError,
    JiraInvalidResponse,
    JiraNotFound,
    JiraRateLimited,
    JiraUnauthorized,
    PagingError,
    WebhookRegistrationError,
    error_from_response,
    transport_error,
)
from jiraclient.query import with_query
from jiraclient.retry import NO_RETRY, RetryPolicy, parse_retry_after
from streams.metrics import JIRA_CALLS

log = logging.getLogger(__name__)

EDIT_ID_HEADER = "X-Naumu-Edit-Id"

# Jira's documented maximum number of ids per bulkfetch request.
BULKFETCH_CHUNK = 100
# Jira Software's documented maximum number of issues per move-to-sprint request.
SPRINT_MOVE_CHUNK = 50
# reconcileIssues accepts at most this many issue ids per search.
RECONCILE_LIMIT = 50

Api = Literal["platform", "agile"]


@dataclass(frozen=True)
class Page:
    """One page of a JQL search.

    ``page_token`` is the token that fetched this page (``None`` for the first
    page), so a caller that checkpoints it can fetch the same page again.
    ``next_page_token`` fetches the following page and is ``None`` on the last.
    """

    issues: list[dict[str, Any]]
    page_token: str | None
    next_page_token: str | None
    is_last: bool


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Counter.labels() takes a lock and looks the child up on every call, so each
# (method, outcome) child is looked up once per process.
_CALL_COUNTERS: dict[tuple[str, str], Any] = {}


def _count_call(method: str, outcome: str) -> None:
    counter = _CALL_COUNTERS.get((method, outcome))
    if counter is None:
        counter = _CALL_COUNTERS[(method, outcome)] = JIRA_CALLS.labels(method, outcome)
    counter.inc()


class JiraClient:
    """Calls one Jira Cloud site through the Atlassian API gateway.

    ``tokens`` returns a bearer token and, when called with ``stale=``, a token
    other than the stale one (see :class:`~jiraclient.auth.TokenSource`).
    ``priority`` is the budget priority of every request this client sends.
    Writes (edits, transitions, assignments, sprint moves) use ``write_policy``,
    which by default never retries, because the write-back executor runs its own
    retry loop and reports each retry.
    """

    def __init__(
        self,
        cloud_id: str,
        *,
        tokens: TokenSource,
        http: httpx.AsyncClient,
        api_url: str = DEFAULT_API_URL,
        budget: SiteBudget | None = None,
        priority: str = "import",
        retry_policy: RetryPolicy | None = None,
        write_policy: RetryPolicy = NO_RETRY,
        page_size: int = 100,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self.cloud_id = cloud_id
        self.priority = priority
        self._tokens = tokens
        self._http = http
        self._api_url = api_url.rstrip("/")
        self._budget = budget
        self._policy = retry_policy or RetryPolicy()
        self._write_policy = write_policy
        self._page_size = page_size
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._random_fraction = random_fraction
        self._bases: dict[Api, str] = {
            "platform": f"{self._api_url}/ex/jira/{cloud_id}/rest/api/3",
            "agile": f"{self._api_url}/ex/jira/{cloud_id}/rest/agile/1.0",
        }

    def __repr__(self) -> str:
        return f"JiraClient(cloud_id={self.cloud_id!r}, priority={self.priority!r})"

    def with_priority(self, priority: str) -> JiraClient:
        """Return a client for the same site, budget and tokens at another budget priority."""
        return JiraClient(
            self.cloud_id,
            tokens=self._tokens,
            http=self._http,
            api_url=self._api_url,
            budget=self._budget,
            priority=priority,
            retry_policy=self._policy,
            write_policy=self._write_policy,
            page_size=self._page_size,
            clock=self._clock,
            wall_clock=self._wall_clock,
            sleep=self._sleep,
            random_fraction=self._random_fraction,
        )

    # --- the seam ---------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        api: Api = "platform",
        params: dict[str, Any] | None = None,
        json: Any = None,
        edit_id: str | None = None,
        issue_id: str | None = None,
        policy: RetryPolicy | None = None,
    ) -> httpx.Response:
        """Send one request with budget, error mapping, back-off and one token refresh.

        Steps per attempt: acquire a budget slot, get a token, send, and return a
        2xx response. An error response or transport failure is mapped to a
        :class:`JiraError`. A first 401 retries at once with a refreshed token, a
        retriable error waits for the policy's delay, and anything else is raised.
        """
        policy = policy or self._policy
        url = with_query(self._bases[api] + path, params)
        headers = {"Accept": "application/json"}
        if edit_id is not None:
            headers[EDIT_ID_HEADER] = edit_id

        started = self._clock()
        failures = 0
        stale_token: str | None = None
        refreshed = False

        while True:
            if self._budget is not None:
                await self._budget.acquire(self.priority, issue_id=issue_id)
            token = await self._tokens(stale_token) if stale_token else await self._tokens()
            headers["Authorization"] = f"Bearer {token}"

            error = await self._attempt(method, url, path, json, headers, edit_id)
            if not isinstance(error, JiraError):
                return error

            if isinstance(error, JiraUnauthorized) and not refreshed:
                refreshed = True
                stale_token = token
                log.warning(
                    "Jira returned 401, retrying with a refreshed token cloud_id=%s %s %s",
                    self.cloud_id,
                    method,
                    path,
                )
                continue
            stale_token = None

            if not error.retriable:
                raise error

            failures += 1
            retry_after = getattr(error, "retry_after_s", None)
            delay = policy.next_delay(
                failures=failures,
                elapsed_s=self._clock() - started,
                retry_after_s=retry_after,
                random_fraction=self._random_fraction,
            )
            if isinstance(error, JiraRateLimited) and self._budget is not None:
                self._budget.pause(
                    delay if delay is not None else (retry_after or 0.0),
                    reason=error.reason,
                    issue_id=issue_id,
                )
            if delay is None:
                log.warning(
                    "giving up on %s %s after %d failed attempts cloud_id=%s error=%s",
                    method,
                    path,
                    failures,
                    self.cloud_id,
                    type(error).__name__,
                )
                raise error

            log.warning(
                "retrying %s %s in %.2fs after %s (attempt %d) cloud_id=%s edit_id=%s",
                method,
                path,
                delay,
                type(error).__name__,
                failures,
                self.cloud_id,
                edit_id,
            )
            # The rate-limit pause already delays the next budget slot, so sleeping
            # as well would wait twice as long.
            if not (isinstance(error, JiraRateLimited) and self._budget is not None):
                await self._sleep(delay)

    async def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        json: Any,
        headers: dict[str, str],
        edit_id: str | None,
    ) -> httpx.Response | JiraError:
        sent_at = self._clock()
        try:
            response = await self._http.request(method, url, json=json, headers=headers)
        except httpx.RequestError as exc:
            log.info(
                "%s %s failed cloud_id=%s error=%s duration_ms=%.0f",
                method,
                path,
                self.cloud_id,
                type(exc).__name__,
                (self._clock() - sent_at) * 1000,
            )
            _count_call(method, "transport_error")
            mapped = transport_error(exc, method=method, url=url)
            mapped.__cause__ = exc
            return mapped

        log.info(
            "%s %s status=%d cloud_id=%s edit_id=%s duration_ms=%.0f",
            method,
            path,
            response.status_code,
            self.cloud_id,
            edit_id,
            (self._clock() - sent_at) * 1000,
        )
        _count_call(method, f"{response.status_code // 100}xx")
        if response.is_success:
            return response

        retry_after = None
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=self._wall_clock()
            )
        return error_from_response(response, retry_after_s=retry_after)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        # orjson reads UTF-8 only, which is what Jira Cloud sends. It returns
        # integers beyond 64 bits as floats, and Jira's ids are far smaller.
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise JiraInvalidResponse(
                f"Jira returned {response.status_code} to {response.request.method} "
                f"{response.request.url.path} with a body that is not JSON",
                response=response,
            ) from exc

    async def _get_json(
        self, path: str, *, api: Api = "platform", params: dict[str, Any] | None = None
    ) -> Any:
        return self._json(await self._send("GET", path, api=api, params=params))

    async def _offset_pages(
        self,
        path: str,
        items_key: str,
        *,
        api: Api = "platform",
        params: dict[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the items of an offset-paged list (``startAt``/``maxResults``)."""
        start_at = 0
        while True:
            query = dict(params or {})
            query.update(startAt=start_at, maxResults=self._page_size)
            body = await self._get_json(path, api=api, params=query)
            if not isinstance(body, dict):
                raise PagingError(
                    f"GET {path} returned {type(body).__name__} instead of a page object "
                    f"on cloud_id={self.cloud_id}"
                )
            items = list(body.get(items_key) or [])
            for item in items:
                yield item

            start_at += len(items)
            total = body.get("total")
            if not items or body.get("isLast") is True:
                return
            if isinstance(total, int) and start_at >= total:
                return

    # --- search ------------------------------------------------------------------------

    async def search_jql(
        self,
        jql: str,
        fields: Sequence[str],
        *,
        expand: str | Sequence[str] | None = None,
        max_results: int = 100,
        reconcile_issue_ids: Sequence[int | str] | None = None,
        page_token: str | None = None,
    ) -> AsyncIterator[Page]:
        """Walk ``search/jql`` page by page, starting at ``page_token`` when resuming.

        The walk ends on ``isLast`` or when a page carries no ``nextPageToken``.
        Jira may return fewer issues than ``max_results``. A token seen twice
        raises :class:`PagingError` instead of looping.
        """
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": max_results}
        if expand is not None:
            body["expand"] = expand if isinstance(expand, str) else ",".join(expand)
        if reconcile_issue_ids:
            if len(reconcile_issue_ids) > RECONCILE_LIMIT:
                raise ValueError(
                    f"reconcile_issue_ids contains {len(reconcile_issue_ids)} ids; Jira accepts "
                    f"at most {RECONCILE_LIMIT}"
                )
            body["reconcileIssues"] = [int(issue_id) for issue_id in reconcile_issue_ids]

        seen: set[str] = set()
        token = page_token
        while True:
            request_body = dict(body)
            if token is not None:
                seen.add(token)
                request_body["nextPageToken"] = token

            response = await self._send("POST", "/search/jql", json=request_body)
            data = self._json(response)
            issues = list(data.get("issues") or [])
            next_token = data.get("nextPageToken") or None
            is_last = bool(data.get("isLast")) or next_token is None

            if not is_last and next_token in seen:
                raise PagingError(
                    f"search/jql returned page token {next_token!r} a second time for JQL "
                    f"{jql!r} on cloud_id={self.cloud_id}; the walk stops instead of looping"
                )
            yield Page(
                issues=issues,
                page_token=token,
                next_page_token=None if is_last else next_token,
                is_last=is_last,
            )
            if is_last:
                return
            token = next_token

    async def approximate_count(self, jql: str) -> int:
        """Return Jira's approximate number of issues matching a bounded JQL query."""
        response = await self._send("POST", "/search/approximate-count", json={"jql": jql})
        data = self._json(response)
        count = data.get("count") if isinstance(data, dict) else None
        if not isinstance(count, int):
            raise JiraInvalidResponse(
                f"approximate-count returned no integer count: {data!r}", response=response
            )
        return count

    # --- issues ------------------------------------------------------------------------

    async def get_issue(
        self,
        id_or_key: str,
        fields: Sequence[str] | None = None,
        expand: str | Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Fetch one issue (v3, ADF description); raises ``JiraNotFound`` when it is gone."""
        params: dict[str, Any] = {}
        if fields is not None:
            params["fields"] = ",".join(fields)
        if expand is not None:
            params["expand"] = expand if isinstance(expand, str) else ",".join(expand)
        data: dict[str, Any] = await self._get_json(f"/issue/{id_or_key}", params=params)
        return data

    async def bulkfetch(
        self,
        ids: Iterable[int | str],
        fields: Sequence[str],
        expand: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Fetch issues by id or key, 100 per request; ids Jira does not return are absent."""
        wanted = [str(issue_id) for issue_id in ids]
        issues: list[dict[str, Any]] = []
        for start in range(0, len(wanted), BULKFETCH_CHUNK):
            chunk = wanted[start : start + BULKFETCH_CHUNK]
            body: dict[str, Any] = {"issueIdsOrKeys": chunk, "fields": list(fields)}
            if expand:
                body["expand"] = list(expand)

            data = self._json(await self._send("POST", "/issue/bulkfetch", json=body))
            issues.extend(data.get("issues") or [])
            for problem in data.get("issueErrors") or []:
                log.warning(
                    "bulkfetch reported an issue error cloud_id=%s error=%s",
                    self.cloud_id,
                    problem,
                )
        return issues

    async def changelog(self, issue_id: str) -> list[dict[str, Any]]:
        """Return an issue's whole change history, oldest first, across all pages."""
        return [item async for item in self._offset_pages(f"/issue/{issue_id}/changelog", "values")]

    async def comments(self, issue_id: str) -> list[dict[str, Any]]:
        """Return all comments of an issue across all pages."""
        return [item async for item in self._offset_pages(f"/issue/{issue_id}/comment", "comments")]

    async def edit_issue(
        self, issue_id: str, body: dict[str, Any], *, edit_id: str | None = None
    ) -> None:
        """Edit an issue's fields (``fields`` and ``update`` verbs); Jira returns 204."""
        await self._send(
            "PUT",
            f"/issue/{issue_id}",
            json=body,
            edit_id=edit_id,
            issue_id=issue_id,
            policy=self._write_policy,
        )

    async def transitions(self, issue_id: str, expand_fields: bool = True) -> list[dict[str, Any]]:
        """List the transitions available from the issue's current status."""
        params = {"expand": "transitions.fields"} if expand_fields else None
        data = await self._get_json(f"/issue/{issue_id}/transitions", params=params)
        return list(data.get("transitions") or [])

    async def transition(
        self, issue_id: str, body: dict[str, Any], *, edit_id: str | None = None
    ) -> None:
        """Apply a transition: ``{"transition": {"id": ...}, "fields": ...}``."""
        await self._send(
            "POST",
            f"/issue/{issue_id}/transitions",
            json=body,
            edit_id=edit_id,
            issue_id=issue_id,
            policy=self._write_policy,
        )

    async def assign(self, issue_id: str, account_id: str, *, edit_id: str | None = None) -> None:
        """Assign an issue to the user with ``account_id``."""
        await self._send(
            "PUT",
            f"/issue/{issue_id}/assignee",
            json={"accountId": account_id},
            edit_id=edit_id,
            issue_id=issue_id,
            policy=self._write_policy,
        )

    # --- site metadata ---------------------------------------------------------------

    async def fields(self) -> list[dict[str, Any]]:
        """List every system and custom field of the site."""
        data = await self._get_json("/field")
        return list(data) if isinstance(data, list) else []

    async def priorities(self) -> list[dict[str, Any]]:
        """List the site's priorities (``id`` and ``name``), across all pages.

        ``priority/search`` is the paged endpoint; a server without it gets the
        older ``GET /priority``, which returns the whole list at once.
        """
        try:
            return [item async for item in self._offset_pages("/priority/search", "values")]
        except JiraNotFound:
            log.info("priority/search not found, reading /priority cloud_id=%s", self.cloud_id)
        data = await self._get_json("/priority")
        return list(data) if isinstance(data, list) else []

    async def projects(self) -> list[dict[str, Any]]:
        """List every project the account can browse, across all pages."""
        return [item async for item in self._offset_pages("/project/search", "values")]

    async def users(self) -> list[dict[str, Any]]:
        """List every user of the site; the walk ends on the first empty page."""
        users: list[dict[str, Any]] = []
        start_at = 0
        while True:
            page = await self._get_json(
                "/users/search", params={"startAt": start_at, "maxResults": self._page_size}
            )
            if not isinstance(page, list) or not page:
                return users
            users.extend(page)
            start_at += len(page)

    # --- agile -------------------------------------------------------------------------

    async def boards(self) -> list[dict[str, Any]]:
        """List every board, across all pages."""
        return [item async for item in self._offset_pages("/board", "values", api="agile")]

    async def sprints(self, board_id: int | str) -> list[dict[str, Any]]:
        """List a board's future, active and closed sprints, across all pages."""
        return [
            item
            async for item in self._offset_pages(
                f"/board/{board_id}/sprint",
                "values",
                api="agile",
                params={"state": "future,active,closed"},
            )
        ]

    async def move_to_sprint(
        self,
        sprint_id: int | str,
        issue_ids: Sequence[int | str],
        *,
        edit_id: str | None = None,
    ) -> None:
        """Move issues into a sprint, 50 per request."""
        for start in range(0, len(issue_ids), SPRINT_MOVE_CHUNK):
            chunk = [str(issue_id) for issue_id in issue_ids[start : start + SPRINT_MOVE_CHUNK]]
            await self._send(
                "POST",
                f"/sprint/{sprint_id}/issue",
                api="agile",
                json={"issues": chunk},
                edit_id=edit_id,
                issue_id=chunk[0] if len(chunk) == 1 else None,
                policy=self._write_policy,
            )

    async def move_to_backlog(
        self, issue_ids: Sequence[int | str], *, edit_id: str | None = None
    ) -> None:
        """Move issues out of every sprint into the backlog, 50 per request."""
        for start in range(0, len(issue_ids), SPRINT_MOVE_CHUNK):
            chunk = [str(issue_id) for issue_id in issue_ids[start : start + SPRINT_MOVE_CHUNK]]
            await self._send(
                "POST",
                "/backlog/issue",
                api="agile",
                json={"issues": chunk},
                edit_id=edit_id,
                issue_id=chunk[0] if len(chunk) == 1 else None,
                policy=self._write_policy,
            )

    # --- webhooks ----------------------------------------------------------------------

    async def register_webhooks(
        self, url: str, webhooks: Sequence[dict[str, Any]]
    ) -> list[int | str]:
        """Register dynamic webhooks and return the created ids in request order.

        Jira returns 200 even when it rejects some webhooks. Then this raises
        :class:`WebhookRegistrationError`, which lists the rejected ones and the
        ids of those created anyway.
        """
        response = await self._send(
            "POST", "/webhook", json={"url": url, "webhooks": list(webhooks)}
        )
        data = self._json(response)
        results = data.get("webhookRegistrationResult") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise JiraInvalidResponse(
                f"webhook registration returned no webhookRegistrationResult: {data!r}",
                response=response,
            )

        created: list[int | str] = []
        failures: dict[int, list[str]] = {}
        for index, result in enumerate(results):
            created_id = result.get("createdWebhookId") if isinstance(result, dict) else None
            if created_id is not None:
                created.append(created_id)
            else:
                messages = result.get("errors") if isinstance(result, dict) else None
                failures[index] = [str(message) for message in messages or []]

        if failures:
            raise WebhookRegistrationError(created, failures)
        log.info("registered webhooks cloud_id=%s ids=%s", self.cloud_id, created)
        return created

    async def list_webhooks(self) -> list[dict[str, Any]]:
        """List the app's registered webhooks, across all pages."""
        return [item async for item in self._offset_pages("/webhook", "values")]

    async def delete_webhooks(self, ids: Sequence[int | str]) -> None:
        """Delete webhooks by id; Jira returns 202."""
        await self._send("DELETE", "/webhook", json={"webhookIds": [int(i) for i in ids]})
        log.info("deleted webhooks cloud_id=%s ids=%s", self.cloud_id, list(ids))

    async def refresh_webhooks(self, ids: Sequence[int | str]) -> datetime:
        """Extend the webhooks' 30-day life and return their new expiry (UTC).

        Jira documents ``expirationDate`` as epoch milliseconds but its examples
        show date-time text, so both are read.
        """
        response = await self._send(
            "PUT", "/webhook/refresh", json={"webhookIds": [int(i) for i in ids]}
        )
        data = self._json(response)
        expiration = data.get("expirationDate") if isinstance(data, dict) else None
        if not isinstance(expiration, int | float | str):
            raise JiraInvalidResponse(
                f"webhook refresh returned no expirationDate: {data!r}", response=response
            )
        try:
            return parse_epoch_or_text(expiration)
        except ValueError as exc:
            raise JiraInvalidResponse(str(exc), response=response) from exc
