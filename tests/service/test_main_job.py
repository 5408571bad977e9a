"""The main job end to end: ``naumu-jira demo`` against the test broker.

Each test runs the demo as a user would, in its own working directory, and
reads the JSON summary from the last line of its output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow]

DEMO = [sys.executable, "-m", "service", "demo", "--json", "--exit"]


def _run_demo(cwd: Path, bootstrap: str, *extra: str, timeout: float = 600) -> dict[str, Any]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "LOG_LEVEL": "WARNING"}
    completed = subprocess.run(
        [*DEMO, *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    assert lines, f"demo printed nothing; stderr:\n{completed.stderr[-3000:]}"
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


@pytest.mark.timeout(600)
def test_demo_graph_matches_sandbox(kafka_bootstrap: str, tmp_path: Path) -> None:
    summary = _run_demo(tmp_path, kafka_bootstrap, "--issues", "400", "--live-changes", "10")

    assert summary["mismatches"] == 0, summary["mismatched_keys"]
    assert summary["issue_nodes"] == summary["issues_in_jira"]
    assert summary["issues_in_jira"] > 350
    assert summary["replay_hashes"][0] is not None
    assert summary["latency_ms"]["samples"] == summary["live_changes"]["made"]


@pytest.mark.timeout(600)
def test_demo_writes_every_field_back(kafka_bootstrap: str, tmp_path: Path) -> None:
    summary = _run_demo(tmp_path, kafka_bootstrap, "--issues", "300", "--live-changes", "0")
    writeback = summary["writeback"]

    assert set(writeback["fields"]) == {"label", "content", "Priority", "Labels", "Status",
                                        "assignee", "parent", "sprint"}
    for field, outcome in writeback["fields"].items():
        assert outcome["outcome"] == "applied", (field, outcome)
        assert outcome["jira_matches"] is True, field
        assert outcome["graph_matches"] is True, field
    assert set(writeback["writes_per_edit"].values()) == {1}
    assert writeback["writes_after_settling"] == 0
    assert writeback["graph_changed_after_settling"] is False
    assert summary["mismatches"] == 0
    assert summary["replay_hashes"][0] == summary["replay_hashes"][1]
    assert summary["replay_matches_live"] is True


@pytest.mark.timeout(900)
def test_demo_resumes_after_interrupt(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "LOG_LEVEL": "WARNING"}
    args = ["--issues", "1000", "--live-changes", "5"]
    first = subprocess.Popen([*DEMO, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)

    # Interrupt as a person would, with Ctrl-C, once the import is under way.
    deadline = time.monotonic() + 300
    assert first.stderr is not None
    seen = ""
    while time.monotonic() < deadline and "import [" not in seen:
        seen += first.stderr.read(64)
    assert "import [" in seen, seen[-2000:]
    time.sleep(1.0)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)

    summary = _run_demo(tmp_path, kafka_bootstrap, *args)

    assert summary["mismatches"] == 0, summary["mismatched_keys"]
    assert summary["issue_nodes"] == summary["issues_in_jira"]
    assert summary["replay_matches_live"] is True
