"""Emit JSON-compatible values as block-style YAML.

PyYAML is not a dependency, so the documents are written by this small emitter.
It quotes every string that YAML 1.1 or 1.2 could read as something other than
the same string, using JSON's double-quoted form, which is also valid YAML.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Plain (unquoted) scalars are allowed only for strings built from these
# characters and starting with a letter, "_", "$" or "/", so no YAML indicator,
# number, date or comment can be read into them.
_PLAIN = re.compile(r"[A-Za-z_$/][A-Za-z0-9_./$-]*")

# Words that YAML 1.1 resolves to booleans or null.
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})

_INDENT = 2


def scalar(value: Any) -> str:
    """Return the YAML text of one scalar value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
            return value
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} value {value!r} as YAML; "
                    "pass only JSON-compatible values")


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and len(value) > 0


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def _mapping(value: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"mapping key {key!r} is not a string; YAML output needs string keys")
        if _is_block(item):
            lines.append(f"{pad}{scalar(key)}:")
            lines.extend(_block(item, indent + _INDENT))
        else:
            lines.append(f"{pad}{scalar(key)}: {_inline(item)}")
    return lines


def _sequence(value: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in value:
        if isinstance(item, dict) and item:
            # The first entry of a mapping shares the line of its "- " marker.
            nested = _mapping(item, indent + _INDENT)
            lines.append(f"{pad}- {nested[0][indent + _INDENT:]}")
            lines.extend(nested[1:])
        elif _is_block(item):
            lines.append(f"{pad}-")
            lines.extend(_block(item, indent + _INDENT))
        else:
            lines.append(f"{pad}- {_inline(item)}")
    return lines


def _block(value: dict[str, Any] | list[Any], indent: int) -> list[str]:
    if isinstance(value, dict):
        return _mapping(value, indent)
    return _sequence(value, indent)


def dump(value: dict[str, Any]) -> str:
    """Return ``value`` as a YAML document ending in a newline."""
    return "\n".join(_mapping(value, 0)) + "\n"
