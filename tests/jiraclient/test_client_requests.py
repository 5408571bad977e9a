from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from jiraclient.budget import SiteBudget
from jiraclient.client import EDIT_ID_HEADER, JiraClient
from jiraclient.dates import format_jira_datetime, parse_jira_datetime
from jiraclient.errors import (
    JiraBadRequest,
    JiraConflict,
    JiraForbidden,
    JiraHTTPError,
    JiraInvalidResponse,
    JiraNotFound,
    JiraRateLimited,
    JiraServerError,
    JiraTransportError,
    JiraUnauthorized,
    PagingError,
    WebhookRegistrationError,
)
from jiraclient.retry import RetryPolicy

BASE = "/ex/jira/cloud-1/rest/api/3"
AGILE = "/ex/jira/cloud-1/rest/agile/1.0"

Handler = Callable[[httpx.Request], httpx.Response]


class Tokens:
    def __init__(self) -> None:
        self.calls: list[str | None] = []

    async def __call__(self, stale: str | None = None) -> str:
        self.calls.append(stale)
        return "token-2" if stale else "token-1"


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def make_client(
    handler: Handler,
    *,
    sleeps: list[float] | None = None,
    policy: RetryPolicy | None = None,
    budget: SiteBudget | None = None,
    tokens: Tokens | None = None,
) -> tuple[JiraClient, Recorder]:
    recorder = Recorder(handler)

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    client = JiraClient(
        "cloud-1",
        tokens=tokens or Tokens(),
        http=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
        api_url="https://api.example.test",
        budget=budget,
        retry_policy=policy or RetryPolicy(max_attempts=4),
        sleep=sleep,
        random_fraction=lambda: 0.5,
        wall_clock=lambda: datetime(2026, 3, 10, tzinfo=UTC),
        page_size=2,
    )
    return client, recorder


def sequence(*responses: httpx.Response) -> Handler:
    remaining = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return handler


# --- the seam ----------------------------------------------------------------------------

TRANSPORT_ERRORS: list[type[httpx.RequestError]] = [
    httpx.DecodingError,
    httpx.TooManyRedirects,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.PoolTimeout,
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.CloseError,
    httpx.RemoteProtocolError,
    httpx.LocalProtocolError,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
]


