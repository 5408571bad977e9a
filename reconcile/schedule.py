"""The reconciliation service: a daily run per connection, runs on demand, and polling.

The worker builds one :class:`Reconciler`, calls :meth:`Reconciler.start` when
it starts and :meth:`Reconciler.stop` when it stops, calls
:meth:`Reconciler.run_now` for an operator's request, and feeds
:meth:`Reconciler.note_delivery` with each webhook delivery it receives, so
the scheduler detects when webhooks have gone quiet and the site must be polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconcile.counting import CountingClient
from reconcile.drift import DriftReport, thread_message
from reconcile.errors import ConnectionNotReady, UnknownConnection
from reconcile.metrics import ReconcileMetrics
from reconcile.poll import PollResult, SeenSet, next_window, poll_window, should_poll
from reconcile.ports import GraphIndex, JiraApi, Publish
from reconcile.run import SOURCE, reconcile
from reconcile.settings import ReconcileSettings, ReconcileTarget, next_run_at
from reconcile.shapes import items_of
from reconcile.webhooks import ensure_webhooks
from streams import codec
from streams.errors import SyncError
from streams.topics import TopicNames

logger = logging.getLogger(__name__)

TargetSource = Callable[[], Iterable[ReconcileTarget]]
ClientFactory = Callable[[ReconcileTarget], JiraApi]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _ConnectionState:
    """What the scheduler remembers about one connection between runs."""

    next_run: datetime | None = None
    last_delivery_ms: int | None = None
    registration_failed: bool = False
    poll_checkpoint_ms: int | None = None
    last_poll_ms: int | None = None
    project_ids: tuple[str, ...] = ()
    seen: SeenSet | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Reconciler:
    """Runs reconciliation daily per connection and on demand, and polls while webhooks fail.

    ``targets`` returns the active connections each time it is called, so new
    and disconnected connections are picked up without a restart.
    ``client_for`` returns the Jira client of a connection (the worker's, which
    owns token refresh). Runs of one connection never overlap; runs of different
    connections run one after another, to stay inside each site's rate limits.
    """

    def __init__(
        self,
        *,
        targets: TargetSource,
        client_for: ClientFactory,
        graph: GraphIndex,
        publish: Publish,
        settings: ReconcileSettings | None = None,
        topics: TopicNames | None = None,
        metrics: ReconcileMetrics | None = None,
        now: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._targets = targets
        self._client_for = client_for
        self._graph = graph
        self._publish = publish
        self.settings = settings if settings is not None else ReconcileSettings()
        self._topics = topics if topics is not None else TopicNames()
        self.metrics = metrics if metrics is not None else ReconcileMetrics()
        self._now = now
        self._sleep = sleep
        # The latest report per space, for the operator's status command.
        self.last_reports: dict[str, DriftReport] = {}
        self._states: dict[str, _ConnectionState] = {}
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background loop; calling it twice keeps the running loop."""
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.create_task(self._loop(), name="reconcile-scheduler")
        logger.info("reconciliation scheduler started daily_at=%s", self.settings.daily_at)

    async def stop(self) -> None:
        """Stop the loop, waiting for it to end; a run in progress is cancelled."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        logger.info("reconciliation scheduler stopped")

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
                await self.poll_due()
            except Exception:
                # One bad pass must not end the schedule of every connection.
                logger.exception("reconciliation scheduler pass failed")
            await self._sleep(self.settings.tick.total_seconds())

    # --- inputs from the worker --------------------------------------------------------

    def note_delivery(self, space_id: str, received_at_ms: int) -> None:
        """Record that a webhook delivery for ``space_id`` arrived at ``received_at_ms``."""
        state = self._state(space_id)
        if state.last_delivery_ms is None or received_at_ms > state.last_delivery_ms:
            state.last_delivery_ms = received_at_ms

    # --- reconciliation ----------------------------------------------------------------

    async def run_now(self, space_id: str, *, dry_run: bool = False) -> DriftReport:
        """Reconcile one connection now and return its report.

        Raises UnknownConnection when no active connection serves ``space_id`` and
        ConnectionNotReady when it has no site yet.
        """
        target = self._target(space_id)
        return await self._run(target, dry_run=dry_run, trigger="on_demand")

    async def run_due(self) -> list[DriftReport]:
        """Run every connection whose daily time has come; return their reports."""
        now = self._now()
        reports = []

        for target in list(self._targets()):
            if target.cloud_id is None:
                continue
            state = self._state(target.space_id)
            daily_at = target.daily_at or self.settings.daily_at
            if state.next_run is None:
                state.next_run = next_run_at(now, daily_at)
                continue
            if now < state.next_run:
                continue

            state.next_run = next_run_at(now, daily_at)
            try:
                reports.append(await self._run(target, dry_run=False, trigger="scheduled"))
            except SyncError as exc:
                self.metrics.runs.labels(outcome="failed", trigger="scheduled").inc()
                logger.warning(
                    "scheduled reconciliation failed space_id=%s cloud_id=%s error=%s",
                    target.space_id,
                    target.cloud_id,
                    exc,
                )
        return reports

    async def _run(self, target: ReconcileTarget, *, dry_run: bool, trigger: str) -> DriftReport:
        cloud_id = target.cloud_id
        if cloud_id is None:
            raise ConnectionNotReady(
                f"space {target.space_id} has no Jira site chosen yet; choose a site first"
            )
        state = self._state(target.space_id)

        async with state.lock:
            client = CountingClient(self._client_for(target))
            webhook_update: dict[str, object] = {}
            if not dry_run:
                webhook_update = await self._keep_webhooks(target, cloud_id, client, state)

            report = await reconcile(
                target,
                client=client,
                graph=self._graph,
                publish=self._publish,
                dry_run=dry_run,
                topics=self._topics,
                site_fields=target.site_fields,
            )
            report = report.model_copy(update={**webhook_update, "api_calls": client.calls})
            # Projects may have changed; the next poll lists them again.
            state.project_ids = ()

        self.metrics.record_run(report, trigger)
        self.last_reports[target.space_id] = report
        if self._worth_posting(report, trigger):
            await self._post(report)
        return report

    async def _keep_webhooks(
        self,
        target: ReconcileTarget,
        cloud_id: str,
        client: CountingClient,
        state: _ConnectionState,
    ) -> dict[str, object]:
        calls_before = client.calls
        try:
            check = await ensure_webhooks(
                client,
                url=target.webhook_url,
                wanted=target.webhooks,
                now_ms=_ms(self._now()),
                cloud_id=cloud_id,
                refresh_window=self.settings.refresh_window,
            )
        except SyncError as exc:
            logger.warning(
                "webhook upkeep failed space_id=%s cloud_id=%s error=%s",
                target.space_id,
                cloud_id,
                exc,
            )
            return {
                "webhook_errors": (f"webhook upkeep failed: {exc}",),
                "webhook_calls": client.calls - calls_before,
            }

        state.registration_failed = bool(check.errors)
        return {
            "webhooks_refreshed": check.refreshed,
            "webhooks_registered": check.registered,
            "webhook_errors": check.errors,
            "webhook_calls": client.calls - calls_before,
        }

    def _worth_posting(self, report: DriftReport, trigger: str) -> bool:
        if trigger == "on_demand" or self.settings.post_quiet_reports:
            return True
        return bool(
            report.drift_total
            or report.partial
            or report.webhook_errors
            or report.webhooks_registered
            or report.projects_found
        )

    async def _post(self, report: DriftReport) -> None:
        key = report.space_id
        envelope = codec.make(thread_message(report), source=SOURCE, subject=key)
        await self._publish(self._topics.threads, key, envelope)

    # --- polling -----------------------------------------------------------------------

    async def poll_due(self) -> list[PollResult]:
        """Poll each connection whose webhooks look broken and whose poll interval passed."""
        now_ms = _ms(self._now())
        interval_ms = int(self.settings.poll_interval.total_seconds() * 1000)
        results = []

        for target in list(self._targets()):
            if target.cloud_id is None:
                continue
            state = self._state(target.space_id)
            failing = should_poll(
                now_ms=now_ms,
                last_delivery_ms=state.last_delivery_ms,
                registration_failed=state.registration_failed,
                silence=self.settings.poll_silence,
            )
            self.metrics.webhooks_failing.labels(cloud_id=target.cloud_id).set(1 if failing else 0)
            if not failing:
                # Webhooks deliver again, so a later poll starts from fresh state.
                state.poll_checkpoint_ms = None
                continue
            if state.last_poll_ms is not None and now_ms - state.last_poll_ms < interval_ms:
                continue

            state.last_poll_ms = now_ms
            try:
                results.append(await self._poll(target, state, now_ms))
            except SyncError as exc:
                # The checkpoint stays, so the same window is read again next time.
                state.project_ids = ()
                logger.warning(
                    "poll failed space_id=%s cloud_id=%s error=%s",
                    target.space_id,
                    target.cloud_id,
                    exc,
                )
        return results

    async def _poll(
        self, target: ReconcileTarget, state: _ConnectionState, now_ms: int
    ) -> PollResult:
        async with state.lock:
            client = CountingClient(self._client_for(target))
            if not state.project_ids:
                projects = items_of(await client.projects())
                state.project_ids = tuple(sorted(str(project["id"]) for project in projects))
            if state.seen is None:
                state.seen = SeenSet(self.settings.seen_max)
            if state.poll_checkpoint_ms is None:
                silence_ms = int(self.settings.poll_silence.total_seconds() * 1000)
                state.poll_checkpoint_ms = state.last_delivery_ms or now_ms - silence_ms

            window = next_window(
                state.poll_checkpoint_ms, now_ms, overlap=self.settings.poll_overlap
            )
            result = await poll_window(
                target,
                client=client,
                window=window,
                project_ids=state.project_ids,
                seen=state.seen,
                publish=self._publish,
                topics=self._topics,
                site_fields=target.site_fields,
            )
            state.poll_checkpoint_ms = window.end_ms

        self.metrics.polled.inc(result.published)
        self.metrics.api_calls.labels(kind="poll").inc(client.calls)
        return result

    # --- helpers -----------------------------------------------------------------------

    def _target(self, space_id: str) -> ReconcileTarget:
        for target in self._targets():
            if target.space_id == space_id:
                return target
        raise UnknownConnection(
            f"space {space_id} has no active Jira connection; connect a site before reconciling"
        )

    def _state(self, space_id: str) -> _ConnectionState:
        state = self._states.get(space_id)
        if state is None:
            state = _ConnectionState()
            self._states[space_id] = state
        return state


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
