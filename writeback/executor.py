"""Apply one Naumu edit to Jira, exactly once, through the write-back state machine.

Kafka delivers edits at least once, so :func:`apply_edit` is idempotent by edit
id: the ledger stores each edit's state, a finished edit is never sent again,
and every attempt starts by reading the issue, so a write that reached Jira
before a crash is confirmed from Jira's value instead of being sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from jiraclient.client import JiraClient
from jiraclient.errors import JiraBadRequest, JiraError, JiraHTTPError, JiraNotFound
from jiraclient.retry import RetryPolicy
from streams.contract import EditRequested, WritebackOutcome, WritebackResult, WritePending
from writeback.adf_patch import MarkdownCodec
from writeback.plan import (
    AlreadyApplied,
    Conflict,
    JiraWrite,
    Plan,
    PlanOutcome,
    Rejection,
    WritebackConfig,
    plan_edit,
)
from writeback.state import EditState, transition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditTarget:
    """The destination of an edit: the edited node's site and issue, and the id maps."""

    cloud_id: str
    issue_id: str
    node: Mapping[str, Any] = field(default_factory=dict)
    members: Mapping[str, str] = field(default_factory=dict)
    issue_ids: Mapping[str, str] = field(default_factory=dict)
    sprint_ids: Mapping[str, str] = field(default_factory=dict)


class EditLookup(Protocol):
    """Resolves an edit's node to its Jira issue; ``None`` when the node is not from Jira."""

    async def target(self, edit: EditRequested) -> EditTarget | None: ...


@dataclass(frozen=True)
class LedgerRecord:
    """The stored state of one edit; ``result`` is the last outcome published."""

    edit_id: str
    state: EditState
    attempt: int = 0
    result: WritebackResult | None = None


class EditLedger(Protocol):
    """Durable state per edit id (a compacted topic or a table in production)."""

    async def get(self, edit_id: str) -> LedgerRecord | None: ...

    async def put(self, edit_id: str, record: LedgerRecord) -> None: ...


class InMemoryLedger:
    """An :class:`EditLedger` in a dict, for tests and single-process runs."""

    def __init__(self) -> None:
        self.records: dict[str, LedgerRecord] = {}

    async def get(self, edit_id: str) -> LedgerRecord | None:
        return self.records.get(edit_id)

    async def put(self, edit_id: str, record: LedgerRecord) -> None:
        self.records[edit_id] = record


class WritebackSink(Protocol):
    """Publishes what happens while an edit is applied, before the final result."""

    async def pending(self, observation: WritePending) -> None: ...

    async def retrying(self, result: WritebackResult) -> None: ...


@dataclass(frozen=True)
class AppliedEdit:
    """The final result of an edit and the echo marker published before the write."""

    result: WritebackResult
    pending: WritePending | None = None


