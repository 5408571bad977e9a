"""JSON Schemas of the envelope and of every event type's ``data``.

The data schemas come from the pydantic models in :mod:`streams.contract` in
validation mode, so they accept exactly what the codec accepts: fields with a
default may be omitted by a producer, and the service itself always writes them.
Schemas of older versions are frozen copies kept in ``frozen/`` because their
models no longer exist; the codec upcasts records of those versions on read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.asyncapi.errors import ContractDocError
from streams.contract import CURRENT_VERSION, EVENT_TYPES
from streams.envelope import Envelope

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_FILE = "envelope.json"
FROZEN_DIR = Path(__file__).resolve().parent / "frozen"

_FILE_NAME = re.compile(r"(?P<type>[a-z_.]+)\.v(?P<version>[0-9]+)\.json")


@dataclass(frozen=True)
class DataSchema:
    """The JSON Schema of one event type's ``data`` at one schema version."""

    event_type: str
    version: int
    schema: dict[str, Any]
    current: bool

    @property
    def file_name(self) -> str:
        return schema_file_name(self.event_type, self.version)


def schema_file_name(event_type: str, version: int) -> str:
    """Return the file name of a data schema, for example ``jira.issue.changed.v1.json``."""
    return f"{event_type}.v{version}.json"


def envelope_schema() -> dict[str, Any]:
    """Return the JSON Schema of the CloudEvents envelope as the service writes it."""
    schema = Envelope.model_json_schema()

    # The model fills id, time and the version attributes with defaults, but
    # the encoder writes every attribute, so every attribute is present on the wire.
    schema["required"] = list(schema["properties"])
    schema["properties"]["time"]["description"] = (
        "RFC 3339 UTC time with milliseconds, for example 2026-01-31T09:30:00.000Z"
    )
    return {"$schema": DIALECT, **schema}


def current_schema(event_type: str) -> DataSchema:
    """Return the schema of ``event_type`` at the version the service writes today."""
    model = EVENT_TYPES[event_type]
    schema = {"$schema": DIALECT, **model.model_json_schema()}
    return DataSchema(event_type, CURRENT_VERSION[event_type], schema, current=True)


def frozen_schemas(directory: Path = FROZEN_DIR) -> list[DataSchema]:
    """Load the frozen schemas of older versions, checking each is still readable."""
    found: list[DataSchema] = []
    for path in sorted(directory.glob("*.json")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise ContractDocError(
                f"frozen schema {path.name!r} is not named <event type>.v<version>.json; rename it"
            )

        event_type = match["type"]
        version = int(match["version"])
        current = CURRENT_VERSION.get(event_type)
        if current is None:
            raise ContractDocError(
                f"frozen schema {path.name!r} is for {event_type!r}, which is not in "
                "streams.contract.EVENT_TYPES; delete the file or register the type"
            )
        if version >= current:
            raise ContractDocError(
                f"frozen schema {path.name!r} has version {version}, but {event_type!r} is "
                f"written at version {current}; only older versions are frozen, so delete it"
            )

        schema = json.loads(path.read_text(encoding="utf-8"))
        found.append(DataSchema(event_type, version, schema, current=False))
    return found


def all_schemas() -> list[DataSchema]:
    """Return every data schema: the current version of each type, then frozen ones."""
    current = [current_schema(event_type) for event_type in EVENT_TYPES]
    return current + frozen_schemas()


def lift_definitions(
    schema: dict[str, Any], target: str, components: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Move ``$defs`` into ``components`` and point references at ``target``.

    ``target`` is the JSON pointer prefix of the shared definitions, for example
    ``#/components/schemas/``. Two definitions with one name must be identical,
    because they then share one entry.
    """
    body: dict[str, Any] = {
        key: _retarget(value, target)
        for key, value in schema.items()
        if key not in ("$defs", "$schema")
    }
    for name, definition in schema.get("$defs", {}).items():
        lifted = _retarget(definition, target)
        existing = components.get(name)
        if existing is not None and existing != lifted:
            raise ContractDocError(
                f"two models named {name!r} have different schemas; rename one of them "
                "so each shared definition has a unique name"
            )
        components[name] = lifted
    return body


def _retarget(value: Any, target: str) -> Any:
    if isinstance(value, dict):
        return {
            key: (item.replace("#/$defs/", target) if key == "$ref" else _retarget(item, target))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_retarget(item, target) for item in value]
    return value
