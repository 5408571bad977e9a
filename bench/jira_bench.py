"""G5 and G7 against the Jira sandbox served by uvicorn in a child process.

- B_page pages ``search/jql`` project by project with plain httpx, asking for the
  fields and expansion the importer asks for; G5 runs the importer
  (:class:`ingest.importer.Importer`) over the same site, publishing to Kafka.
- G7 applies label edits with :func:`writeback.executor.apply_edit` while
  recording every request it sends, then replays those requests with a plain httpx
  loop (the baseline), each summary PUT writing a new value as the edit did.
"""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.children import child, free_port
from bench.report import Measurement, Row, Target, ratio_row
from ingest.importer import ISSUE_FIELDS, Importer
from ingest.worker import import_transactional_id
from jiraclient.client import JiraClient
from streams.contract import EditRequested
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames
from writeback.executor import EditTarget, InMemoryLedger, apply_edit
from writeback.plan import WritebackConfig

log = logging.getLogger(__name__)

IMPORT_TARGET = Target("at_least", 0.5)
WRITEBACK_TARGET = Target("at_least", 0.8)
PAGE_SIZE = 100
SPACE_ID = "bench-space"


@dataclass(frozen=True)
class SandboxSite:
    base_url: str
    cloud_id: str
    project_ids: list[int]
    sprint_field_id: str

    @property
    def api(self) -> str:
        return f"{self.base_url}/ex/jira/{self.cloud_id}/rest/api/3"


async def _no_token(stale: str | None = None) -> str:
    # The sandbox runs with require_auth=False, so any bearer value passes.
    return "bench"


async def page_all(http: httpx.AsyncClient, site: SandboxSite) -> dict[str, str]:
    """B_page: walk every project's issues; return each issue's summary by id."""
    fields = [*ISSUE_FIELDS, site.sprint_field_id]
    summaries: dict[str, str] = {}
    for project_id in site.project_ids:
        token: str | None = None
        while True:
            body: dict[str, Any] = {"jql": f"project = {project_id} ORDER BY id ASC",
                                    "fields": fields, "expand": "changelog",
                                    "maxResults": PAGE_SIZE}
            if token is not None:
                body["nextPageToken"] = token
            response = await http.post(f"{site.api}/search/jql", json=body)
            response.raise_for_status()
            page = response.json()
            for issue in page["issues"]:
                summaries[str(issue["id"])] = issue["fields"]["summary"]
            token = page.get("nextPageToken")
            if page.get("isLast") or not token:
                break
    return summaries


async def page_seconds(http: httpx.AsyncClient, site: SandboxSite, pages: int = 5) -> float:
    """Return the median time of one ``search/jql`` page of 100 issues with every field."""
    times = []
    for _ in range(pages):
        started = time.perf_counter()
        response = await http.post(f"{site.api}/search/jql", json={
            "jql": f"project = {site.project_ids[0]} ORDER BY id ASC", "fields": ["*all"],
            "maxResults": PAGE_SIZE,
        })
        response.raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run_import(http: httpx.AsyncClient, site: SandboxSite, bootstrap: str,
                     names: TopicNames) -> int:
    """Run one import from scratch; return the number of issues it published."""
    space_id = f"{SPACE_ID}-{uuid.uuid4().hex[:8]}"
    producer = Producer(StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap}),
                        transactional_id=import_transactional_id(f"{names.prefix}{space_id}"))
    async with producer:
        client = JiraClient(site.cloud_id, tokens=_no_token, http=http, api_url=site.base_url)
        importer = Importer(space_id=space_id, cloud_id=site.cloud_id, client=client,
                            producer=producer, topics=names, page_size=PAGE_SIZE)
        result = await importer.run()
    if result.reason is not None:
        raise RuntimeError(f"the import ended {result.phase}: {result.reason}")
    return result.counts.get("issues", 0)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    url: str
    content: bytes
    headers: dict[str, str]


class _Lookup:
    def __init__(self, cloud_id: str) -> None:
        self._cloud_id = cloud_id

    async def target(self, edit: EditRequested) -> EditTarget:
        return EditTarget(cloud_id=self._cloud_id, issue_id=edit.node_id)


async def apply_edits(site: SandboxSite, summaries: dict[str, str], edits: int,
                      repetition: int) -> tuple[float, list[RecordedRequest]]:
    """Apply ``edits`` label edits; return the seconds taken and every request sent."""
    recorded: list[RecordedRequest] = []

    async def record(request: httpx.Request) -> None:
        keep = {name: request.headers[name] for name in ("content-type",)
                if name in request.headers}
        recorded.append(RecordedRequest(request.method, str(request.url), request.content, keep))

    issue_ids = sorted(summaries)[:edits]
    config = WritebackConfig(sprint_field_id=site.sprint_field_id)
    ledger = InMemoryLedger()
    lookup = _Lookup(site.cloud_id)
    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        client = JiraClient(site.cloud_id, tokens=_no_token, http=http, api_url=site.base_url,
                            priority="writeback")
        started = time.perf_counter()
        for issue_id in issue_ids:
            value = f"{summaries[issue_id].split(' [bench')[0]} [bench {repetition}]"
            edit = EditRequested(edit_id=str(uuid.uuid4()), space_id=SPACE_ID, node_id=issue_id,
                                 user_id="bench-user", field="label", value=value,
                                 base=summaries[issue_id])
            applied = await apply_edit(edit, client=client, lookup=lookup, ledger=ledger,
                                       config=config)
            if applied.result.outcome != "applied":
                raise RuntimeError(
                    f"edit of issue {issue_id} ended {applied.result.outcome}: "
                    f"{applied.result.reason}"
                )
            summaries[issue_id] = value
        seconds = time.perf_counter() - started
    return seconds, recorded


