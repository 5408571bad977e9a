from __future__ import annotations

import asyncio
import collections
import signal
import sys
from pathlib import Path

import pytest
from import_runner import build_site_world
from ingest_support import read_topic

from streams.topics import TopicNames

RUNNER = Path(__file__).with_name("import_runner.py")
ROOT = Path(__file__).resolve().parents[2]
SEED = 3


async def _run_import(
    bootstrap: str, names: TopicNames, issues: int, *, kill_after_pages: int | None = None
) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(RUNNER), bootstrap, names.prefix, "space-imp", str(SEED), str(issues),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{RUNNER.parent}"},
    )
    assert process.stdout is not None
    pages = 0
    output: list[str] = []
    async for raw in process.stdout:
        line = raw.decode()
        output.append(line)
        if "import page committed" in line:
            pages += 1
            if kill_after_pages is not None and pages >= kill_after_pages:
                process.send_signal(signal.SIGKILL)
                break
    await process.wait()
    return "".join(output)


async def _observed(bootstrap: str, names: TopicNames) -> list[tuple[str, str]]:
    inbound = await read_topic(bootstrap, names.inbound)
    return [
        (e.data["issue"]["id"], e.data["issue"]["fields"]["updated"])
        for _, e in inbound
        if e.type == "jira.issue.observed"
    ]


def _truth(issues: int) -> set[str]:
    site = next(iter(build_site_world(SEED, issues).sites.values()))
    return {str(issue.id) for issue in site.live_issues()}


@pytest.mark.slow
async def test_import_each_version_once(kafka_bootstrap: str, topic_names: TopicNames) -> None:
    output = await _run_import(kafka_bootstrap, topic_names, 5000)

    observed = await _observed(kafka_bootstrap, topic_names)
    repeated = [item for item, n in collections.Counter(observed).items() if n > 1]
    assert "finished phase=done issues=5000" in output
    assert repeated == []
    assert {issue_id for issue_id, _ in observed} == _truth(5000)


@pytest.mark.slow
async def test_import_killed_resumes_exactly(
    kafka_bootstrap: str, topic_names: TopicNames
) -> None:
    killed = await _run_import(kafka_bootstrap, topic_names, 2000, kill_after_pages=15)
    halfway = await _observed(kafka_bootstrap, topic_names)
    resumed = await _run_import(kafka_bootstrap, topic_names, 2000)

    observed = await _observed(kafka_bootstrap, topic_names)
    repeated = [item for item, n in collections.Counter(observed).items() if n > 1]
    assert "finished" not in killed
    assert 0 < len(halfway) < 2000
    assert "finished phase=done" in resumed
    assert repeated == []
    assert {issue_id for issue_id, _ in observed} == _truth(2000)


@pytest.mark.slow
async def test_import_completion_posted(kafka_bootstrap: str, topic_names: TopicNames) -> None:
    await _run_import(kafka_bootstrap, topic_names, 120)

    threads = await read_topic(kafka_bootstrap, topic_names.threads)
    kinds = [e.data["kind"] for _, e in threads]
    assert kinds[-1] == "completed"
    assert threads[-1][1].data["counts"]["issues"] == 120
