"""``naumu-jira status`` and ``naumu-jira reconcile`` against loopback servers."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from service.cli import main
from service.status import (
    EXIT_TOPICS_MISSING,
    EXIT_WORKER_DOWN,
    reconcile_url,
    space_id_argument,
    status_exit_code,
    worker_status,
)
from streams import localkafka
from streams.topics import TopicNames

# Type of the `canned_http` fixture, which tests/service/conftest.py defines.
CannedServerFactory = Callable[..., Any]


def _closed_url() -> str:
    return f"http://127.0.0.1:{localkafka.free_port()}"


@pytest.mark.parametrize("value", ["", "   ", ".", ".."])
def test_space_id_rejects_invalid(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        space_id_argument(value)


def test_space_id_accepts_plain_id() -> None:
    assert space_id_argument("space-1") == "space-1"


def test_reconcile_url_encodes_space_id() -> None:
    url = reconcile_url("http://127.0.0.1:6066/", "../x?y#z")

    assert url == "http://127.0.0.1:6066/spaces/..%2Fx%3Fy%23z/jira/reconcile"


def test_reconcile_rejects_empty_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reconcile", "", "--worker-url", _closed_url()])

    assert exited.value.code == 2
    assert "the space id is empty" in capsys.readouterr().err


def test_reconcile_sends_encoded_path(canned_http: CannedServerFactory,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    server = canned_http(200, b'{"missing": 0}', "application/json")

    code = main(["reconcile", "../x?y#z", "--dry-run", "--worker-url", server.url])

    assert code == 0
    assert server.paths == ["/spaces/..%2Fx%3Fy%23z/jira/reconcile?dry_run=true"]
    assert json.loads(capsys.readouterr().out) == {"missing": 0}


def test_reconcile_reports_html_404(canned_http: CannedServerFactory,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    server = canned_http(404, b"<html>\n<body>Not Found</body>\n</html>\n")

    code = main(["reconcile", "space-1", "--worker-url", server.url])

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "responded with 404: <html> <body>Not Found</body> </html>" in err


def test_reconcile_reports_json_409(canned_http: CannedServerFactory,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    body = b'{"error": {"code": "reconcile_failed", "message": "no active connection"}}'
    server = canned_http(409, body, "application/json")

    code = main(["reconcile", "space-1", "--worker-url", server.url])

    err = capsys.readouterr().err
    assert code == 1
    assert "responded with 409" in err
    assert "reconcile_failed" in err


def test_reconcile_reports_non_json_200(canned_http: CannedServerFactory,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    server = canned_http(200, b"x" * 500, "text/plain")

    code = main(["reconcile", "space-1", "--worker-url", server.url])

    err = capsys.readouterr().err
    assert code == 1
    assert "responded with 200: " + "x" * 200 + "..." in err


def test_reconcile_reports_closed_port(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["reconcile", "space-1", "--worker-url", _closed_url()])

    err = capsys.readouterr().err
    assert code == 1
    assert "did not respond" in err
    assert err.count("\n") == 1


async def test_worker_status_names_404(canned_http: CannedServerFactory) -> None:
    server = canned_http(404, b"Not Found", "text/plain")

    body, error = await worker_status(server.url)

    assert body is None
    assert error is not None
    assert f"worker at {server.url}/status responded with 404" in error
    assert "is READ_API_URL the worker's HTTP endpoint?" in error


async def test_worker_status_rejects_json_list(canned_http: CannedServerFactory) -> None:
    server = canned_http(200, b"[]", "application/json")

    body, error = await worker_status(server.url)

    assert body is None
    assert error is not None
    assert "without a JSON object" in error


def test_exit_code_by_status() -> None:
    healthy: dict[str, Any] = {"missing_topics": [], "worker": {"connections": []}}
    worker_down: dict[str, Any] = {"missing_topics": [], "worker": None}
    topics_missing: dict[str, Any] = {"missing_topics": ["jira.events"], "worker": None}

    assert status_exit_code(healthy) == 0
    assert status_exit_code(worker_down) == EXIT_WORKER_DOWN
    assert status_exit_code(topics_missing) == EXIT_TOPICS_MISSING


@pytest.mark.parametrize("command", ["status", "reconcile"])
def test_help_gives_worker_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])

    assert "http://127.0.0.1:6066" in capsys.readouterr().out


def test_status_names_missing_topics(kafka_bootstrap: str, topic_prefix: str,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("TOPIC_PREFIX", topic_prefix)

    code = main(["status", "--worker-url", _closed_url()])

    out = capsys.readouterr().out
    assert code == EXIT_TOPICS_MISSING
    assert "missing contract topics: " in out
    assert TopicNames(topic_prefix).events in out
    assert "naumu-jira topics ensure" in out


async def test_status_reports_worker_404(contract_names: TopicNames, kafka_bootstrap: str,
                                         canned_http: CannedServerFactory,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    server = canned_http(404, b"Not Found", "text/plain")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("TOPIC_PREFIX", contract_names.prefix)

    # main() runs its own event loop, so it cannot run on the test's loop.
    code = await asyncio.to_thread(main, ["status", "--worker-url", server.url])

    out = capsys.readouterr().out
    assert code == EXIT_WORKER_DOWN
    assert "missing contract topics" not in out
    assert f"worker at {server.url}/status responded with 404" in out