@pytest.mark.parametrize("error_class", TRANSPORT_ERRORS)
async def test_seam_maps_transport_errors(error_class: type[httpx.RequestError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error_class("broken", request=request)

    client, _ = make_client(handler, policy=RetryPolicy(max_attempts=1))
    with pytest.raises(JiraTransportError) as caught:
        await client.get_issue("10001")
    assert isinstance(caught.value.__cause__, error_class)


def test_seam_covers_every_transport_error() -> None:
    leaves = {
        cls
        for cls in vars(httpx).values()
        if isinstance(cls, type)
        and issubclass(cls, httpx.RequestError)
        and not cls.__subclasses__()
    }
    assert leaves <= set(TRANSPORT_ERRORS)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, JiraBadRequest),
        (401, JiraUnauthorized),
        (403, JiraForbidden),
        (404, JiraNotFound),
        (409, JiraConflict),
        (418, JiraHTTPError),
        (429, JiraRateLimited),
        (500, JiraServerError),
        (503, JiraServerError),
    ],
)
async def test_seam_maps_status(status: int, error_class: type[JiraHTTPError]) -> None:
    client, _ = make_client(
        lambda request: httpx.Response(status, json={"errorMessages": ["nope"]}),
        policy=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(error_class) as caught:
        await client.get_issue("10001")
    assert type(caught.value) is error_class


async def test_error_carries_jira_messages() -> None:
    body = {"errorMessages": [], "errors": {"labels": "Labels cannot contain spaces."}}
    client, _ = make_client(lambda request: httpx.Response(400, json=body))
    with pytest.raises(JiraBadRequest) as caught:
        await client.edit_issue("10001", {"update": {"labels": [{"add": "a b"}]}})
    assert caught.value.errors == {"labels": "Labels cannot contain spaces."}
    assert "Labels cannot contain spaces." in str(caught.value)
    assert caught.value.status == 400
    assert caught.value.method == "PUT"


async def test_error_previews_html_body() -> None:
    html = "<html><body><h1>Too Many Requests</h1></body></html>"
    client, _ = make_client(
        lambda request: httpx.Response(429, text=html, headers={"content-type": "text/html"}),
        policy=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(JiraRateLimited) as caught:
        await client.get_issue("10001")
    assert caught.value.body_preview == "Too Many Requests"


async def test_retry_honours_retry_after() -> None:
    sleeps: list[float] = []
    client, recorder = make_client(
        sequence(
            httpx.Response(429, text="<html>slow down</html>", headers={"Retry-After": "7"}),
            httpx.Response(200, json={"id": "10001"}),
        ),
        sleeps=sleeps,
    )
    assert (await client.get_issue("10001"))["id"] == "10001"
    assert sleeps == [7.0]
    assert len(recorder.requests) == 2


async def test_retry_backs_off_on_server_errors() -> None:
    sleeps: list[float] = []
    client, _ = make_client(
        sequence(
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, json={"id": "10001"}),
        ),
        sleeps=sleeps,
    )
    await client.get_issue("10001")
    assert sleeps == [0.25, 0.5]


async def test_retry_gives_up_after_attempts() -> None:
    client, recorder = make_client(lambda request: httpx.Response(503))
    with pytest.raises(JiraServerError):
        await client.get_issue("10001")
    assert len(recorder.requests) == 4


async def test_rate_limit_pauses_budget() -> None:
    budget = SiteBudget("cloud-1", rate_per_s=1000.0, burst=10)
    client, _ = make_client(
        lambda request: httpx.Response(
            429, headers={"Retry-After": "30", "RateLimit-Reason": "jira-burst-based"}
        ),
        policy=RetryPolicy(max_attempts=1),
        budget=budget,
    )
    with pytest.raises(JiraRateLimited):
        await client.get_issue("10001")
    assert budget.paused_for() > 29.0


async def test_unauthorized_refreshes_once() -> None:
    tokens = Tokens()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer token-1":
            return httpx.Response(401)
        return httpx.Response(200, json={"id": "10001"})

    client, _ = make_client(handler, tokens=tokens)
    await client.get_issue("10001")
    assert tokens.calls == [None, "token-1"]


async def test_unauthorized_twice_raises() -> None:
    client, recorder = make_client(lambda request: httpx.Response(401))
    with pytest.raises(JiraUnauthorized):
        await client.get_issue("10001")
    assert len(recorder.requests) == 2


async def test_writes_are_not_retried() -> None:
    client, recorder = make_client(lambda request: httpx.Response(503))
    with pytest.raises(JiraServerError):
        await client.edit_issue("10001", {"fields": {"summary": "x"}}, edit_id="edit-1")
    assert len(recorder.requests) == 1


async def test_get_issue_sends_query() -> None:
    client, recorder = make_client(lambda request: httpx.Response(200, json={"id": "10001"}))

    await client.get_issue("10001", fields=["summary", "updated"], expand=["changelog"])

    url = recorder.requests[0].url
    assert url.path == f"{BASE}/issue/10001"
    assert url.params["fields"] == "summary,updated"
    assert url.params["expand"] == "changelog"


async def test_get_issue_non_json_invalid() -> None:
    client, _ = make_client(lambda request: httpx.Response(200, content=b"<html>"))

    with pytest.raises(JiraInvalidResponse, match="not JSON"):
        await client.get_issue("10001")


async def test_get_issue_reads_unicode() -> None:
    body = json.dumps({"id": "10001", "fields": {"summary": "Réparer ✓"}}).encode()
    client, _ = make_client(lambda request: httpx.Response(200, content=body))

    issue = await client.get_issue("10001")

    assert issue["fields"]["summary"] == "Réparer ✓"


async def test_request_logs_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jiraclient.client")
    client, _ = make_client(lambda request: httpx.Response(200, json={"id": "10001"}))
    await client.get_issue("10001")
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith(
        "GET /issue/10001 status=200 cloud_id=cloud-1 edit_id=None duration_ms="
    )


async def test_request_logs_hold_no_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = make_client(lambda request: httpx.Response(401))
    with pytest.raises(JiraUnauthorized):
        await client.get_issue("10001")
    assert "token-" not in caplog.text


# --- search ------------------------------------------------------------------------------


def search_server(pages: dict[str | None, dict[str, Any]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(200, json=pages[body.get("nextPageToken")])

    return handler


async def test_search_walks_tokens() -> None:
    client, recorder = make_client(
        search_server(
            {
                None: {"issues": [{"id": "1"}], "nextPageToken": "t1", "isLast": False},
                "t1": {"issues": [{"id": "2"}], "nextPageToken": "t2", "isLast": False},
                "t2": {"issues": [{"id": "3"}], "isLast": True},
            }
        )
    )
    pages = [page async for page in client.search_jql("project = KAN", ["summary"])]
    assert [issue["id"] for page in pages for issue in page.issues] == ["1", "2", "3"]
    assert [page.page_token for page in pages] == [None, "t1", "t2"]
    assert json.loads(recorder.requests[0].content)["fields"] == ["summary"]


async def test_search_ends_on_missing_token() -> None:
    client, _ = make_client(search_server({None: {"issues": [{"id": "1"}], "isLast": False}}))
    pages = [page async for page in client.search_jql("project = KAN", ["id"])]
    assert pages[-1].is_last


async def test_search_repeated_token_raises() -> None:
    client, _ = make_client(
        search_server(
            {
                None: {"issues": [], "nextPageToken": "t1", "isLast": False},
                "t1": {"issues": [], "nextPageToken": "t1", "isLast": False},
            }
        )
    )
    with pytest.raises(PagingError, match="'t1' a second time"):
        async for _ in client.search_jql("project = KAN", ["id"]):
            pass


async def test_search_resumes_from_token() -> None:
    client, recorder = make_client(search_server({"t5": {"issues": [{"id": "9"}], "isLast": True}}))
    pages = [page async for page in client.search_jql("project = KAN", ["id"], page_token="t5")]
    assert pages[0].issues == [{"id": "9"}]
    assert json.loads(recorder.requests[0].content)["nextPageToken"] == "t5"


async def test_search_sends_expand_and_reconcile() -> None:
    client, recorder = make_client(search_server({None: {"issues": [], "isLast": True}}))
    async for _ in client.search_jql(
        "project = KAN", ["id"], expand=["names", "schema"], reconcile_issue_ids=["10001"]
    ):
        pass
    body = json.loads(recorder.requests[0].content)
    assert body["expand"] == "names,schema"
    assert body["reconcileIssues"] == [10001]


async def test_approximate_count_reads_count() -> None:
    client, _ = make_client(lambda request: httpx.Response(200, json={"count": 153}))
    assert await client.approximate_count("project = KAN") == 153


# --- paging and chunks -------------------------------------------------------------------


async def test_bulkfetch_chunks_by_hundred() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        wanted = json.loads(request.content)["issueIdsOrKeys"]
        # Unknown ids are left out silently, as Jira does.
        return httpx.Response(
            200, json={"issues": [{"id": i} for i in wanted if i != "7"], "issueErrors": []}
        )

    client, recorder = make_client(handler)
    issues = await client.bulkfetch(range(250), ["summary"])
    assert [len(json.loads(r.content)["issueIdsOrKeys"]) for r in recorder.requests] == [
        100,
        100,
        50,
    ]
    assert len(issues) == 249


async def test_changelog_reads_all_pages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startAt"])
        values = [{"id": str(i)} for i in range(start, min(start + 2, 5))]
        return httpx.Response(
            200,
            json={
                "startAt": start,
                "maxResults": 2,
                "total": 5,
                "isLast": start + 2 >= 5,
                "values": values,
            },
        )

    client, _ = make_client(handler)
    history = await client.changelog("10001")
    assert [item["id"] for item in history] == ["0", "1", "2", "3", "4"]


async def test_comments_stop_on_total() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startAt"])
        comments = [{"id": str(i)} for i in range(start, min(start + 2, 3))]
        return httpx.Response(200, json={"startAt": start, "total": 3, "comments": comments})

    client, recorder = make_client(handler)
    assert len(await client.comments("10001")) == 3
    assert len(recorder.requests) == 2


async def test_users_stop_on_empty_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startAt"])
        return httpx.Response(200, json=[{"accountId": f"a{start}"}] if start < 3 else [])

    client, _ = make_client(handler)
    assert len(await client.users()) == 3


async def test_sprints_use_agile_base() -> None:
    client, recorder = make_client(
        lambda request: httpx.Response(200, json={"values": [{"id": 1}], "isLast": True})
    )
    await client.sprints(84)
    assert recorder.requests[0].url.path == f"{AGILE}/board/84/sprint"


# --- writes ------------------------------------------------------------------------------


async def test_edit_sends_edit_id_header() -> None:
    client, recorder = make_client(lambda request: httpx.Response(204))
    await client.edit_issue("10001", {"fields": {"summary": "New"}}, edit_id="edit-1")
    assert recorder.requests[0].headers[EDIT_ID_HEADER] == "edit-1"


async def test_edit_without_id_sends_no_header() -> None:
    client, recorder = make_client(lambda request: httpx.Response(204))
    await client.edit_issue("10001", {"fields": {"summary": "New"}})
    assert EDIT_ID_HEADER not in recorder.requests[0].headers


async def test_move_to_sprint_chunks_by_fifty() -> None:
    client, recorder = make_client(lambda request: httpx.Response(204))
    await client.move_to_sprint(5, [str(i) for i in range(120)], edit_id="edit-1")
    assert [len(json.loads(r.content)["issues"]) for r in recorder.requests] == [50, 50, 20]


async def test_assign_sends_account_id() -> None:
    client, recorder = make_client(lambda request: httpx.Response(204))
    await client.assign("10001", "5b10ac8d82e05b22cc7d4ef5")
    assert json.loads(recorder.requests[0].content) == {"accountId": "5b10ac8d82e05b22cc7d4ef5"}


# --- webhooks ----------------------------------------------------------------------------


async def test_register_webhooks_returns_ids() -> None:
    body = {"webhookRegistrationResult": [{"createdWebhookId": 1000}, {"createdWebhookId": 1001}]}
    client, _ = make_client(lambda request: httpx.Response(200, json=body))
    ids = await client.register_webhooks(
        "https://naumu.test/hook", [{"events": ["jira:issue_created"]}] * 2
    )
    assert ids == [1000, 1001]


async def test_register_webhooks_partial_failure_raises() -> None:
    body = {
        "webhookRegistrationResult": [
            {"createdWebhookId": 1000},
            {"errors": ["The clause watchCount is unsupported"]},
        ]
    }
    client, _ = make_client(lambda request: httpx.Response(200, json=body))
    with pytest.raises(WebhookRegistrationError, match="watchCount") as caught:
        await client.register_webhooks("https://naumu.test/hook", [{}, {}])
    assert caught.value.created_ids == [1000]
    assert caught.value.failures == {1: ["The clause watchCount is unsupported"]}


@pytest.mark.parametrize("expiration", [1_773_100_800_000, "2026-03-10T00:00:00.000+0000"])
async def test_refresh_webhooks_reads_both_shapes(expiration: int | str) -> None:
    client, _ = make_client(
        lambda request: httpx.Response(200, json={"expirationDate": expiration})
    )
    when = await client.refresh_webhooks([1000])
    assert when.tzinfo is not None


async def test_delete_webhooks_sends_ids() -> None:
    client, recorder = make_client(lambda request: httpx.Response(202))
    await client.delete_webhooks([1000, "1001"])
    assert json.loads(recorder.requests[0].content) == {"webhookIds": [1000, 1001]}


# --- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2024-03-10T09:15:02.000+0900", "2024-03-10T09:15:02+0900", "2024-03-10T00:15:02Z"],
)
def test_dates_parse_jira_offsets(text: str) -> None:
    assert parse_jira_datetime(text) == datetime(2024, 3, 10, 0, 15, 2, tzinfo=UTC)


def test_dates_format_without_z() -> None:
    moment = datetime(2024, 3, 10, 0, 15, 2, 123456, tzinfo=UTC)
    assert format_jira_datetime(moment) == "2024-03-10T00:15:02.123+0000"
