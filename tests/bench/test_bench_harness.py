"""Smoke tests of the benchmark harness on tiny inputs; no test asserts on time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from bench.consume import decode_consume, fold_and_project, raw_consume
from bench.inputs import issue_inputs, issue_payloads, issue_site, webhook_bodies
from bench.load import Deliveries, closed_loop, open_loop, percentile
from bench.report import Machine, Measurement, Report, Target, absolute_row, ratio_row
from bench.servers import bare_app
from jira_sandbox.generator import generate_issue_payloads
from streams import codec


def test_inputs_match_generator() -> None:
    site = issue_site(3, 20)

    assert list(issue_payloads(site)) == generate_issue_payloads(3, 20)


def test_inputs_fold_to_issue_changed() -> None:
    inputs = list(issue_inputs(issue_site(3, 5)))
    types = {codec.decode(record.value).type for item in inputs for record in item.events}

    assert len(inputs) == 5
    assert types == {"jira.issue.changed"}


def _edits(bodies: list[bytes]) -> list[tuple[str, list[str]]]:
    # Timestamps follow the sandbox's clock, so only what changed is compared.
    payloads = [orjson.loads(body) for body in bodies]
    return [(p["issue"]["id"], [item["field"] for item in p["changelog"]["items"]])
            for p in payloads]


def test_webhook_bodies_same_edits() -> None:
    first = webhook_bodies(2, 12, issues=30)
    second = webhook_bodies(2, 12, issues=30)

    assert _edits(first) == _edits(second)
    assert {orjson.loads(body)["webhookEvent"] for body in first} == {"jira:issue_updated"}


def test_pure_fold_counts_records() -> None:
    records = [item.observed.value for item in issue_inputs(issue_site(4, 6))]

    assert fold_and_project(records).records == 6


def test_ratio_row_judges_target() -> None:
    project = Measurement("project", "events/s", (40.0, 50.0, 60.0))
    baseline = Measurement("baseline", "events/s", (100.0, 100.0, 100.0))

    row = ratio_row("G1", "replay", project, baseline, Target("at_least", 0.5))

    assert row.ratio == 0.5
    assert row.verdict == "pass"


def test_absolute_row_reports_miss() -> None:
    memory = Measurement("rss", "MiB", (700.0,))

    assert absolute_row("G6", "memory", memory, Target("at_most", 600.0)).verdict == "miss"


def test_report_table_and_json(tmp_path: Path) -> None:
    report = Report(Machine(2, "3.11", "4.1.1", "Linux"), "python -m bench --quick", 10, 3)
    report.add(absolute_row("G6", "memory", Measurement("rss", "MiB", (1.0,)), None))
    path = tmp_path / "result.json"

    report.write_json(path)

    assert "| G6 | memory | 1 MiB |" in report.table()
    assert json.loads(path.read_text())["rows"][0]["goal"] == "G6"


def test_percentile_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]

    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0


async def test_load_against_bare_server() -> None:
    import uvicorn

    from bench.children import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(bare_app(), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    # uvicorn exposes `started` as a flag, with no event to wait on.
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    try:
        deliveries = Deliveries(port, "/webhooks/jira/space", [b'{"a": 1}'], "token")
        sent = await open_loop(deliveries, port, rate=200.0, count=10)
        succeeded, _ = await closed_loop(deliveries, port, concurrency=2, count=6)
    finally:
        server.should_exit = True
        await serving

    assert {item.status for item in sent} == {204}
    assert succeeded == 6


async def test_consumers_read_topic(
    kafka_bootstrap: str, new_topic: Callable[..., Awaitable[str]]
) -> None:
    from bench.broker import produce

    topic = await new_topic()
    records = [record for item in issue_inputs(issue_site(5, 4)) for record in item.events]
    await produce(kafka_bootstrap, topic, records)

    assert (await raw_consume(kafka_bootstrap, topic, len(records))).records == len(records)
    assert (await decode_consume(kafka_bootstrap, topic, len(records))).records == len(records)
