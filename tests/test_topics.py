"""Topic admin: creating the contract topics, reporting drift and fixing it on a real broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams import topics
from streams.admin import (
    Drift,
    Report,
    TopicAdminError,
    delete_topics,
    ensure_topics,
    require_topics,
)
from streams.topics import TopicNames, TopicSpec

# Topic config changes reach the broker's metadata cache a moment after the
# controller accepts them, so drift checks poll for a bounded time.
POLL_ATTEMPTS = 50
POLL_INTERVAL = 0.2


def test_report_nothing_to_change() -> None:
    report = Report(unchanged=("a", "b"))

    assert report.describe() == "nothing to change: 2 topics match the spec"
    assert not report.changed


def test_report_lists_drift() -> None:
    drift = Drift("jira.events", "retention.ms", "-1", "1000")
    report = Report(drift=(drift,))

    text = report.describe()

    assert "drift jira.events: retention.ms is '1000', the spec says '-1'" in text
    assert "--fix-drift" in text


def test_report_unfixable_partitions() -> None:
    drift = Drift("jira.events", "partitions", "6", "8", fixable=False)

    assert "cannot reduce a partition count" in drift.describe()


@pytest.fixture
async def contract(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[list[TopicSpec]]:
    specs = list(TopicNames(topic_prefix).specs()[:3])
    yield specs
    await delete_topics(kafka_bootstrap, [spec.name for spec in specs])


async def _until(bootstrap: str, specs: list[TopicSpec], predicate: object) -> Report:
    assert callable(predicate)
    report = await ensure_topics(bootstrap, specs)
    for _ in range(POLL_ATTEMPTS):
        if predicate(report):
            return report
        await asyncio.sleep(POLL_INTERVAL)
        report = await ensure_topics(bootstrap, specs)
    return report


@pytest.mark.kafka
async def test_ensure_creates_missing(kafka_bootstrap: str, contract: list[TopicSpec]) -> None:
    report = await ensure_topics(kafka_bootstrap, contract)

    assert report.created == tuple(spec.name for spec in contract)
    assert report.changed


@pytest.mark.kafka
async def test_ensure_twice_no_change(kafka_bootstrap: str, contract: list[TopicSpec]) -> None:
    await ensure_topics(kafka_bootstrap, contract)

    second = await ensure_topics(kafka_bootstrap, contract)

    assert second.created == ()
    assert second.drift == ()
    assert not second.changed
    assert second.describe() == "nothing to change: 3 topics match the spec"


@pytest.mark.kafka
async def test_created_with_spec(kafka_bootstrap: str, contract: list[TopicSpec]) -> None:
    await ensure_topics(kafka_bootstrap, contract)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([contract[0].name])
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, contract[0].name)]
        )
    finally:
        await admin.close()
    entries = responses[0].to_object()["resources"][0]["config_entries"]
    configs = {entry["config_names"]: entry["config_value"] for entry in entries}

    assert len(described[0]["partitions"]) == topics.PARTITIONS
    assert configs["retention.ms"] == "-1"
    assert configs["cleanup.policy"] == "delete"


@pytest.mark.kafka
async def test_config_drift_reported(kafka_bootstrap: str, contract: list[TopicSpec]) -> None:
    await ensure_topics(kafka_bootstrap, contract)
    target = contract[0].name
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, target, {"retention.ms": "1000"})]
        )
    finally:
        await admin.close()

    report = await _until(kafka_bootstrap, contract, lambda r: bool(r.drift))

    assert Drift(target, "retention.ms", "-1", "1000") in report.drift
    assert "--fix-drift" in report.describe()
    assert report.created == ()


@pytest.mark.kafka
async def test_partition_drift_fixed(kafka_bootstrap: str, contract: list[TopicSpec]) -> None:
    target = contract[1]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(target.name, 2, 1, topic_configs=dict(target.configs))]
        )
    finally:
        await admin.close()

    first = await ensure_topics(kafka_bootstrap, contract)
    fixed = await ensure_topics(kafka_bootstrap, contract, fix_drift=True)
    settled = await _until(kafka_bootstrap, contract, lambda r: not r.drift)

    assert Drift(target.name, "partitions", str(topics.PARTITIONS), "2") in first.drift
    assert Drift(target.name, "partitions", str(topics.PARTITIONS), "2") in fixed.fixed
    assert settled.describe() == "nothing to change: 3 topics match the spec"


@pytest.mark.kafka
async def test_drift_left_unless_asked(kafka_bootstrap: str, contract: list[TopicSpec]) -> None:
    target = contract[1]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(target.name, 2, 1, topic_configs=dict(target.configs))]
        )
    finally:
        await admin.close()

    await ensure_topics(kafka_bootstrap, contract)
    again = await ensure_topics(kafka_bootstrap, contract)

    assert Drift(target.name, "partitions", str(topics.PARTITIONS), "2") in again.drift
    assert again.fixed == ()


@pytest.mark.kafka
async def test_require_names_missing(kafka_bootstrap: str, contract: list[TopicSpec]) -> None:
    present, absent = contract[0], contract[1]
    await ensure_topics(kafka_bootstrap, [present])

    with pytest.raises(TopicAdminError) as caught:
        await require_topics(kafka_bootstrap, [present.name, absent.name])

    assert absent.name in str(caught.value)
    assert present.name not in str(caught.value)
    assert "naumu-jira topics ensure" in str(caught.value)


@pytest.mark.kafka
async def test_require_passes_when_present(kafka_bootstrap: str,
                                           contract: list[TopicSpec]) -> None:
    await ensure_topics(kafka_bootstrap, contract[:2])

    await require_topics(kafka_bootstrap, [spec.name for spec in contract[:2]])
