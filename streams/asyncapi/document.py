"""Build the AsyncAPI 3.0 document of every topic, message and operation.

Channels are the topics of :mod:`streams.topics`; each message is one event
type's CloudEvents envelope with ``data`` pointing at the schema generated from
its model; operations state which process sends or receives which types, from
the service's point of view.
"""

from __future__ import annotations

from typing import Any

from streams import topics
from streams.asyncapi import examples, routes
from streams.asyncapi.errors import ContractDocError
from streams.asyncapi.schemas import (
    DataSchema,
    all_schemas,
    envelope_schema,
    lift_definitions,
)
from streams.asyncapi.summaries import SUMMARIES
from streams.contract import EVENT_TYPES

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
CONTENT_TYPE = "application/cloudevents+json"

# Version of the published contract as a whole. Raise the minor version for
# additive changes and the major version when a schema version is added.
CONTRACT_VERSION = "1.0.0"

SCHEMAS_POINTER = "#/components/schemas/"
ENVELOPE_COMPONENT = "CloudEventsEnvelope"

# Settings that the Kafka binding's TopicConfiguration object defines. The
# binding allows no other keys there, so x-configs carries every setting verbatim.
_TYPED_CONFIGS = {"retention.ms", "retention.bytes", "delete.retention.ms", "max.message.bytes"}

_DESCRIPTION = (
    "Topics of the service that keeps one Jira Cloud site and one Naumu space in step. "
    "Every record value is a CloudEvents 1.0 event in JSON (structured mode); the "
    "schemaversion extension attribute versions the shape of data per event type. "
    "Records with the same key keep their order within a topic. Delivery is at least "
    "once, so consumers apply records idempotently. Consumers skip event types they do "
    "not know. See docs/topics.md for the versioning policy."
)


def message_id(schema: DataSchema) -> str:
    """Return the id of a message: the event type, with ``.v<n>`` for older versions."""
    if schema.current:
        return schema.event_type
    return f"{schema.event_type}.v{schema.version}"


def _component_name(schema: DataSchema) -> str:
    name = str(schema.schema.get("title", schema.event_type))
    if schema.current:
        return name
    return f"{name}V{schema.version}"


def _topic_configuration(configs: dict[str, str]) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    if "cleanup.policy" in configs:
        typed["cleanup.policy"] = configs["cleanup.policy"].split(",")
    for name in sorted(_TYPED_CONFIGS & configs.keys()):
        typed[name] = int(configs[name])
    return typed


def retention_text(configs: dict[str, str]) -> str:
    """Return how long a topic with ``configs`` keeps its records, as one sentence."""
    policy = configs.get("cleanup.policy", "delete")
    if "compact" in policy:
        return "Compacted: the latest record per key is kept."
    retention_ms = int(configs.get("retention.ms", "604800000"))
    if retention_ms < 0:
        return "Kept forever."
    return f"Kept for {retention_ms // (24 * 3600 * 1000)} days."


def _key_schema(spec: topics.TopicSpec, example_key: str | None) -> dict[str, Any]:
    key: dict[str, Any] = {"type": "string", "description": f"Record key: `{spec.key}`."}
    if example_key is not None:
        key["examples"] = [example_key]
    return key


def _example_for(schema: DataSchema) -> examples.Example:
    if schema.current:
        return examples.EXAMPLES[schema.event_type]
    return examples.OLDER_EXAMPLES[(schema.event_type, schema.version)]


def _message(schema: DataSchema, spec: topics.TopicSpec, component: str) -> dict[str, Any]:
    example = _example_for(schema)
    summary = SUMMARIES[schema.event_type]
    if not schema.current:
        summary = (
            f"Version {schema.version}, written by older builds and still kept on this topic; "
            f"readers upcast it to the current version. {summary}"
        )

    return {
        "name": message_id(schema),
        "title": f"{schema.event_type} v{schema.version}",
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "payload": {
            "allOf": [
                {"$ref": SCHEMAS_POINTER + ENVELOPE_COMPONENT},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": schema.event_type},
                        "schemaversion": {"const": schema.version},
                        "data": {"$ref": SCHEMAS_POINTER + component},
                    },
                },
            ],
        },
        "bindings": {
            "kafka": {
                "key": _key_schema(spec, examples.record_key(spec.name, example)),
                "bindingVersion": KAFKA_BINDING_VERSION,
            },
        },
        "examples": [
            {
                "name": "example",
                "payload": examples.envelope(schema.event_type, schema.version, spec.name, example),
            },
        ],
        "x-data-schema": f"schemas/{schema.file_name}",
    }


