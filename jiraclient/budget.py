"""One request budget per Jira site, shared by every job that calls that site.

A token bucket refills at ``rate_per_s`` up to ``burst`` requests. When requests
wait, the highest priority goes first: write-back, then refetch, then import,
then reconciliation, so a user's edit never queues behind a bulk import. A 429
pauses the whole site, except a per-issue write limit, which pauses only the
writes to that issue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

PRIORITIES: tuple[str, ...] = ("writeback", "refetch", "import", "reconcile")
_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}

# RateLimit-Reason of Jira's per-issue write limit: it concerns one issue only.
PER_ISSUE_REASON = "jira-per-issue-on-write"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class SiteBudget:
    """An async, priority-ordered token bucket for one site (``cloud_id``)."""

    def __init__(
        self,
        cloud_id: str,
        *,
        rate_per_s: float = 10.0,
        burst: int = 10,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.cloud_id = cloud_id
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._refilled_at = clock()
        self._site_paused_until = 0.0
        self._issue_paused_until: dict[str, float] = {}
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"SiteBudget(cloud_id={self.cloud_id!r}, rate_per_s={self._rate}, "
            f"burst={int(self._burst)}, waiting={len(self._waiters)})"
        )

    @property
    def waiting(self) -> int:
        """Number of callers waiting for a request slot."""
        return sum(1 for _, _, future in self._waiters if not future.done())

    def paused_for(self, issue_id: str | None = None) -> float:
        """Return the seconds left of the site's pause, or of ``issue_id``'s if longer."""
        now = self._clock()
        remaining = self._site_paused_until - now
        if issue_id is not None:
            remaining = max(remaining, self._issue_paused_until.get(issue_id, 0.0) - now)
        return max(remaining, 0.0)

    def pause(
        self, seconds: float, *, reason: str | None = None, issue_id: str | None = None
    ) -> None:
        """Hold requests for ``seconds`` after a 429, scoped by Jira's RateLimit-Reason.

        A per-issue write limit with a known ``issue_id`` pauses only that issue;
        every other reason, or none, pauses the whole site. A pause never shortens
        an existing one.
        """
        until = self._clock() + max(seconds, 0.0)
        if reason == PER_ISSUE_REASON and issue_id is not None:
            self._issue_paused_until[issue_id] = max(
                self._issue_paused_until.get(issue_id, 0.0), until
            )
            log.info(
                "pausing writes to one issue cloud_id=%s issue_id=%s seconds=%.1f reason=%s",
                self.cloud_id,
                issue_id,
                seconds,
                reason,
            )
            return

        self._site_paused_until = max(self._site_paused_until, until)
        log.info(
            "pausing all requests to site cloud_id=%s seconds=%.1f reason=%s",
            self.cloud_id,
            seconds,
            reason,
        )

    async def acquire(self, priority: str, *, issue_id: str | None = None) -> None:
        """Wait until one request may be sent at ``priority``.

        ``issue_id`` names the issue a write goes to, so a per-issue pause delays it.
        """
        rank = _RANK.get(priority)
        if rank is None:
            raise ValueError(f"unknown priority {priority!r}; use one of {', '.join(PRIORITIES)}")

        await self._wait_for_issue(issue_id)

        if not self._waiters and self.paused_for() == 0.0 and self._take_token():
            return

        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (rank, next(self._order), future))
        self._ensure_dispatcher()
        await future

    async def _wait_for_issue(self, issue_id: str | None) -> None:
        if issue_id is None:
            return
        while True:
            remaining = self._issue_paused_until.get(issue_id, 0.0) - self._clock()
            if remaining <= 0:
                self._issue_paused_until.pop(issue_id, None)
                return
            await self._sleep(remaining)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(now - self._refilled_at, 0.0)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._refilled_at = now

    def _take_token(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _seconds_until_token(self) -> float:
        self._refill()
        return max((1.0 - self._tokens) / self._rate, 0.0)

    def _ensure_dispatcher(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(
                self._dispatch(), name=f"site-budget-{self.cloud_id}"
            )

    async def _dispatch(self) -> None:
        # One task hands out slots in priority order, so a late high-priority
        # caller overtakes every lower-priority caller still waiting.
        while self._waiters:
            if self._waiters[0][2].done():
                heapq.heappop(self._waiters)
                continue

            wait = max(self.paused_for(), self._seconds_until_token())
            if wait > 0:
                await self._sleep(wait)
                continue

            if self._take_token():
                _, _, future = heapq.heappop(self._waiters)
                future.set_result(None)
