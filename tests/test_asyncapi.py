"""The published topic contract: generated files are current and agree with the models."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import codec, topics
from streams.asyncapi import document, emitter, examples, render, routes, write
from streams.asyncapi.errors import ContractDocError
from streams.asyncapi.schemas import ENVELOPE_FILE, DataSchema, all_schemas
from streams.contract import CURRENT_VERSION, EVENT_TYPES

DOCS = Path(__file__).resolve().parents[1] / "docs"
REGENERATE = "run `python -m streams.asyncapi --out docs/` and commit the result"


# --- a validator for the JSON Schema keywords the generated schemas use --------------------

ANNOTATIONS = {"title", "description", "default", "examples", "$schema", "$defs"}
ASSERTIONS = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "allOf", "$ref", "format",
}

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
    "number": (int, float), "boolean": (bool,), "null": (type(None),),
}


def _is_type(value: Any, name: str) -> bool:
    # JSON has no integer booleans, though Python's bool is an int.
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[name])


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), f"only local references are supported, got {ref!r}"
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return dict(node)


def errors_of(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$") -> list[str]:
    """Return where ``value`` breaks ``schema``; an empty list means it is valid."""
    found: list[str] = []
    if "$ref" in schema:
        found += errors_of(value, _resolve(root, schema["$ref"]), root, at)
    for part in schema.get("allOf", []):
        found += errors_of(value, part, root, at)
    if "anyOf" in schema and all(errors_of(value, part, root, at) for part in schema["anyOf"]):
        found.append(f"{at}: {value!r} matches no anyOf branch")
    if "const" in schema and value != schema["const"]:
        found.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} is not one of {schema['enum']}")

    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, name) for name in names):
            return [*found, f"{at}: {value!r} is not of type {schema['type']}"]

    if schema.get("format") == "date-time" and isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            found.append(f"{at}: {value!r} is not an RFC 3339 date-time")

    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{at}: required property {name!r} is missing")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                found += errors_of(item, properties[name], root, f"{at}.{name}")
            elif extra is False:
                found.append(f"{at}: property {name!r} is not allowed")
            elif isinstance(extra, dict):
                found += errors_of(item, extra, root, f"{at}.{name}")

    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += errors_of(item, schema["items"], root, f"{at}[{index}]")
    return found


def validate(value: Any, schema: dict[str, Any]) -> list[str]:
    return errors_of(value, schema, schema)


def _keywords(schema: Any, under_properties: bool = False) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, item in schema.items():
            if not under_properties:
                found.add(key)
            if key in ("properties", "$defs"):
                for sub in item.values():
                    found |= _keywords(sub)
            elif key in ("items", "additionalProperties") and isinstance(item, dict):
                found |= _keywords(item)
            elif key in ("anyOf", "allOf"):
                for sub in item:
                    found |= _keywords(sub)
    return found


def _schema_file(name: str) -> dict[str, Any]:
    return dict(json.loads((DOCS / "schemas" / name).read_text(encoding="utf-8")))


SCHEMAS = all_schemas()


def _example(schema: DataSchema) -> examples.Example:
    if schema.current:
        return examples.EXAMPLES[schema.event_type]
    return examples.OLDER_EXAMPLES[(schema.event_type, schema.version)]


def _record(schema: DataSchema) -> dict[str, Any]:
    topic = next(name for name, types in routes.TOPIC_TYPES.items() if schema.event_type in types)
    return examples.envelope(schema.event_type, schema.version, topic, _example(schema))


# --- generated files -----------------------------------------------------------------------


def test_docs_match_generator(tmp_path: Path) -> None:
    write(tmp_path)

    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            relative = path.relative_to(tmp_path)
            committed = DOCS / relative
            assert committed.is_file(), f"docs/{relative} is missing; {REGENERATE}"
            assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
                f"docs/{relative} is out of date; {REGENERATE}"
            )


def test_docs_schemas_have_no_extra_files() -> None:
    generated = {name for name in render() if name.startswith("schemas/")}
    committed = {f"schemas/{path.name}" for path in (DOCS / "schemas").glob("*.json")}

    assert committed - generated == set(), f"stale schema files; {REGENERATE}"


def test_write_deletes_stale_schema(tmp_path: Path) -> None:
    stale = tmp_path / "schemas" / "jira.issue.renamed.v1.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}", encoding="utf-8")

    write(tmp_path)

    assert not stale.exists()


def test_schema_file_per_type_and_version() -> None:
    names = set(render())

    for event_type in EVENT_TYPES:
        current = CURRENT_VERSION[event_type]
        assert f"schemas/{event_type}.v{current}.json" in names
    assert f"schemas/{ENVELOPE_FILE}" in names


# --- schemas against examples and models ---------------------------------------------------


def test_schemas_use_supported_keywords() -> None:
    used = _keywords(_schema_file(ENVELOPE_FILE))
    for schema in SCHEMAS:
        used |= _keywords(schema.schema)

    assert used - ANNOTATIONS - ASSERTIONS == set(), "extend the test validator"


def test_every_type_has_example() -> None:
    assert set(examples.EXAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema.file_name)
def test_example_matches_envelope_schema(schema: DataSchema) -> None:
    assert validate(_record(schema), _schema_file(ENVELOPE_FILE)) == []


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema.file_name)
def test_example_matches_data_schema(schema: DataSchema) -> None:
    record = _record(schema)

    assert validate(record["data"], _schema_file(schema.file_name)) == []


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema.file_name)
def test_example_decodes_to_current_model(schema: DataSchema) -> None:
    envelope = codec.decode(orjson.dumps(_record(schema)))

    data = codec.parse(envelope)

    assert validate(data.model_dump(mode="json"), _schema_file(
        f"{schema.event_type}.v{CURRENT_VERSION[schema.event_type]}.json"
    )) == []


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_encoded_record_matches_schemas(event_type: str) -> None:
    model = EVENT_TYPES[event_type]
    data = model.model_validate(examples.EXAMPLES[event_type].data)

    record = orjson.loads(codec.encode(codec.make(data, source="/test", subject="key")))

    data_schema = _schema_file(f"{event_type}.v{record['schemaversion']}.json")
    assert validate(record, _schema_file(ENVELOPE_FILE)) == []
    assert validate(record["data"], data_schema) == []


def test_validator_rejects_missing_field() -> None:
    data = dict(examples.EXAMPLES["naumu.edit.requested"].data)
    del data["edit_id"]

    assert validate(data, _schema_file("naumu.edit.requested.v1.json")) != []


def test_validator_rejects_unknown_field() -> None:
    data = {**examples.EXAMPLES["naumu.edit.requested"].data, "comment": "x"}

    assert validate(data, _schema_file("naumu.edit.requested.v1.json")) != []


def test_validator_rejects_closed_value() -> None:
    data = {**examples.EXAMPLES["naumu.edit.requested"].data, "field": "summary"}

    assert validate(data, _schema_file("naumu.edit.requested.v1.json")) != []


def test_validator_rejects_bool_as_integer() -> None:
    data = {**examples.EXAMPLES["jira.writeback.result"].data, "attempt": True}

    assert validate(data, _schema_file("jira.writeback.result.v1.json")) != []


def test_envelope_schema_requires_every_attribute() -> None:
    schema = _schema_file(ENVELOPE_FILE)

    assert set(schema["required"]) == set(schema["properties"])


# --- the AsyncAPI document -----------------------------------------------------------------


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []


DOCUMENT = document.build()


def test_document_references_resolve() -> None:
    for ref in _refs(DOCUMENT):
        assert _resolve(DOCUMENT, ref) is not None, ref


def test_document_has_channel_per_topic() -> None:
    assert [channel["address"] for channel in DOCUMENT["channels"].values()] == [
        spec.name for spec in topics.ALL
    ]


def test_document_has_message_per_type() -> None:
    messages = {
        message["payload"]["allOf"][1]["properties"]["type"]["const"]
        for channel in DOCUMENT["channels"].values()
        for message in channel["messages"].values()
    }

    assert messages == set(EVENT_TYPES)


def test_document_partitions_match_topics() -> None:
    for spec in topics.ALL:
        binding = DOCUMENT["channels"][spec.name]["bindings"]["kafka"]
        assert binding["partitions"] == spec.partitions, spec.name
        assert binding["x-configs"] == spec.configs, spec.name


def test_operation_messages_belong_to_channel() -> None:
    for operation_id, operation in DOCUMENT["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        for message in operation.get("messages", []):
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), operation_id


def test_every_channel_has_operation() -> None:
    used = {operation["channel"]["$ref"] for operation in DOCUMENT["operations"].values()}

    assert used == {f"#/channels/{spec.name}" for spec in topics.ALL}


def test_operation_ids_are_valid() -> None:
    for operation_id in DOCUMENT["operations"]:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", operation_id), operation_id


def test_message_example_matches_payload() -> None:
    for channel in DOCUMENT["channels"].values():
        for name, message in channel["messages"].items():
            example = message["examples"][0]["payload"]
            assert validate(example, {**DOCUMENT, **message["payload"]}) == [], name


def test_unrouted_type_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {topic: types for topic, types in routes.TOPIC_TYPES.items()}
    table[topics.EDITS.name] = ()
    monkeypatch.setattr(routes, "TOPIC_TYPES", table)

    with pytest.raises(ContractDocError, match=re.escape("naumu.edit.requested")):
        document.build()


def test_unknown_routed_type_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(routes.TOPIC_TYPES)
    table[topics.EDITS.name] = ("naumu.edit.requested", "naumu.edit.undone")
    monkeypatch.setattr(routes, "TOPIC_TYPES", table)

    with pytest.raises(ContractDocError, match=re.escape("naumu.edit.undone")):
        document.build()


# --- the YAML emitter ----------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_$/][A-Za-z0-9_./$-]*:( |$)")


def _read_scalar(text: str) -> Any:
    if text.startswith('"'):
        return json.loads(text)
    if text in ("{}", "[]"):
        return json.loads(text)
    if text in ("true", "false", "null"):
        return json.loads(text)
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text


def _split_entry(text: str) -> tuple[str, str] | None:
    if text.startswith('"'):
        key, end = json.JSONDecoder().raw_decode(text)
        rest = text[end:]
        return (key, rest[1:].strip()) if rest.startswith(":") else None
    if _PLAIN_KEY.match(text):
        key, _, rest = text.partition(":")
        return key, rest.strip()
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _read_block(lines: list[str], index: int, indent: int) -> tuple[Any, int]:
    """Read the emitter's subset of YAML: block mappings, block sequences, flow scalars."""
    if lines[index].lstrip().startswith("-"):
        items: list[Any] = []
        while index < len(lines) and _indent(lines[index]) == indent:
            rest = lines[index].strip()[1:].strip()
            if not rest:
                item, index = _read_block(lines, index + 1, indent + 2)
            elif _split_entry(rest) is not None:
                lines[index] = " " * (indent + 2) + rest
                item, index = _read_block(lines, index, indent + 2)
            else:
                item, index = _read_scalar(rest), index + 1
            items.append(item)
        return items, index

    mapping: dict[str, Any] = {}
    while index < len(lines) and _indent(lines[index]) == indent:
        entry = _split_entry(lines[index].strip())
        assert entry is not None, f"line {index + 1} is not a mapping entry: {lines[index]!r}"
        key, rest = entry
        if rest:
            mapping[key], index = _read_scalar(rest), index + 1
        else:
            mapping[key], index = _read_block(lines, index + 1, _indent(lines[index + 1]))
    return mapping, index


def read_yaml(text: str) -> Any:
    value, _ = _read_block(text.splitlines(), 0, 0)
    return value


def test_emitter_round_trips_document() -> None:
    assert read_yaml(emitter.dump(DOCUMENT)) == DOCUMENT


@pytest.mark.parametrize("text", [
    "yes", "No", "on", "null", "~", "", "1.0", "3.0.0", "-1", "0x1F", "2026-01-01",
    "a: b", "#comment", "- item", "{x}", "[x]", "*alias", "&anchor", "!tag", "%x", "@x",
    "`x`", "'x'", 'say "hi"', "a #b", "trailing ", " leading", "line\nbreak", "tab\t",
])
def test_emitter_quotes_ambiguous_string(text: str) -> None:
    assert emitter.scalar(text) == json.dumps(text)


@pytest.mark.parametrize("text", ["jira.inbound", "$ref", "/naumu", "cleanup.policy", "KAN-42"])
def test_emitter_keeps_plain_string(text: str) -> None:
    assert emitter.scalar(text) == text


def test_emitter_nested_sequences() -> None:
    value = {"a": [[1, 2], [], {}, [{"b": [3]}]], "c": {"d": []}}

    assert read_yaml(emitter.dump(value)) == value
