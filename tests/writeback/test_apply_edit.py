from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jiraclient.client import EDIT_ID_HEADER, JiraClient
from jiraclient.retry import RetryPolicy
from streams.contract import EditRequested, WritebackResult, WritePending
from writeback.executor import (
    EditTarget,
    InMemoryLedger,
    LedgerRecord,
    apply_edit,
)
from writeback.plan import WritebackConfig
from writeback.state import EditState

PREFIX = "/ex/jira/cloud-1/rest/api/3"


class FakeJira:
    """One issue behind Jira's edit and transition endpoints, with scripted failures."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {
            "summary": "Old title",
            "status": {"id": "1", "name": "To Do"},
            "labels": ["backend"],
        }
        self.failures: list[Response] = []
        self.apply_before_failing = False
        self.writes: list[tuple[str, str | None]] = []
        self.events: list[str] = []
        self.app = Starlette(
            routes=[
                Route(PREFIX + "/issue/{issue_id}", self.issue, methods=["GET", "PUT"]),
                Route(
                    PREFIX + "/issue/{issue_id}/transitions",
                    self.transitions,
                    methods=["GET", "POST"],
                ),
            ]
        )

    def fail_next(self, *responses: Response) -> None:
        self.failures.extend(responses)

    async def issue(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"id": "10001", "key": "KAN-1", "fields": self.fields})
        body = await request.json()
        return self.write(request, lambda: self.fields.update(body.get("fields", {})))

    async def transitions(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(
                {
                    "transitions": [
                        {
                            "id": "31",
                            "name": "Finish",
                            "to": {"id": "3", "name": "Done"},
                            "fields": {},
                        }
                    ]
                }
            )
        return self.write(request, lambda: self.fields.update(status={"id": "3", "name": "Done"}))

    def write(self, request: Request, apply: Any) -> Response:
        self.events.append(f"{request.method} {request.url.path}")
        if self.failures:
            if self.apply_before_failing:
                apply()
            return self.failures.pop(0)
        apply()
        self.writes.append((request.url.path, request.headers.get(EDIT_ID_HEADER)))
        return Response(status_code=204)


class Lookup:
    def __init__(self, target: EditTarget | None) -> None:
        self._target = target

    async def target(self, edit: EditRequested) -> EditTarget | None:
        return self._target


class Sink:
    def __init__(self, jira: FakeJira) -> None:
        self.jira = jira
        self.pendings: list[WritePending] = []
        self.retries: list[WritebackResult] = []

    async def pending(self, observation: WritePending) -> None:
        self.jira.events.append("pending")
        self.pendings.append(observation)

    async def retrying(self, result: WritebackResult) -> None:
        self.retries.append(result)


class Harness:
    def __init__(self) -> None:
        self.jira = FakeJira()
        self.sink = Sink(self.jira)
        self.ledger = InMemoryLedger()
        self.sleeps: list[float] = []
        self.lookup = Lookup(EditTarget(cloud_id="cloud-1", issue_id="10001"))

        async def tokens(stale: str | None = None) -> str:
            return "token"

        async def no_sleep(seconds: float) -> None:
            return None

        self.client = JiraClient(
            "cloud-1",
            tokens=tokens,
            http=httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.jira.app), base_url="http://jira.test"
            ),
            api_url="http://jira.test",
            priority="writeback",
            retry_policy=RetryPolicy(max_attempts=1),
            sleep=no_sleep,
        )

    async def apply(
        self, edit: EditRequested, *, attempts: int = 4
    ) -> tuple[WritebackResult, WritePending | None]:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        applied = await apply_edit(
            edit,
            client=self.client,
            lookup=self.lookup,
            ledger=self.ledger,
            config=WritebackConfig(),
            sink=self.sink,
            policy=RetryPolicy(max_attempts=attempts, base_delay_s=1.0, max_delay_s=8.0),
            sleep=sleep,
            now_ms=lambda: 1_773_000_000_000,
        )
        return applied.result, applied.pending


def label_edit(
    value: str = "New title", base: str = "Old title", edit_id: str = "edit-1"
) -> EditRequested:
    return EditRequested(
        edit_id=edit_id,
        space_id="space-1",
        node_id="node-1",
        user_id="user-1",
        field="label",
        value=value,
        base=base,
    )


async def test_apply_label_is_applied() -> None:
    harness = Harness()
    result, pending = await harness.apply(label_edit())
    assert result.outcome == "applied"
    assert harness.jira.fields["summary"] == "New title"
    assert pending is not None
    assert pending.fields == {"summary": "New title"}


async def test_apply_publishes_pending_before_write() -> None:
    harness = Harness()
    await harness.apply(label_edit())
    assert harness.jira.events == ["pending", f"PUT {PREFIX}/issue/10001"]


async def test_apply_sends_edit_id_header() -> None:
    harness = Harness()
    await harness.apply(label_edit())
    assert harness.jira.writes == [(f"{PREFIX}/issue/10001", "edit-1")]


async def test_apply_bad_request_is_rejected() -> None:
    harness = Harness()
    harness.jira.fail_next(
        JSONResponse({"errorMessages": [], "errors": {"summary": "Summary is too long."}}, 400)
    )
    result, _ = await harness.apply(label_edit())
    assert result.outcome == "rejected"
    assert result.reason == "Jira rejected the edit: summary: Summary is too long."
    assert harness.ledger.records["edit-1"].state is EditState.REJECTED


async def test_apply_rate_limit_retries_after_delay() -> None:
    harness = Harness()
    harness.jira.fail_next(
        Response(
            "<html><body>Rate limited</body></html>",
            429,
            {"Retry-After": "3"},
            media_type="text/html",
        )
    )
    result, _ = await harness.apply(label_edit())
    assert result.outcome == "applied"
    assert harness.sleeps == [3.0]
    assert [r.outcome for r in harness.sink.retries] == ["retrying"]
    assert harness.sink.retries[0].reason == "Jira returned 429: Rate limited"


async def test_apply_server_errors_then_applied() -> None:
    harness = Harness()
    harness.jira.fail_next(Response(status_code=503), Response(status_code=502))
    result, _ = await harness.apply(label_edit())
    assert result.outcome == "applied"
    assert result.attempt == 3
    assert len(harness.jira.writes) == 1


async def test_apply_gives_up_as_failed() -> None:
    harness = Harness()
    harness.jira.fail_next(*[Response(status_code=503) for _ in range(5)])
    result, _ = await harness.apply(label_edit(), attempts=3)
    assert result.outcome == "failed"
    assert result.reason is not None
    assert result.reason.startswith("gave up after 3 attempts")
    assert harness.ledger.records["edit-1"].state is EditState.FAILED
    assert len(harness.sink.retries) == 2


async def test_apply_write_landed_before_error_once() -> None:
    harness = Harness()
    harness.jira.apply_before_failing = True
    harness.jira.fail_next(Response(status_code=504))
    result, _ = await harness.apply(label_edit())
    assert result.outcome == "applied"
    assert harness.jira.events.count(f"PUT {PREFIX}/issue/10001") == 1


async def test_apply_redelivery_sends_nothing() -> None:
    harness = Harness()
    first, _ = await harness.apply(label_edit())
    second, pending = await harness.apply(label_edit())
    assert second == first
    assert pending is None
    assert len(harness.jira.writes) == 1


async def test_apply_sent_before_crash_is_confirmed() -> None:
    harness = Harness()
    harness.jira.fields["summary"] = "New title"
    await harness.ledger.put("edit-1", LedgerRecord("edit-1", EditState.SENT, attempt=1))
    result, _ = await harness.apply(label_edit())
    assert result.outcome == "applied"
    assert harness.jira.writes == []
    assert harness.ledger.records["edit-1"].state is EditState.CONFIRMED


async def test_apply_sent_before_crash_resends() -> None:
    harness = Harness()
    await harness.ledger.put("edit-1", LedgerRecord("edit-1", EditState.SENT, attempt=1))
    result, _ = await harness.apply(label_edit())
    assert result.outcome == "applied"
    assert len(harness.jira.writes) == 1


async def test_apply_conflict_sends_nothing() -> None:
    harness = Harness()
    harness.jira.fields["summary"] = "Changed in Jira"
    result, _ = await harness.apply(label_edit())
    assert result.outcome == "conflict"
    assert result.jira_value == "Changed in Jira"
    assert result.edit_value == "New title"
    assert harness.jira.writes == []


async def test_apply_transition_conflict_retried() -> None:
    harness = Harness()
    harness.jira.fail_next(JSONResponse({"errorMessages": ["Concurrent update"]}, 409))
    edit = EditRequested(
        edit_id="edit-2",
        space_id="space-1",
        node_id="node-1",
        user_id="user-1",
        field="Status",
        value="Done",
        base="To Do",
    )
    result, _ = await harness.apply(edit)
    assert result.outcome == "applied"
    assert harness.jira.fields["status"]["name"] == "Done"


async def test_apply_unknown_node_rejected() -> None:
    harness = Harness()
    harness.lookup = Lookup(None)
    result, _ = await harness.apply(label_edit())
    assert result.outcome == "rejected"
    assert harness.jira.events == []
