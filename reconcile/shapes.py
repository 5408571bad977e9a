"""Read the values the Jira client returns, whether JSON mappings or typed objects.

Jira's JSON is the reference shape. A client that wraps it in objects with the
same names (``issues``, ``next_page_token``, ``values``) reads the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def field_of(value: Any, name: str, *aliases: str) -> Any:
    """Return ``value[name]`` or ``value.name``, trying ``aliases`` next; ``None`` when absent."""
    for candidate in (name, *aliases):
        if isinstance(value, Mapping):
            if candidate in value:
                return value[candidate]
        elif hasattr(value, candidate):
            return getattr(value, candidate)
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """Return a JSON object for ``value``: a mapping as is, a pydantic model dumped."""
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped = dump(mode="json", by_alias=True)
        if isinstance(dumped, dict):
            return dumped
    raise TypeError(f"{type(value).__name__} is not a JSON object or a pydantic model")


def issues_of(result: Any) -> list[dict[str, Any]]:
    """Return the issues of a search page or a bulkfetch result, or of a bare list."""
    if isinstance(result, list | tuple):
        return [as_dict(item) for item in result]
    issues = field_of(result, "issues")
    if issues is None:
        return []
    return [as_dict(item) for item in issues]


def items_of(result: Any) -> list[dict[str, Any]]:
    """Return the items of a list response or of an offset page (``values``)."""
    if isinstance(result, list | tuple):
        return [as_dict(item) for item in result]
    values = field_of(result, "values")
    if values is None:
        return []
    return [as_dict(item) for item in values]


def issue_id_of(issue: Mapping[str, Any]) -> str:
    return str(issue["id"])


def updated_of(issue: Mapping[str, Any]) -> Any:
    fields = issue.get("fields") or {}
    return fields.get("updated")
