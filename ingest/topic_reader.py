"""Read a topic from its beginning, then keep following it.

Compacted state topics (connections, space roles, delivered webhook ids) are
loaded this way at start: :meth:`TopicFollower.start` returns once every
partition has been read up to the end offsets it saw when it started, and a
background task then applies later records as they arrive.

The end offsets are the high watermarks, not the read-committed end. A
transactional producer's commit returns before the broker has written the
commit markers, so right after a commit the read-committed end can still lie
before the committed records. Reading to the high watermark waits for those
markers; a transaction that stays open longer than ``settle_timeout_s`` (a
producer that died mid-transaction) is left to the background follower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from ingest.errors import PublishError

logger = logging.getLogger(__name__)

RecordHandler = Callable[[ConsumerRecord], None]

METADATA_ATTEMPTS = 50
SETTLE_TIMEOUT_S = 10.0


class TopicFollower:
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        handle: RecordHandler,
        *,
        follow: bool = True,
        settle_timeout_s: float = SETTLE_TIMEOUT_S,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._handle = handle
        self._follow = follow
        self._settle_timeout_s = settle_timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the topic up to its current end, then follow it in the background.

        Steps: assign every partition, seek to the beginning, read until each
        position reaches the high watermark taken at start, then start following.
        """
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end_offsets = await self._high_watermarks(partitions)
            await self._read_until(consumer, end_offsets)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        logger.info("loaded topic=%s partitions=%d", self._topic, len(partitions))

        if self._follow:
            self._task = asyncio.create_task(self._run(consumer), name=f"follow {self._topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        for _ in range(METADATA_ATTEMPTS):
            # The consumer's own metadata covers only assigned topics, so ask the
            # cluster for every topic's partitions.
            cluster = await consumer._client.fetch_all_metadata()
            numbers = cluster.partitions_for_topic(self._topic)
            if numbers:
                return [TopicPartition(self._topic, number) for number in sorted(numbers)]
            await asyncio.sleep(0.1)
        raise PublishError(
            f"topic {self._topic!r} does not exist on {self._bootstrap_servers}; "
            "create the contract topics before starting the service"
        )

    async def _high_watermarks(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        # A read-uncommitted consumer's end offsets are the high watermarks.
        probe = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            enable_auto_commit=False,
            isolation_level="read_uncommitted",
        )
        await probe.start()
        try:
            ends: dict[TopicPartition, int] = await probe.end_offsets(partitions)
            return ends
        finally:
            await probe.stop()

    async def _read_until(
        self, consumer: AIOKafkaConsumer, end_offsets: dict[TopicPartition, int]
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle_timeout_s
        pending = {tp for tp, end in end_offsets.items() if end > 0}
        while pending:
            batches = await consumer.getmany(timeout_ms=200)
            self._apply(batches)
            for tp in list(pending):
                if await consumer.position(tp) >= end_offsets[tp]:
                    pending.discard(tp)
            if pending and loop.time() > deadline:
                # Only an open transaction keeps a read-committed position below the
                # high watermark this long; its records arrive through the follower.
                logger.warning(
                    "loaded topic=%s with a transaction still open on partitions=%s "
                    "after %.0f s", self._topic,
                    sorted(tp.partition for tp in pending), self._settle_timeout_s,
                )
                return

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            self._apply(batches)

    def _apply(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in batches.items():
            for record in records:
                try:
                    self._handle(record)
                except Exception:
                    logger.exception(
                        "skipped unreadable record topic=%s partition=%d offset=%d",
                        tp.topic, tp.partition, record.offset,
                    )
