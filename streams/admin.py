"""Create the contract's topics and report where a broker's topics differ from it.

:func:`ensure_topics` is idempotent: it creates missing topics with their
partitions and configs, and reports drift (a partition count or a config value
that differs from the spec) without changing it unless ``fix_drift`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from streams import topics
from streams.errors import BrokerError
from streams.topics import TopicSpec

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC_OR_PARTITION = 3


class TopicAdminError(BrokerError):
    """The broker rejected a topic creation, description or change."""


@dataclass(frozen=True)
class Drift:
    """One setting of an existing topic that differs from its spec."""

    topic: str
    setting: str
    expected: str
    actual: str
    fixable: bool = True

    def describe(self) -> str:
        line = f"{self.topic}: {self.setting} is {self.actual!r}, the spec says {self.expected!r}"
        if not self.fixable:
            line += " (Kafka cannot reduce a partition count; recreate the topic to change it)"
        return line


@dataclass(frozen=True)
class Report:
    """The outcome of one :func:`ensure_topics` run."""

    created: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    drift: tuple[Drift, ...] = ()
    fixed: tuple[Drift, ...] = ()

    @property
    def changed(self) -> bool:
        """True when the run created a topic or changed one."""
        return bool(self.created or self.fixed)

    def describe(self) -> str:
        """Return the report as lines of text, as ``naumu-jira topics ensure`` prints it."""
        lines = [f"created {name}" for name in self.created]
        lines += [f"fixed {drift.describe()}" for drift in self.fixed]
        lines += [f"drift {drift.describe()}" for drift in self.drift]
        if not self.created and not self.fixed and not self.drift:
            lines.append(f"nothing to change: {len(self.unchanged)} topics match the spec")
        elif self.drift:
            lines.append("run with --fix-drift to change the drifted settings that can be fixed")
        return "\n".join(lines)


async def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec] = topics.ALL,
    *,
    replication_factor: int = 1,
    fix_drift: bool = False,
    request_timeout_ms: int = 30_000,
) -> Report:
    """Create missing topics of ``specs`` and report (or fix) drift in existing ones.

    Steps:

    1. list the broker's topics and create the missing ones;
    2. describe the partitions and configs of the others and compare them with their spec;
    3. with ``fix_drift``, add partitions and set the differing configs.
    """
    specs_by_name = {spec.name: spec for spec in specs}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms)
    try:
        await admin.start()
        existing = set(await admin.list_topics())

        missing = [spec for name, spec in specs_by_name.items() if name not in existing]
        created, raced = await _create(admin, missing, replication_factor)
        await _wait_visible(admin, created + raced, request_timeout_ms / 1000)

        present = [spec for name, spec in specs_by_name.items() if name not in created]
        drift = await _find_drift(admin, present)

        fixed: list[Drift] = []
        if fix_drift:
            fixed = await _fix(admin, [item for item in drift if item.fixable], specs_by_name)
        remaining = tuple(item for item in drift if item not in fixed)
    except KafkaError as exc:
        raise TopicAdminError(
            f"managing topics on {bootstrap} failed: {exc!r}; check that the broker runs "
            "and that this client may create and describe topics"
        ) from exc
    finally:
        await admin.close()

    drifted = {item.topic for item in drift}
    unchanged = tuple(spec.name for spec in present if spec.name not in drifted)
    for item in remaining:
        log.warning("topic drift on %s: %s", bootstrap, item.describe())
    return Report(tuple(created), unchanged, remaining, tuple(fixed))


async def _create(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], replication_factor: int
) -> tuple[list[str], list[str]]:
    """Create ``specs`` and return the names created and those that already existed."""
    if not specs:
        return [], []

    requests = [
        NewTopic(spec.name, spec.partitions, replication_factor, topic_configs=dict(spec.configs))
        for spec in specs
    ]
    response = await admin.create_topics(requests)

    created: list[str] = []
    raced: list[str] = []
    for result in response.to_object()["topic_errors"]:
        code, name = result["error_code"], result["topic"]
        if code == 0:
            created.append(name)
            log.info("created topic %s", name)
        elif code == _TOPIC_ALREADY_EXISTS:
            # Created by another client, or so recently that the broker's
            # metadata did not list it yet: it is checked for drift instead.
            raced.append(name)
        else:
            raise TopicAdminError(
                f"creating topic {name!r} failed with error code {code}: {result['error_message']}"
            )
    return created, raced


async def _wait_visible(admin: AIOKafkaAdminClient, names: list[str], wait_seconds: float) -> None:
    # The controller acknowledges a creation before every broker's metadata cache
    # lists the topic; waiting here means the caller can use the topics at once.
    deadline = time.monotonic() + wait_seconds
    pending = list(names)
    while pending:
        described = await admin.describe_topics(pending)
        pending = [item["topic"] for item in described
                   if item["error_code"] or not item["partitions"]]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TopicAdminError(
                f"topics {pending} were created but the broker did not list them within "
                f"{wait_seconds:.0f} s; check the broker's log"
            )
        await asyncio.sleep(0.1)


async def _find_drift(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[Drift]:
    if not specs:
        return []

    described = await admin.describe_topics([spec.name for spec in specs])
    partitions = {item["topic"]: len(item["partitions"]) for item in described}
    configs = await _describe_configs(admin, [spec.name for spec in specs])

    drift = []
    for spec in specs:
        actual_partitions = partitions.get(spec.name, 0)
        if actual_partitions != spec.partitions:
            drift.append(Drift(
                spec.name, "partitions", str(spec.partitions), str(actual_partitions),
                fixable=actual_partitions < spec.partitions,
            ))
        actual = configs.get(spec.name, {})
        for key, expected in sorted(spec.configs.items()):
            value = actual.get(key)
            if value != expected:
                drift.append(Drift(spec.name, key, expected, "<unset>" if value is None else value))
    return drift


async def _describe_configs(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    responses = await admin.describe_configs(resources)

    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise TopicAdminError(
                    f"describing the configs of topic {resource['resource_name']!r} failed "
                    f"with error code {resource['error_code']}: {resource['error_message']}"
                )
            entries: list[dict[str, Any]] = resource["config_entries"]
            configs[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] for entry in entries
            }
    return configs


async def _fix(
    admin: AIOKafkaAdminClient, drift: list[Drift], specs_by_name: dict[str, TopicSpec]
) -> list[Drift]:
    fixed: list[Drift] = []

    grow = {item.topic: NewPartitions(int(item.expected)) for item in drift
            if item.setting == "partitions"}
    if grow:
        await admin.create_partitions(grow)
        fixed += [item for item in drift if item.setting == "partitions"]

    # AlterConfigs replaces a topic's whole set of overrides, so send every
    # config of the spec, not only the drifted ones.
    config_topics = sorted({item.topic for item in drift if item.setting != "partitions"})
    if config_topics:
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, name, dict(specs_by_name[name].configs))
            for name in config_topics
        ]
        for response in await admin.alter_configs(resources):
            for result in response.to_object()["resources"]:
                if result["error_code"]:
                    raise TopicAdminError(
                        f"changing the configs of topic {result['resource_name']!r} failed "
                        f"with error code {result['error_code']}: {result['error_message']}"
                    )
        fixed += [item for item in drift if item.setting != "partitions"]

    for item in fixed:
        log.info("fixed topic drift: %s", item.describe())
    return fixed


async def require_topics(
    bootstrap: str, names: Iterable[str], *, request_timeout_ms: int = 30_000
) -> None:
    """Raise :class:`TopicAdminError` naming every topic of ``names`` the broker lacks.

    A process checks this before it starts, so that a missing topic stops it with
    one line instead of a failure deep inside a consumer.
    """
    wanted = list(names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
    except KafkaError as exc:
        raise TopicAdminError(
            f"could not list the topics on {bootstrap}: {exc!r}; check that "
            "KAFKA_BOOTSTRAP_SERVERS names a running broker"
        ) from exc
    finally:
        await admin.close()

    missing = [name for name in wanted if name not in existing]
    if missing:
        raise TopicAdminError(
            f"{len(missing)} of the {len(wanted)} contract topics are missing on {bootstrap}: "
            f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}; create them with "
            "`naumu-jira topics ensure` (with the same TOPIC_PREFIX)"
        )


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Delete ``names``; topics that do not exist are ignored."""
    names = list(names)
    if not names:
        return

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        response = await admin.delete_topics(names)
        for result in response.to_object()["topic_error_codes"]:
            if result["error_code"] not in (0, _UNKNOWN_TOPIC_OR_PARTITION):
                raise TopicAdminError(
                    f"deleting topic {result['topic']!r} failed with error code "
                    f"{result['error_code']}"
                )
    except KafkaError as exc:
        raise TopicAdminError(f"deleting topics {names} on {bootstrap} failed: {exc!r}") from exc
    finally:
        await admin.close()
