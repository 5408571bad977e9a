"""Fixtures shared by every test: a real Kafka broker, uuid-named topics, Jira samples.

The broker comes from the first of these that is available:

1. ``KAFKA_BOOTSTRAP_SERVERS``, when set: a broker someone already runs;
2. a Docker container of ``apache/kafka:4.1.1``, when a Docker engine responds;
3. the local broker of :mod:`streams.localkafka` on a free port in a temporary
   data directory, stopped when the session ends (needs Java 17+ and Maven).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams import localkafka

log = logging.getLogger(__name__)

KAFKA_IMAGE = "apache/kafka:4.1.1"
SAMPLES_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "jira-samples"

NewTopicFactory = Callable[..., Awaitable[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that requests the broker needs Kafka, whether or not it is marked.
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        completed = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, check=False, timeout=5,
        )
    except subprocess.TimeoutExpired:
        return False
    return completed.returncode == 0


def _kafka_container() -> Iterator[str]:
    # testcontainers' KafkaContainer drives the Confluent image's start scripts,
    # which apache/kafka lacks, so the container is configured here instead.
    # Imported here so that sessions without Docker never load the Docker SDK.
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = localkafka.free_port()
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                  "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    container.start()
    try:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        bootstrap = f"127.0.0.1:{port}"
        asyncio.run(localkafka.wait_ready(bootstrap, 60.0))
        yield bootstrap
    finally:
        container.stop()


def _local_broker(data_dir: Path) -> Iterator[str]:
    started = localkafka.start(
        localkafka.free_port(), data_dir=data_dir, controller_port=localkafka.free_port()
    )
    print(f"\nlocal Kafka {started.version} on {started.bootstrap} started in "
          f"{started.startup_seconds:.1f} s")
    try:
        yield started.bootstrap
    finally:
        localkafka.stop(data_dir)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Return ``host:port`` of a running Kafka 4.1 broker for the whole session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
    elif _docker_answers():
        yield from _kafka_container()
    else:
        yield from _local_broker(tmp_path_factory.mktemp("kafka"))


@pytest.fixture
async def new_topic(kafka_bootstrap: str) -> AsyncIterator[NewTopicFactory]:
    """Return a factory of uuid-named topics; every topic it made is deleted afterwards."""
    created: list[str] = []
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()

    async def make(
        partitions: int = 1, configs: dict[str, str] | None = None, prefix: str = "test"
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex}"
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
        created.append(name)
        return name

    try:
        yield make
    finally:
        if created:
            await admin.delete_topics(created)
        await admin.close()


@pytest.fixture
def topic_prefix() -> str:
    """Return a unique prefix for a test's copy of the contract topics."""
    return f"t{uuid.uuid4().hex[:12]}."


@pytest.fixture
def jira_samples() -> Path:
    """Return the folder of captured Jira payloads, or skip when it is absent."""
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"Jira samples folder {SAMPLES_DIR.resolve()} is absent")
    return SAMPLES_DIR.resolve()