def _channel(
    spec: topics.TopicSpec, schemas: list[DataSchema], components: dict[str, str]
) -> dict[str, Any]:
    audience = "public" if spec.name in routes.PUBLIC_TOPICS else "internal"
    messages = {
        message_id(schema): _message(schema, spec, components[message_id(schema)])
        for schema in schemas
        if schema.event_type in routes.TOPIC_TYPES[spec.name]
    }

    description = f"Key `{spec.key}`, {spec.partitions} partitions. {retention_text(spec.configs)}"
    if not messages:
        description += " Record values are not envelopes and are private to the service."

    return {
        "address": spec.name,
        "title": spec.name,
        "summary": spec.description,
        "description": description,
        "tags": [{"name": audience}],
        "messages": messages,
        "bindings": {
            "kafka": {
                "partitions": spec.partitions,
                "topicConfiguration": _topic_configuration(spec.configs),
                "x-configs": dict(spec.configs),
                "bindingVersion": KAFKA_BINDING_VERSION,
            },
        },
    }


def _operation(
    operation: routes.Operation, channel: dict[str, Any], type_of: dict[str, DataSchema]
) -> dict[str, Any]:
    # A receiver also reads records of older versions still kept on the topic.
    selected = [
        name for name in channel["messages"]
        if type_of[name].event_type in operation.types
        and (type_of[name].current or operation.action == "receive")
    ]
    body: dict[str, Any] = {
        "action": operation.action,
        "channel": {"$ref": f"#/channels/{operation.topic}"},
        "summary": operation.summary,
        "tags": [{"name": operation.process}],
        "x-process": operation.process,
    }
    if selected:
        body["messages"] = [
            {"$ref": f"#/channels/{operation.topic}/messages/{name}"} for name in selected
        ]
    return body


def _check_routes() -> None:
    routed = {event_type for types in routes.TOPIC_TYPES.values() for event_type in types}
    unrouted = sorted(set(EVENT_TYPES) - routed)
    if unrouted:
        raise ContractDocError(
            f"event types {unrouted} are on no topic; add them to "
            "streams.asyncapi.routes.TOPIC_TYPES"
        )

    unknown = sorted(routed - set(EVENT_TYPES))
    if unknown:
        raise ContractDocError(
            f"streams.asyncapi.routes.TOPIC_TYPES names {unknown}, which are not in "
            "streams.contract.EVENT_TYPES; register them or remove them from the table"
        )

    declared = {spec.name for spec in topics.ALL}
    if declared != set(routes.TOPIC_TYPES):
        raise ContractDocError(
            f"streams.asyncapi.routes.TOPIC_TYPES covers {sorted(routes.TOPIC_TYPES)}, but "
            f"streams.topics.ALL declares {sorted(declared)}; make the two lists match"
        )


def build() -> dict[str, Any]:
    """Return the AsyncAPI document as JSON-compatible values."""
    _check_routes()
    schemas = all_schemas()

    components: dict[str, dict[str, Any]] = {}
    component_of: dict[str, str] = {}
    envelope = lift_definitions(envelope_schema(), SCHEMAS_POINTER, components)
    components[ENVELOPE_COMPONENT] = envelope
    for schema in schemas:
        name = _component_name(schema)
        if name in components:
            raise ContractDocError(
                f"schema name {name!r} of {schema.event_type!r} is already used; "
                "give the model a unique class name"
            )
        components[name] = lift_definitions(schema.schema, SCHEMAS_POINTER, components)
        component_of[message_id(schema)] = name

    type_of = {message_id(schema): schema for schema in schemas}
    channels = {spec.name: _channel(spec, schemas, component_of) for spec in topics.ALL}
    operations = {
        operation.operation_id: _operation(operation, channels[operation.topic], type_of)
        for operation in routes.OPERATIONS
    }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Naumu Jira sync topics",
            "version": CONTRACT_VERSION,
            "description": _DESCRIPTION,
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "{bootstrap_servers}",
                "protocol": "kafka",
                "description": "The deployment's Kafka cluster.",
                "variables": {
                    "bootstrap_servers": {
                        "description": "host:port of a broker, as set in KAFKA_BOOTSTRAP_SERVERS",
                    },
                },
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components},
    }
