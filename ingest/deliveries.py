"""Webhook delivery ids already published, to drop Jira's repeated deliveries.

Jira delivers at least once and retries with the same
``X-Atlassian-Webhook-Identifier``. The ids live in an in-memory LRU, and every
published id is also written to ``jira.webhook.deliveries`` (kept a week), which
is read back at start so a restarted ingress still recognises recent ones. The
topic is read once at start and not followed afterwards, because following it
costs a fetch per delivery on the ingress and the broker. So a repeat that
reaches another running instance is published again, and the fold drops it.

The write to ``jira.webhook.deliveries`` runs in the background: the request that
published the observation does not wait for its acknowledgement. A lost delivery
record only lets a restarted ingress publish one repeated delivery again, and the
fold drops that copy, because it keeps the delivery ids each entity folded recently.
One background task writes the records: the ids recorded while a batch waits for
its acknowledgements form the next batch.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict

import orjson
from aiokafka import ConsumerRecord

from ingest.cloudevent import encode_event
from ingest.publisher import EncodedPublisher
from ingest.topic_reader import TopicFollower

logger = logging.getLogger(__name__)

DELIVERY_TYPE = "jira.webhook.delivered"
SOURCE = "naumu-jira/ingest/webhooks"
DEFAULT_CAPACITY = 200_000
# The longest stop() waits for background writes. The producer's delivery
# timeout normally ends each write sooner.
STOP_WAIT_S = 30.0
# How many keys a warning about a failed batch lists.
LOGGED_KEYS = 10


class DeliveryLog:
    def __init__(
        self,
        *,
        producer: EncodedPublisher,
        topic: str,
        bootstrap_servers: str | None = None,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._unwritten: list[tuple[str, str, bytes]] = []
        self._writer: asyncio.Task[None] | None = None
        self._follower = (
            TopicFollower(bootstrap_servers, topic, self._on_record, follow=False)
            if bootstrap_servers is not None
            else None
        )

    async def start(self) -> None:
        if self._follower is not None:
            await self._follower.start()
        logger.info("delivery log ready topic=%s remembered=%d", self._topic, len(self._seen))

    async def stop(self) -> None:
        await self.flush()
        if self._follower is not None:
            await self._follower.stop()

    async def flush(self) -> None:
        """Wait for the background writes of the ids recorded so far (at most ``STOP_WAIT_S``)."""
        writer = self._writer
        if writer is None or writer.done():
            return
        _, late = await asyncio.wait({writer}, timeout=STOP_WAIT_S)
        if late:
            logger.warning("delivery log stopped with writes unacknowledged topic=%s "
                           "unwritten=%d", self._topic, len(self._unwritten))

    def seen(self, key: str) -> bool:
        """Return whether the delivery ``{cloud_id}:{delivery id}`` was published."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        return False

    def record(self, key: str, *, space_id: str, received_at_ms: int) -> None:
        """Remember ``key`` now and write it to the topic in the background.

        Call it only after the delivery's observation was acknowledged: a
        delivery record of an observation that never reached the broker would
        make a restarted ingress drop Jira's retry of it.
        """
        value = encode_event(
            event_id=str(uuid.uuid4()),
            source=SOURCE,
            event_type=DELIVERY_TYPE,
            subject=key,
            time_ms=received_at_ms,
            schemaversion=1,
            data={"space_id": space_id, "received_at_ms": received_at_ms},
        )
        # Remembered first: the observation is already published, so a failed
        # write here must still keep this process from publishing it again.
        self._remember(key)
        self._unwritten.append((self._topic, key, value))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_unwritten())

    async def _write_unwritten(self) -> None:
        while self._unwritten:
            batch, self._unwritten = self._unwritten, []
            try:
                await self._producer.send_encoded(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Some records of the batch may have been written before the failure.
                keys = [key for _, key, _ in batch]
                logger.warning("delivery ids not recorded topic=%s count=%d keys=%s: %r",
                               self._topic, len(keys), ",".join(keys[:LOGGED_KEYS]), exc)

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
