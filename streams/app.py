"""The Faust application the worker runs, and the contract topics declared on it.

The factory contains configuration only; agents register themselves on the app it
returns. Records stay bytes on the Faust side (``raw`` serializers) because
:mod:`streams.codec` does every encoding and decoding, upcasting included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers.aiokafka import Producer as AIOKafkaDriverProducer

from streams import topics
from streams.settings import Settings
from streams.topics import TopicNames

APP_ID = "naumu-jira-sync"


class _IdempotentProducer(AIOKafkaDriverProducer):
    # Faust's aiokafka driver enables idempotence only inside transactions
    # (exactly_once); this producer enables it for at_least_once as well.
    def _settings_extra(self) -> Mapping[str, Any]:
        return {"acks": "all", "enable_idempotence": True}


class SyncApp(faust.App):
    """A ``faust.App`` whose producer is idempotent and waits for ``acks=all``."""

    def _new_producer(self) -> Any:
        return _IdempotentProducer(self.transport, loop=self.loop, beacon=self.beacon)


def create_app(settings: Settings, *, app_id: str = APP_ID) -> faust.App:
    """Return the worker's Faust app configured from ``settings``, with no agents."""
    request_timeout = settings.kafka_request_timeout_ms / 1000
    return SyncApp(
        app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers],
        store="rocksdb://",
        datadir=str(settings.state_dir),
        processing_guarantee=settings.processing_guarantee,
        producer_acks=-1,
        producer_request_timeout=request_timeout,
        # Graph records are several KB each; aiokafka's default 16 KiB batch holds one or
        # two, so every send waited for a round trip. Half the broker's default maximum
        # message size keeps a batch under it.
        producer_max_batch_size=512 * 1024,
        producer_linger=0.0,
        topic_replication_factor=settings.topic_replication_factor,
        topic_partitions=topics.PARTITIONS,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=settings.worker_web_enabled,
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        consumer_auto_offset_reset="earliest",
        autodiscover=False,
    )


def app_topics(app: faust.App, names: TopicNames | None = None) -> dict[str, faust.TopicT]:
    """Declare every contract topic on ``app``, keyed by its contract name.

    The topics carry bytes in and out. ``names`` renames them (a test prefix);
    the broker side is created by :func:`streams.admin.ensure_topics`, not by Faust.
    """
    names = names or TopicNames()
    declared: dict[str, faust.TopicT] = {}
    for spec in topics.ALL:
        declared[spec.name] = app.topic(
            names.of(spec),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=spec.partitions,
            config=dict(spec.configs),
        )
    return declared
