"""``naumu-jira replay`` failures: an unreachable broker, missing topics, bad --publish."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from service.cli import main
from service.replay import ReplayError, check_publish_topic, replay
from streams import localkafka
from streams.errors import CodecError
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames


def _settings(bootstrap: str, prefix: str) -> StreamsSettings:
    return StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                                     "TOPIC_PREFIX": prefix})


@pytest.mark.parametrize("topic", ["inbound", "events", "edits", "schema_values", "schemas"])
def test_publish_rejects_worker_input(topic: str) -> None:
    names = TopicNames("p.")

    with pytest.raises(ReplayError, match="is an input topic of the worker"):
        check_publish_topic(names, getattr(names, topic))


def test_publish_accepts_other_topic() -> None:
    check_publish_topic(TopicNames("p."), "p.rebuilt.graph")


async def test_replay_names_closed_broker(tmp_path: Path) -> None:
    bootstrap = f"127.0.0.1:{localkafka.free_port()}"
    state_dir = tmp_path / "replay"

    with pytest.raises(ReplayError, match=f"Kafka at {bootstrap} did not respond"):
        await replay(_settings(bootstrap, "p."), state_dir=state_dir)

    assert not state_dir.exists()


def test_cli_reports_closed_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{localkafka.free_port()}")
    monkeypatch.setenv("STATE_DIR", str(tmp_path))

    code = main(["replay"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "start the broker or set KAFKA_BOOTSTRAP_SERVERS" in err
    assert list(tmp_path.iterdir()) == []


async def test_replay_names_missing_events(kafka_bootstrap: str, topic_prefix: str,
                                           tmp_path: Path) -> None:
    state_dir = tmp_path / "replay"
    events = TopicNames(topic_prefix).events

    with pytest.raises(ReplayError, match="naumu-jira topics ensure") as raised:
        await replay(_settings(kafka_bootstrap, topic_prefix), state_dir=state_dir)

    assert repr(events) in str(raised.value)
    assert not state_dir.exists()


async def test_replay_names_missing_publish(kafka_bootstrap: str, contract_names: TopicNames,
                                            tmp_path: Path) -> None:
    state_dir = tmp_path / "replay"
    topic = f"{contract_names.prefix}rebuilt.graph"

    with pytest.raises(ReplayError, match="create it first") as raised:
        await replay(_settings(kafka_bootstrap, contract_names.prefix), state_dir=state_dir,
                     publish_topic=topic)

    assert repr(topic) in str(raised.value)
    assert not state_dir.exists()


async def test_replay_publishes_to_contract_topic(kafka_bootstrap: str,
                                                  contract_names: TopicNames,
                                                  tmp_path: Path) -> None:
    state_dir = tmp_path / "replay"

    result = await replay(_settings(kafka_bootstrap, contract_names.prefix),
                          state_dir=state_dir, publish_topic=contract_names.graph_changes)

    assert result.events == 0
    assert state_dir.is_dir()


async def test_replay_removes_unwritten_state(kafka_bootstrap: str, contract_names: TopicNames,
                                              tmp_path: Path) -> None:
    state_dir = tmp_path / "replay"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(contract_names.events, b"not json", key=b"site:1")
    finally:
        await producer.stop()

    with pytest.raises(CodecError):
        await replay(_settings(kafka_bootstrap, contract_names.prefix), state_dir=state_dir)

    assert not state_dir.exists()


def test_help_states_publish_rules(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])

    out = " ".join(capsys.readouterr().out.split())
    assert "must exist" in out
    assert "must not be one of the worker's input topics" in out
    assert "stays on disk" in out


def test_cli_rejects_worker_input(topic_prefix: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    edits = TopicNames(topic_prefix).edits
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{localkafka.free_port()}")
    monkeypatch.setenv("TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("STATE_DIR", str(tmp_path))

    code = main(["replay", "--publish", edits])

    err = capsys.readouterr().err
    assert code == 1
    assert f"--publish topic {edits!r} is an input topic" in err
    assert list(tmp_path.iterdir()) == []
