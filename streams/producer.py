"""Publish envelopes to Kafka and wait for the broker's acknowledgement.

Every send uses ``acks=all`` and an idempotent producer, so an acknowledged
record is on every in-sync replica and a retried request never duplicates it.
A send that the broker does not acknowledge within the delivery timeout
(``KAFKA_DELIVERY_TIMEOUT_MS``, enforced with ``asyncio.timeout``) raises
:class:`~streams.errors.BrokerError` naming the topic, the key and the cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import TracebackType

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from streams.codec import encode
from streams.envelope import Envelope
from streams.errors import BrokerError
from streams.settings import Settings

log = logging.getLogger(__name__)

# aiokafka keeps one open batch per partition and makes a send wait while that
# batch is full, and with idempotence it has one request in flight per broker.
# Its 16 KiB default therefore lets only one or two records of 8-12 KB through
# each partition per round trip. Half of the broker's default
# ``max.message.bytes`` (1 MiB) keeps every batch under that limit.
DEFAULT_MAX_BATCH_BYTES = 512 * 1024


class Producer:
    """An ``acks=all`` idempotent producer of envelopes.

    Use it as an async context manager, or call :meth:`start` and :meth:`stop`.
    With a ``transactional_id`` every send must happen inside :meth:`transaction`.
    ``linger_ms`` is 0 by default, because every send here waits for its
    acknowledgement, and records that arrive while a request is in flight are
    batched into the next request anyway.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transactional_id: str | None = None,
        client_id: str = "naumu-jira-sync",
        linger_ms: int = 0,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        self._bootstrap = settings.kafka_bootstrap_servers
        self._delivery_timeout = settings.kafka_delivery_timeout_ms / 1000
        self._transactional_id = transactional_id
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=settings.kafka_request_timeout_ms,
            linger_ms=linger_ms,
            max_batch_size=max_batch_bytes,
            transactional_id=transactional_id,
        )
        self._started = False

    async def start(self) -> None:
        """Connect to the brokers, failing within the delivery timeout."""
        try:
            async with asyncio.timeout(self._delivery_timeout):
                await self._producer.start()
        except (KafkaError, TimeoutError, OSError) as exc:
            await self._producer.stop()
            raise BrokerError(
                f"could not connect a producer to Kafka at {self._bootstrap} within "
                f"{self._delivery_timeout:.0f} s: {exc!r}; check KAFKA_BOOTSTRAP_SERVERS "
                "and that the broker runs"
            ) from exc
        self._started = True
        log.info("producer connected to %s (transactional_id=%s)", self._bootstrap,
                 self._transactional_id)

    async def stop(self) -> None:
        """Flush what is pending and disconnect; safe to call twice.

        Waits at most the delivery timeout for the flush. Records still buffered
        after that are dropped, and their sends have already raised BrokerError.
        """
        if not self._started:
            return
        self._started = False
        try:
            async with asyncio.timeout(self._delivery_timeout):
                await self._producer.stop()
        except KafkaError as exc:
            log.warning("stopping the producer for %s failed: %r", self._bootstrap, exc)
        except TimeoutError:
            log.warning("producer for %s could not flush within %.0f s; dropping buffered "
                        "records and closing its connections", self._bootstrap,
                        self._delivery_timeout)
            await self._close_without_flush()

    async def _close_without_flush(self) -> None:
        # aiokafka 0.14's stop() waits for the buffer to drain, and with the broker
        # gone it never does. Its sender and client are closed directly instead.
        sender = getattr(self._producer, "_sender", None)
        if sender is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await sender.close()
        await self._producer.client.close()

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def send(self, topic: str, key: str, envelope: Envelope) -> RecordMetadata:
        """Publish one envelope and return its partition and offset once acknowledged."""
        return (await self.send_batch(topic, [(key, envelope)]))[0]

    async def send_batch(
        self, topic: str, records: Iterable[tuple[str, Envelope]]
    ) -> list[RecordMetadata]:
        """Publish ``(key, envelope)`` pairs in order and wait for all acknowledgements.

        Records with the same key keep their order. When one record fails, the
        others may still have been written. Callers then retry the whole batch,
        and consumers drop the copies by envelope id.
        """
        return await self.send_records((topic, key, envelope) for key, envelope in records)

    async def send_records(
        self, records: Iterable[tuple[str, str, Envelope]]
    ) -> list[RecordMetadata]:
        """Publish ``(topic, key, envelope)`` records, then wait for all acknowledgements.

        Every record is handed to the client before the first acknowledgement is
        awaited, so records of several topics share the same produce requests.
        Failures behave as in :meth:`send_batch`.
        """
        return await self.send_encoded(
            (topic, key, encode(envelope)) for topic, key, envelope in records
        )

    async def send_encoded(
        self, records: Iterable[tuple[str, str, bytes]]
    ) -> list[RecordMetadata]:
        """Publish ``(topic, key, value)`` records whose values are already encoded.

        It behaves as :meth:`send_records`. Each value must be what
        :func:`streams.codec.encode` returns for its envelope.
        """
        pending: list[tuple[str, str, asyncio.Future[RecordMetadata]]] = []
        topic = key = ""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._delivery_timeout):
                for topic, key, value in records:
                    future = await self._producer.send(topic, value=value, key=key.encode())
                    pending.append((topic, key, future))
                results = []
                for pending_topic, pending_key, future in pending:
                    # Named in the error message when this acknowledgement fails.
                    topic, key = pending_topic, pending_key
                    results.append(await future)
                return results
        except TimeoutError as exc:
            # The client's own request timeout can end the wait before the delivery
            # timeout does, so the message gives the time actually waited.
            raise BrokerError(
                f"Kafka at {self._bootstrap} did not acknowledge the record with key {key!r} "
                f"on topic {topic!r}: timed out after {time.monotonic() - started:.1f} s "
                f"(KAFKA_DELIVERY_TIMEOUT_MS allows {self._delivery_timeout:.0f} s); "
                "check that the broker runs"
            ) from exc
        except KafkaError as exc:
            raise BrokerError(
                f"publishing the record with key {key!r} to topic {topic!r} on "
                f"{self._bootstrap} failed: {exc!r}; the broker may be stopping or "
                "unreachable, and the send may be retried"
            ) from exc
        finally:
            for _, _, future in pending:
                if not future.done():
                    future.cancel()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Producer]:
        """Make every send inside the block visible atomically, or none of them.

        The transaction commits when the block exits normally and aborts when it
        raises. Consumers with ``isolation_level="read_committed"`` never see the
        records of an aborted transaction.
        """
        if self._transactional_id is None:
            raise BrokerError(
                "transaction() needs a producer created with a transactional_id"
            )

        try:
            await self._producer.begin_transaction()
        except KafkaError as exc:
            raise BrokerError(
                f"beginning transaction {self._transactional_id!r} on {self._bootstrap} "
                f"failed: {exc!r}"
            ) from exc

        try:
            yield self
        except BaseException:
            await self._abort()
            raise

        try:
            async with asyncio.timeout(self._delivery_timeout):
                await self._producer.commit_transaction()
        except (KafkaError, TimeoutError) as exc:
            await self._abort()
            raise BrokerError(
                f"committing transaction {self._transactional_id!r} on {self._bootstrap} "
                f"failed: {exc!r}; none of its records are visible to read_committed consumers"
            ) from exc
        log.debug("committed transaction %s", self._transactional_id)

    async def _abort(self) -> None:
        try:
            async with asyncio.timeout(self._delivery_timeout):
                await self._producer.abort_transaction()
        except (KafkaError, TimeoutError) as exc:
            # The broker aborts the transaction itself when its timeout passes.
            log.warning("aborting transaction %s on %s failed: %r",
                        self._transactional_id, self._bootstrap, exc)
        else:
            log.info("aborted transaction %s", self._transactional_id)