def _changed_again(request: RecordedRequest, summaries: dict[str, str]) -> RecordedRequest:
    """Return ``request`` with a summary PUT turned into one that changes the value again.

    Replayed as recorded, a PUT would set the value the issue already has, and Jira (and
    the sandbox) does less for a write that changes nothing: no history entry, no webhook.
    """
    if request.method != "PUT":
        return request
    body = orjson.loads(request.content)
    summary = (body.get("fields") or {}).get("summary")
    if not isinstance(summary, str):
        return request
    issue_id = httpx.URL(request.url).path.rstrip("/").rsplit("/", 1)[-1]
    changed = f"{summary} [bare]"
    summaries[issue_id] = changed
    body["fields"]["summary"] = changed
    return RecordedRequest(request.method, request.url, orjson.dumps(body), request.headers)


async def replay_requests(requests: list[RecordedRequest], summaries: dict[str, str]) -> float:
    """Send the same requests with a plain httpx loop: the G7 baseline.

    Each summary PUT writes a new value, as the edit it was recorded from did, and
    ``summaries`` is updated to the values written.
    """
    changing = [_changed_again(request, summaries) for request in requests]
    async with httpx.AsyncClient() as http:
        started = time.perf_counter()
        for request in changing:
            response = await http.request(request.method, request.url, content=request.content,
                                          headers={**request.headers,
                                                   "Authorization": "Bearer bench"})
            response.raise_for_status()
        return time.perf_counter() - started


@dataclass(frozen=True)
class JiraLoad:
    issues: int = 1000
    edits: int = 200


async def measure_jira(*, bootstrap: str, names: TopicNames, seed: int, load: JiraLoad,
                       repetitions: int, log_dir: Path
                       ) -> tuple[list[Row], list[Measurement], list[str]]:
    """Measure B_page, G5 and G7 on one sandbox; return rows, measurements and notes."""
    port = free_port()
    args = ["-m", "bench.servers", "sandbox", "--port", str(port), "--seed", str(seed),
            "--issues", str(load.issues)]
    async with child(args, log_dir / "sandbox.log") as sandbox:
        site = SandboxSite(f"http://127.0.0.1:{port}", sandbox.ready["cloud_id"],
                           sandbox.ready["project_ids"], sandbox.ready["sprint_field_id"])
        async with httpx.AsyncClient(headers={"Authorization": "Bearer bench"},
                                     timeout=60.0) as http:
            page_rates: list[float] = []
            import_rates: list[float] = []
            summaries: dict[str, str] = {}
            for repetition in range(repetitions + 1):
                started = time.perf_counter()
                summaries = await page_all(http, site)
                page_rate = len(summaries) / (time.perf_counter() - started)

                started = time.perf_counter()
                imported = await run_import(http, site, bootstrap, names)
                import_rate = imported / (time.perf_counter() - started)
                if repetition:
                    page_rates.append(page_rate)
                    import_rates.append(import_rate)
            page_time = await page_seconds(http, site)

        edit_rates: list[float] = []
        bare_rates: list[float] = []
        edits = min(load.edits, len(summaries))
        for repetition in range(repetitions + 1):
            seconds, requests = await apply_edits(site, summaries, edits, repetition)
            bare_seconds = await replay_requests(requests, summaries)
            if repetition:
                edit_rates.append(edits / seconds)
                bare_rates.append(edits / bare_seconds)

    b_page = Measurement("B_page", "issues/s", tuple(page_rates))
    importer = Measurement("importer", "issues/s", tuple(import_rates))
    bare = Measurement("bare httpx", "edits/s", tuple(bare_rates))
    writeback = Measurement("apply_edit", "edits/s", tuple(edit_rates))
    rows = [
        ratio_row("G5", f"import of {len(summaries):,} issues", importer, b_page,
                  IMPORT_TARGET),
        ratio_row("G7", f"write-back of {edits} label edits", writeback, bare,
                  WRITEBACK_TARGET),
    ]
    notes = [f"sandbox search/jql page of {PAGE_SIZE} issues with every field "
             f"(fields=*all): {page_time * 1000:.0f} ms (median of 5)"]
    return rows, [b_page, importer, bare, writeback], notes
