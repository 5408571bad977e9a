"""Generate the published topic contract: AsyncAPI, JSON Schemas and the topic guide.

Run ``python -m streams.asyncapi --out docs/`` after changing a topic, an event
type or a model in :mod:`streams.contract`, and commit the files it writes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from streams.asyncapi import document, emitter, markdown
from streams.asyncapi.schemas import ENVELOPE_FILE, all_schemas, envelope_schema

log = logging.getLogger(__name__)

ASYNCAPI_FILE = "asyncapi.yaml"
TOPICS_FILE = "topics.md"
SCHEMAS_DIR = "schemas"


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2, ensure_ascii=True) + "\n"


def render() -> dict[str, str]:
    """Return every generated file's text by its path relative to the output folder."""
    files = {
        ASYNCAPI_FILE: emitter.dump(document.build()),
        TOPICS_FILE: markdown.render(),
        f"{SCHEMAS_DIR}/{ENVELOPE_FILE}": _json(envelope_schema()),
    }
    for schema in all_schemas():
        files[f"{SCHEMAS_DIR}/{schema.file_name}"] = _json(schema.schema)
    return files


def write(out: Path) -> list[Path]:
    """Write the generated files under ``out`` and delete schema files no longer generated."""
    files = render()

    written: list[Path] = []
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    # A schema file that is no longer generated belongs to a removed type or to an
    # older version that was not frozen. Keeping it would publish a stale shape.
    for path in sorted((out / SCHEMAS_DIR).glob("*.json")):
        if f"{SCHEMAS_DIR}/{path.name}" not in files:
            log.info("deleting schema file %s, which is no longer generated", path)
            path.unlink()
    return written
