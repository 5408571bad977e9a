"""Invalid values read by the command line itself end it with exit code 1 and one line."""

from __future__ import annotations

import pytest

from service.cli import main


@pytest.mark.parametrize(("name", "value", "fix"), [
    ("LOG_LEVEL", "VERBOSE", "use DEBUG, INFO, WARNING or ERROR"),
    ("LOG_FORMAT", "xml", "use text or json"),
])
def test_log_setting_invalid(name: str, value: str, fix: str, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(name, value)

    code = main(["kafka", "status"])

    error = capsys.readouterr().err
    assert code == 1
    assert value in error
    assert fix in error


def test_ingress_port_invalid(monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INGRESS_PORT", "abc")

    code = main(["ingress"])

    error = capsys.readouterr().err
    assert code == 1
    assert "INGRESS_PORT='abc' is invalid" in error

