"""Encode and decode envelopes; the one place where old schema versions are upcast.

Every producer and agent goes through :func:`encode` and :func:`decode`, so a
record on any topic is CloudEvents 1.0 JSON (orjson, UTF-8), and a consumer
always sees the current version of each event type's ``data``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import orjson
from pydantic import ValidationError

from streams.contract import CURRENT_VERSION, EVENT_TYPES, TYPE_OF, EventData
from streams.envelope import Envelope
from streams.errors import CodecError, SchemaVersionError, UnknownEventTypeError

DataT = TypeVar("DataT", bound=EventData)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _webhook_received_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 1 stored the receive time as ISO 8601 text and had no retry count.
    upgraded = dict(data)
    received_at = upgraded.pop("received_at")
    upgraded["received_at_ms"] = int(datetime.fromisoformat(received_at).timestamp() * 1000)
    upgraded.setdefault("retry", 0)
    return upgraded


# (event type, version read) -> function returning the data of the next version.
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("jira.webhook.received", 1): _webhook_received_v1_to_v2,
}


_JSON_LEAVES: frozenset[Any] = frozenset({str, int, float, bool, type(None), Any})
_PLAIN_MODELS: dict[type[EventData], bool] = {}


def _json_native(annotation: Any) -> bool:
    """Return True when every value of ``annotation`` is a JSON value in Python form."""
    if annotation in _JSON_LEAVES:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return all(isinstance(arg, str | int | bool) or arg is None
                   for arg in get_args(annotation))
    if origin in (list, dict, Union, UnionType):
        return all(_json_native(arg) for arg in get_args(annotation))
    return False


def _is_plain(model: type[EventData]) -> bool:
    plain = _PLAIN_MODELS.get(model)
    if plain is None:
        plain = all(_json_native(field.annotation) for field in model.model_fields.values())
        _PLAIN_MODELS[model] = plain
    return plain


def _json_data(data: EventData) -> dict[str, Any]:
    # The fields of a model made only of JSON types are their own JSON form, so the
    # graph's large node records skip a pydantic pass over their content.
    if _is_plain(type(data)):
        return dict(data.__dict__)
    return data.model_dump(mode="json")


def make(data: EventData, *, source: str, subject: str, event_id: str | None = None) -> Envelope:
    """Wrap ``data`` in an envelope of its registered type and current version."""
    event_type = TYPE_OF.get(type(data))
    if event_type is None:
        raise UnknownEventTypeError(
            f"{type(data).__name__} is not registered in streams.contract.EVENT_TYPES; "
            "add it there before publishing it"
        )

    fields: dict[str, Any] = {
        "source": source,
        "type": event_type,
        "subject": subject,
        "schemaversion": CURRENT_VERSION[event_type],
        "data": _json_data(data),
    }
    if event_id is not None:
        fields["id"] = event_id
    return Envelope(**fields)


def encode(envelope: Envelope) -> bytes:
    """Serialize an envelope to CloudEvents JSON bytes."""
    # ``data`` is JSON already (a model dumped in JSON mode, or decoded JSON), so it
    # goes to orjson as it is instead of through another pydantic pass.
    return orjson.dumps(envelope.to_cloudevent())


def upcast(event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Bring ``data`` written at ``version`` up to the current version of its type."""
    current = CURRENT_VERSION.get(event_type)
    if current is None:
        raise UnknownEventTypeError(
            f"event type {event_type!r} is not part of the topic contract; "
            f"known types: {', '.join(sorted(EVENT_TYPES))}"
        )
    if version > current or version < 1:
        raise SchemaVersionError(event_type, current, version)

    while version < current:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise SchemaVersionError(event_type, current, version)
        data = step(data)
        version += 1
    return data


def decode(raw: bytes | str) -> Envelope:
    """Parse CloudEvents JSON into an envelope at the current schema version."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        preview = raw[:80] if isinstance(raw, str) else raw[:80].decode("utf-8", "replace")
        raise CodecError(f"record is not valid JSON ({exc}); it starts with {preview!r}") from exc
    if not isinstance(event, dict):
        raise CodecError(f"record is JSON {type(event).__name__}, expected a CloudEvents object")

    event_type = event.get("type")
    if not isinstance(event_type, str):
        raise CodecError(f"record has no string 'type' attribute; attributes: {sorted(event)}")
    version = event.get("schemaversion", 1)
    if not isinstance(version, int):
        raise CodecError(f"schemaversion {version!r} of {event_type!r} is not an integer")

    event["data"] = upcast(event_type, version, event.get("data") or {})
    event["schemaversion"] = CURRENT_VERSION[event_type]
    try:
        return Envelope.model_validate(event)
    except ValidationError as exc:
        raise CodecError(f"record of type {event_type!r} has an invalid envelope: {exc}") from exc


def data_of(envelope: Envelope, model: type[DataT]) -> DataT:
    """Validate an envelope's ``data`` as ``model``, checking the type matches."""
    expected = TYPE_OF[model]
    if envelope.type != expected:
        raise CodecError(
            f"envelope {envelope.id} has type {envelope.type!r}, expected {expected!r}"
        )
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise CodecError(f"data of {envelope.type} event {envelope.id} is invalid: {exc}") from exc


def parse(envelope: Envelope) -> EventData:
    """Validate an envelope's ``data`` as the model registered for its type."""
    return data_of(envelope, EVENT_TYPES[envelope.type])