class PriorityCache:
    """Each site's priority list, kept ``ttl_s`` seconds so Priority edits skip the GET.

    A Priority edit that a cached list rejects is planned again with a fresh list,
    so a priority added in Jira within ``ttl_s`` is still found.
    """

    def __init__(self, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._by_site: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def get(self, cloud_id: str) -> list[dict[str, Any]] | None:
        """Return the site's list while it is fresh, else ``None``."""
        entry = self._by_site.get(cloud_id)
        if entry is None or self._clock() - entry[0] > self._ttl_s:
            return None
        return entry[1]

    def put(self, cloud_id: str, priorities: list[dict[str, Any]]) -> None:
        self._by_site[cloud_id] = (self._clock(), priorities)

    def forget(self, cloud_id: str) -> None:
        self._by_site.pop(cloud_id, None)


# Shared by every apply_edit call that passes neither ``priorities`` nor a cache.
DEFAULT_PRIORITY_CACHE = PriorityCache()


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def fields_to_read(edit: EditRequested, config: WritebackConfig) -> list[str]:
    """Return the Jira fields the planner reads for an edit of ``edit.field``."""
    by_field = {
        "label": "summary",
        "content": "description",
        "Status": "status",
        "Priority": "priority",
        "Labels": "labels",
        "assignee": "assignee",
        "parent": "parent",
        "sprint": config.sprint_field_id,
    }
    return [by_field[edit.field], "updated"]


async def send_write(client: JiraClient, write: JiraWrite, *, edit_id: str) -> None:
    """Send one planned request through the client."""
    if write.kind == "edit":
        await client.edit_issue(write.issue_id, write.body, edit_id=edit_id)
    elif write.kind == "transition":
        await client.transition(write.issue_id, write.body, edit_id=edit_id)
    elif write.kind == "assign":
        await client.assign(write.issue_id, str(write.body["accountId"]), edit_id=edit_id)
    elif write.kind == "move_to_sprint":
        await client.move_to_sprint(write.body["sprint_id"], [write.issue_id], edit_id=edit_id)
    else:
        await client.move_to_backlog([write.issue_id], edit_id=edit_id)


class _Run:
    """The state of one ``apply_edit`` call; every state change is stored in the ledger."""

    def __init__(
        self, edit: EditRequested, ledger: EditLedger, record: LedgerRecord | None
    ) -> None:
        self.edit = edit
        self.ledger = ledger
        self.state = record.state if record else EditState.RECEIVED
        self.attempt = record.attempt if record else 0

    def result(
        self,
        outcome: WritebackOutcome,
        *,
        reason: str | None = None,
        jira_value: Any = None,
        edit_value: Any = None,
    ) -> WritebackResult:
        return WritebackResult(
            edit_id=self.edit.edit_id,
            space_id=self.edit.space_id,
            node_id=self.edit.node_id,
            field=self.edit.field,
            outcome=outcome,
            reason=reason,
            jira_value=jira_value,
            edit_value=edit_value,
            attempt=max(self.attempt, 1),
        )

    async def move(self, new: EditState, result: WritebackResult | None = None) -> None:
        self.state = transition(self.state, new)
        record = LedgerRecord(self.edit.edit_id, self.state, self.attempt, result)
        await self.ledger.put(self.edit.edit_id, record)
        log.debug(
            "edit state edit_id=%s state=%s attempt=%d", self.edit.edit_id, new.value, self.attempt
        )

    async def finish(self, new: EditState, result: WritebackResult) -> AppliedEdit:
        await self.move(new, result)
        log.info(
            "write-back finished edit_id=%s node_id=%s field=%s outcome=%s attempt=%d reason=%s",
            self.edit.edit_id,
            self.edit.node_id,
            self.edit.field,
            result.outcome,
            result.attempt,
            result.reason,
        )
        return AppliedEdit(result)


async def apply_edit(
    edit: EditRequested,
    *,
    client: JiraClient,
    lookup: EditLookup,
    ledger: EditLedger,
    config: WritebackConfig,
    sink: WritebackSink | None = None,
    policy: RetryPolicy | None = None,
    priorities: list[dict[str, Any]] | None = None,
    codec: MarkdownCodec | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    now_ms: Callable[[], int] = _wall_clock_ms,
    priority_cache: PriorityCache = DEFAULT_PRIORITY_CACHE,
) -> AppliedEdit:
    """Apply ``edit`` to Jira and return its final :class:`WritebackResult`.

    Steps: return the stored result of a finished edit, then resolve the node's
    issue. Each attempt then reads the issue, plans, publishes the
    :class:`WritePending` echo marker through ``sink``, and sends. Jira's 400
    rejects the edit with Jira's message. Retriable failures (429, 5xx, 409,
    timeouts) publish a ``retrying`` result and try again after the ``policy``
    back-off, until it gives up.
    ``client`` should carry the ``writeback`` budget priority. Without
    ``priorities``, a Priority edit reads the site's list through ``priority_cache``.
    """
    policy = policy or RetryPolicy(max_attempts=5, max_elapsed_s=300.0)
    record = await ledger.get(edit.edit_id)
    if record is not None and record.state.terminal and record.result is not None:
        log.info(
            "edit already finished, not sent again edit_id=%s state=%s",
            edit.edit_id,
            record.state.value,
        )
        return AppliedEdit(record.result)

    run = _Run(edit, ledger, record)
    if run.state in (EditState.SENT, EditState.PENDING):
        # A crash interrupted this edit. Re-reading the issue below confirms a
        # write that reached Jira, because the planner then finds the value applied.
        log.warning("resuming interrupted edit edit_id=%s state=%s", edit.edit_id, run.state.value)
        if run.state is EditState.SENT:
            await run.move(EditState.RETRYING)

    target = await lookup.target(edit)
    if target is None:
        reason = f"node {edit.node_id!r} is not an imported Jira issue, so it has no Jira copy"
        return await run.finish(EditState.REJECTED, run.result("rejected", reason=reason))

    started = clock()
    last_pending: WritePending | None = None
    while True:
        run.attempt += 1
        try:
            applied = await _attempt(
                edit, run, target, client, config, sink, priorities, priority_cache, codec, now_ms
            )
        except JiraBadRequest as exc:
            reason = f"Jira rejected the edit: {exc.jira_message or 'no reason given'}"
            return await run.finish(EditState.REJECTED, run.result("rejected", reason=reason))
        except JiraNotFound:
            reason = (
                f"issue {target.issue_id} on cloud_id={target.cloud_id} no longer exists in "
                "Jira, or the connected account cannot see it"
            )
            return await run.finish(EditState.REJECTED, run.result("rejected", reason=reason))
        except JiraError as exc:
            if not exc.retriable:
                return await run.finish(EditState.FAILED, _failed(run, exc))

            delay = policy.next_delay(
                failures=run.attempt,
                elapsed_s=clock() - started,
                retry_after_s=getattr(exc, "retry_after_s", None),
            )
            if delay is None:
                return await run.finish(EditState.FAILED, _failed(run, exc))

            retrying = run.result("retrying", reason=_describe(exc))
            await run.move(EditState.RETRYING, retrying)
            log.warning(
                "write-back attempt failed, retrying in %.1fs edit_id=%s issue_id=%s "
                "cloud_id=%s attempt=%d error=%s",
                delay,
                edit.edit_id,
                target.issue_id,
                target.cloud_id,
                run.attempt,
                type(exc).__name__,
            )
            if sink is not None:
                await sink.retrying(retrying)
            # After a 429 the client has already paused the site budget for the
            # same Retry-After. The pause and this sleep start together, so the
            # next attempt's budget slot is free when the sleep ends.
            await sleep(delay)
            continue

        if isinstance(applied, AppliedEdit):
            last_pending = applied.pending or last_pending
            return AppliedEdit(applied.result, last_pending)


def _describe(exc: JiraError) -> str:
    if isinstance(exc, JiraHTTPError):
        return f"Jira returned {exc.status}: {exc.jira_message or 'no details'}"
    return str(exc)


def _failed(run: _Run, exc: JiraError) -> WritebackResult:
    reason = f"gave up after {run.attempt} attempts: {_describe(exc)}"
    return run.result("failed", reason=reason)


async def _attempt(
    edit: EditRequested,
    run: _Run,
    target: EditTarget,
    client: JiraClient,
    config: WritebackConfig,
    sink: WritebackSink | None,
    priorities: list[dict[str, Any]] | None,
    priority_cache: PriorityCache,
    codec: MarkdownCodec | None,
    now_ms: Callable[[], int],
) -> AppliedEdit:
    issue = await client.get_issue(target.issue_id, fields=fields_to_read(edit, config))
    transitions = await client.transitions(target.issue_id) if edit.field == "Status" else []
    cached = False
    if edit.field == "Priority" and priorities is None:
        priorities = priority_cache.get(target.cloud_id)
        cached = priorities is not None
        if priorities is None:
            priorities = await client.priorities()
            priority_cache.put(target.cloud_id, priorities)

    def plan(priority_list: list[dict[str, Any]] | None) -> PlanOutcome:
        return plan_edit(
            edit,
            issue=issue,
            node=target.node,
            members=target.members,
            issue_ids=target.issue_ids,
            sprint_ids=target.sprint_ids,
            config=config,
            transitions=transitions,
            priorities=priority_list or [],
            codec=codec,
        )

    outcome = plan(priorities)
    if cached and isinstance(outcome, Rejection):
        # The priority may have been added in Jira after the list was cached.
        log.info("priority not in the cached list, reading it again edit_id=%s cloud_id=%s",
                 edit.edit_id, target.cloud_id)
        priorities = await client.priorities()
        priority_cache.put(target.cloud_id, priorities)
        outcome = plan(priorities)

    if isinstance(outcome, AlreadyApplied):
        result = run.result("applied", jira_value=outcome.jira_value)
        return await run.finish(EditState.CONFIRMED, result)
    if isinstance(outcome, Conflict):
        reason = (f"Jira has {outcome.jira_value!r}, not {edit.base!r}, the value the edit "
                  "was made on; Jira changed the field since")
        if edit.base is None:
            # A missing base reads as "the field was empty", which is rarely what was meant.
            reason += ("; the edit carried no base, which means the field was empty: send "
                       "the value the user saw in base")
        result = run.result(
            "conflict",
            reason=reason,
            jira_value=outcome.jira_value,
            edit_value=outcome.edit_value,
        )
        return await run.finish(EditState.CONFLICT, result)
    if isinstance(outcome, Rejection):
        return await run.finish(EditState.REJECTED, run.result("rejected", reason=outcome.reason))

    return await _send_plan(edit, run, target, client, outcome, sink, now_ms)


async def _send_plan(
    edit: EditRequested,
    run: _Run,
    target: EditTarget,
    client: JiraClient,
    plan: Plan,
    sink: WritebackSink | None,
    now_ms: Callable[[], int],
) -> AppliedEdit:
    if run.state is not EditState.PENDING:
        await run.move(EditState.PENDING)

    # The fold must know about the write before its webhook can arrive, or it
    # would take the echo for a change made in Jira.
    pending = WritePending(
        space_id=edit.space_id,
        cloud_id=target.cloud_id,
        issue_id=target.issue_id,
        edit_id=edit.edit_id,
        fields=plan.pending_fields,
        observed_at_ms=now_ms(),
    )
    if sink is not None:
        await sink.pending(pending)

    await run.move(EditState.SENT)
    for write in plan.writes:
        await send_write(client, write, edit_id=edit.edit_id)

    result = run.result("applied", jira_value=plan.jira_value)
    applied = await run.finish(EditState.CONFIRMED, result)
    return AppliedEdit(applied.result, pending)
