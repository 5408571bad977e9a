"""``POST /webhooks/jira/{space_id}``: the Jira webhook receiver.

The path names the space, because Jira registers one URL per app and the
service registers that URL with the space id appended. A delivery is answered
with 2xx only once the broker acknowledged its record, so Jira retries anything
the service could not keep. The steps: limit the size, authenticate, parse,
drop repeats, publish.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ingest.cloudevent import encode_event
from ingest.connection import Connection, ConnectionStatus
from ingest.context import Ingress
from ingest.errors import (
    NotFoundError,
    PayloadTooLargeError,
    PublishError,
    ValidationError,
)
from ingest.metrics import WEBHOOK_DELIVERIES, WEBHOOK_PUBLISH_SECONDS
from ingest.webhook_auth import verify_delivery
from ingest.webhook_events import KNOWN_EVENTS, MissingEntityError, record_key
from streams.codec import encode, make
from streams.contract import CURRENT_VERSION, TYPE_OF, ObservationRejected, WebhookReceived
from streams.topics import entity_key

logger = logging.getLogger(__name__)

SOURCE = "naumu-jira/ingest/webhooks"
_DELIVERY_NAMESPACE = uuid.UUID("0b7f3f52-8f0c-4d4e-9a55-51c3c1f0de11")


async def receive_webhook(request: Request) -> Response:
    ingress: Ingress = request.app.state.ingress
    space_id = request.path_params["space_id"]
    started = time.monotonic()

    body = await read_limited(request, ingress.settings.webhook_max_body_bytes)

    # Authenticate before saying anything about the space, so an anonymous caller
    # cannot learn which spaces are connected.
    headers = request.headers
    known = ingress.registry.get(space_id)
    verify_delivery(
        headers,
        body,
        client_id=ingress.settings.client_id,
        client_secret=ingress.settings.client_secret,
        admin_secret=ingress.settings.admin_webhook_secret,
        cloud_id=known.cloud_id if known is not None else None,
    )
    connection = _active(known, space_id)
    cloud_id = connection.cloud_id or ""
    payload = _parse(body, space_id)
    webhook_event = payload["webhookEvent"]

    delivery_id = headers.get("x-atlassian-webhook-identifier") or _body_digest(body)
    retry_header = headers.get("x-atlassian-webhook-retry", "0")
    retry = int(retry_header) if retry_header.isdigit() else 0
    dedup_key = entity_key(cloud_id, delivery_id)
    outcome = await ingress.single_flight(
        dedup_key,
        lambda: _publish(ingress, connection, payload, body, delivery_id, retry, dedup_key),
    )

    WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
    WEBHOOK_PUBLISH_SECONDS.observe(time.monotonic() - started)
    logger.info("webhook %s space_id=%s cloud_id=%s delivery_id=%s event=%s",
                outcome, space_id, cloud_id, delivery_id, webhook_event)
    status = 202 if outcome == "dead_lettered" else 200
    return Response(orjson.dumps({"delivery_id": delivery_id, "outcome": outcome}),
                    status_code=status, media_type="application/json")


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the body, raising :class:`PayloadTooLargeError` past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the body declares {declared} bytes, over the limit of {limit} bytes "
            "(WEBHOOK_MAX_BODY_BYTES)"
        )

    # Content-Length can be absent (chunked) or wrong, so count while reading too.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"the body exceeds the limit of {limit} bytes (WEBHOOK_MAX_BODY_BYTES)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _active(connection: Connection | None, space_id: str) -> Connection:
    if connection is None or connection.status is not ConnectionStatus.ACTIVE:
        status = "no connection" if connection is None else f"status {connection.status}"
        # 404 is not one of the statuses Jira retries, so a stale registration goes quiet.
        raise NotFoundError(
            f"space {space_id} has {status}; webhooks are accepted only for an active "
            "Jira connection"
        )
    return connection


def _parse(body: bytes, space_id: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(
            f"the webhook body for space {space_id} is not valid JSON ({exc})"
        ) from None
    if not isinstance(payload, dict):
        raise ValidationError(
            f"the webhook body is a JSON {type(payload).__name__}; expected an object "
            "with a webhookEvent"
        )

    event = payload.get("webhookEvent")
    if event is None:
        raise ValidationError(
            "the webhook body has no webhookEvent; Jira names the event of every delivery "
            f"there (known events: {', '.join(sorted(KNOWN_EVENTS))})"
        )
    if event not in KNOWN_EVENTS:
        raise ValidationError(
            f"webhookEvent {event!r} is not an event this service handles; "
            f"known events: {', '.join(sorted(KNOWN_EVENTS))}"
        )
    return payload


def _body_digest(body: bytes) -> str:
    # Deliveries without an identifier header are deduplicated by content instead.
    return "sha256-" + hashlib.sha256(body).hexdigest()


async def _publish(
    ingress: Ingress,
    connection: Connection,
    payload: dict[str, Any],
    body: bytes,
    delivery_id: str,
    retry: int,
    dedup_key: str,
) -> str:
    if ingress.deliveries.seen(dedup_key):
        return "duplicate"

    cloud_id = connection.cloud_id or ""
    received_at_ms = int(time.time() * 1000)
    topics = ingress.settings.topics
    try:
        key = record_key(cloud_id, payload["webhookEvent"], payload)
    except MissingEntityError as exc:
        await _send(ingress, topics.dead_letter, entity_key(cloud_id, "webhook"), encode(make(
            ObservationRejected(
                space_id=connection.space_id,
                cloud_id=cloud_id,
                reason=f"{payload['webhookEvent']} delivery {delivery_id}: {exc}",
                source_topic=f"POST /webhooks/jira/{connection.space_id}",
                source_partition=-1,
                source_offset=-1,
                raw=body.decode("utf-8", "replace"),
            ),
            source=SOURCE,
            subject=entity_key(cloud_id, "webhook"),
        )))
        _record(ingress, dedup_key, connection, received_at_ms)
        return "dead_lettered"

    received = WebhookReceived(
        space_id=connection.space_id,
        cloud_id=cloud_id,
        delivery_id=delivery_id,
        webhook_event=payload["webhookEvent"],
        retry=retry,
        received_at_ms=received_at_ms,
        payload=payload,
    )
    value = encode_received(
        received, subject=key, event_id=str(uuid.uuid5(_DELIVERY_NAMESPACE, dedup_key))
    )
    await _send(ingress, topics.inbound, key, value)
    _record(ingress, dedup_key, connection, received_at_ms)
    return "published"


def encode_received(received: WebhookReceived, *, subject: str, event_id: str) -> bytes:
    """Return ``encode(make(received, ...))`` with ``received_at_ms`` as the envelope's time.

    Every field of ``WebhookReceived`` is a JSON value already, so orjson writes
    them as they are, without an ``Envelope`` model validating the payload again.
    """
    event_type = TYPE_OF[WebhookReceived]
    return encode_event(
        event_id=event_id,
        source=SOURCE,
        event_type=event_type,
        subject=subject,
        time_ms=received.received_at_ms,
        schemaversion=CURRENT_VERSION[event_type],
        # In the field order of the model, as make() writes them.
        data={name: getattr(received, name) for name in WebhookReceived.model_fields},
    )


async def _send(ingress: Ingress, topic: str, key: str, value: bytes) -> None:
    try:
        await ingress.producer.send_encoded([(topic, key, value)])
        ingress.broker_failed_at = None
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        ingress.broker_failed_at = time.monotonic()
        logger.warning("broker did not acknowledge topic=%s key=%s: %r", topic, key, exc)
        raise PublishError(
            f"the broker did not acknowledge the record for {key} on {topic}; "
            "Jira retries the delivery"
        ) from exc


def _record(
    ingress: Ingress, dedup_key: str, connection: Connection, received_at_ms: int
) -> None:
    # Called only after the observation was acknowledged. The delivery record's own
    # acknowledgement is not awaited, because losing that record only risks one
    # duplicate after a restart, which the fold drops.
    ingress.deliveries.record(
        dedup_key, space_id=connection.space_id, received_at_ms=received_at_ms
    )
