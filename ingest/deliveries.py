"""Webhook delivery ids already published, to drop Jira's repeated deliveries.

Jira delivers at least once and retries with the same
``X-Atlassian-Webhook-Identifier``. The ids live in an in-memory LRU, and every
published id is also written to ``jira.webhook.deliveries`` (kept a week), which
is read back at start so a restarted ingress still recognises recent ones.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import orjson
from aiokafka import ConsumerRecord

from ingest.publisher import Publisher
from ingest.topic_reader import TopicFollower
from streams.envelope import Envelope

logger = logging.getLogger(__name__)

DELIVERY_TYPE = "jira.webhook.delivered"
DEFAULT_CAPACITY = 200_000


class DeliveryLog:
    def __init__(
        self,
        *,
        producer: Publisher,
        topic: str,
        bootstrap_servers: str | None = None,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._follower = (
            TopicFollower(bootstrap_servers, topic, self._on_record)
            if bootstrap_servers is not None
            else None
        )

    async def start(self) -> None:
        if self._follower is not None:
            await self._follower.start()
        logger.info("delivery log ready topic=%s remembered=%d", self._topic, len(self._seen))

    async def stop(self) -> None:
        if self._follower is not None:
            await self._follower.stop()

    def seen(self, key: str) -> bool:
        """Return whether the delivery ``{cloud_id}:{delivery id}`` was published."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        return False

    async def record(self, key: str, *, space_id: str, received_at_ms: int) -> None:
        envelope = Envelope(
            source="naumu-jira/ingest/webhooks",
            type=DELIVERY_TYPE,
            subject=key,
            data={"space_id": space_id, "received_at_ms": received_at_ms},
        )
        # Remembered first: the observation is already published, so a failed
        # write here must still keep this process from publishing it again.
        self._remember(key)
        await self._producer.send(self._topic, key, envelope)

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)

    def _on_record(self, record: ConsumerRecord) -> None:
        if record.key is None or record.value is None:
            return
        if orjson.loads(record.value).get("type") == DELIVERY_TYPE:
            self._remember(record.key.decode())
