"""The local broker: configuration, prerequisites, ports, and a real start, status and stop."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import cli
from service.cli import EXIT_NOT_RUNNING, main
from streams import localkafka
from streams.localkafka import LocalKafkaError, PortInUseError


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_properties_single_node(tmp_path: Path) -> None:
    text = localkafka.server_properties(19500, 19501, tmp_path / "logs")
    settings = dict(line.split("=", 1) for line in text.splitlines())

    assert settings["process.roles"] == "broker,controller"
    assert settings["controller.quorum.voters"] == "1@127.0.0.1:19501"
    assert settings["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19500"
    assert settings["offsets.topic.replication.factor"] == "1"
    assert settings["transaction.state.log.replication.factor"] == "1"
    assert settings["transaction.state.log.min.isr"] == "1"
    assert settings["share.coordinator.state.topic.replication.factor"] == "1"
    assert settings["group.initial.rebalance.delay.ms"] == "0"
    assert settings["auto.create.topics.enable"] == "false"
    assert settings["log.dirs"] == str(tmp_path / "logs")


def test_port_in_use_named(listening_port: int, tmp_path: Path) -> None:
    with pytest.raises(PortInUseError, match=f"broker port {listening_port} .* already in use"):
        localkafka.start(listening_port, data_dir=tmp_path, controller_port=localkafka.free_port())


def test_controller_port_in_use(listening_port: int, tmp_path: Path) -> None:
    with pytest.raises(PortInUseError, match=f"controller port {listening_port}"):
        localkafka.start(localkafka.free_port(), data_dir=tmp_path, controller_port=listening_port)


def test_port_in_use_cli(listening_port: int, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["kafka", "start", "--port", str(listening_port), "--data-dir", str(tmp_path)])

    assert code == 1
    assert f"port {listening_port}" in capsys.readouterr().err


def test_missing_java_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(LocalKafkaError, match="apt-get install openjdk-17-jre-headless maven"):
        localkafka.java_major_version()


def test_missing_maven_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(LocalKafkaError, match="Maven is required"):
        localkafka.install(tmp_path / "cache")


def test_status_stopped_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["kafka", "status", "--data-dir", str(tmp_path)])

    assert code == EXIT_NOT_RUNNING
    assert capsys.readouterr().out.startswith("stopped")


def test_stale_pid_ignored(tmp_path: Path) -> None:
    (tmp_path / "broker.pid").write_text("999999999\n")

    assert not localkafka.status(tmp_path).running


@pytest.mark.slow
def test_start_status_stop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = localkafka.free_port()
    data_dir = tmp_path / "kafka"
    arguments = ["--port", str(port), "--controller-port", str(localkafka.free_port()),
                 "--data-dir", str(data_dir)]

    started = main(["kafka", "start", *arguments])
    start_output = capsys.readouterr().out
    try:
        running = main(["kafka", "status", *arguments])
        status_output = capsys.readouterr().out
        again = main(["kafka", "start", *arguments])
        again_error = capsys.readouterr().err
    finally:
        stopped = main(["kafka", "stop", *arguments])
    stop_output = capsys.readouterr().out
    after = main(["kafka", "status", *arguments])

    assert started == 0
    assert re.search(rf"ready on 127\.0\.0\.1:{port} \(pid \d+\) in \d+\.\d s", start_output)
    assert running == 0
    assert f"running: Kafka {localkafka.KAFKA_VERSION} on 127.0.0.1:{port}" in status_output
    assert again == 1
    assert "already runs" in again_error
    assert stopped == 0
    assert "stopped Kafka pid" in stop_output
    assert after == EXIT_NOT_RUNNING
    assert not (data_dir / "broker.pid").exists()


def test_kafka_survives_broken_module(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken_commands.py").write_text("import module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("broken_commands",))
    monkeypatch.setattr(cli, "COMMANDS", dict(cli.COMMANDS))

    status_code = main(["kafka", "status", "--data-dir", str(tmp_path)])
    broken_code = main(["broken_commands"])

    assert status_code == EXIT_NOT_RUNNING
    assert broken_code == 1
    assert "module_that_does_not_exist" in capsys.readouterr().err
