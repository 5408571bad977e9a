"""The write-back agent's check of an edit value's type, before any Jira request."""

from __future__ import annotations

from typing import Any

import pytest

from service.writeback_agent import invalid_value, rejected_record
from streams.contract import EditRequested
from streams.errors import SyncError


def _edit(field: str, value: Any) -> EditRequested:
    return EditRequested(edit_id="edit-1", space_id="space-1", node_id="node-1",
                         user_id="user-1", field=field, value=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value"), [
    ("label", "New title"),
    ("content", "# Heading\n\ntext"),
    ("Status", "Done"),
    ("Priority", "High"),
    ("Labels", ["a", "b"]),
    ("assignee", "node-7"),
    ("parent", None),
    ("sprint", None),
])
def test_value_of_right_type_accepted(field: str, value: Any) -> None:
    assert invalid_value(_edit(field, value)) is None


@pytest.mark.parametrize(("field", "value"), [
    ("content", 12345),
    ("label", None),
    ("Labels", "a b"),
    ("Labels", ["a", 1]),
    ("assignee", None),
    ("Status", {"name": "Done"}),
])
def test_value_of_wrong_type_rejected(field: str, value: Any) -> None:
    reason = invalid_value(_edit(field, value))

    assert reason is not None
    assert repr(value) in reason


def _raw(data: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps({"specversion": "1.0", "id": "e-1", "source": "/naumu",
                         "type": "naumu.edit.requested", "subject": "space-1",
                         "time": "2026-01-01T00:00:00.000Z", "schemaversion": 1, "data": data})


def _decode_error(raw: bytes) -> SyncError:
    from streams import codec

    try:
        codec.data_of(codec.decode(raw), EditRequested)
    except SyncError as exc:
        return exc
    raise AssertionError("the edit decoded")


def test_unknown_field_answered_rejected() -> None:
    raw = _raw({"edit_id": "edit-9", "space_id": "space-1", "node_id": "node-1",
                "user_id": "user-1", "field": "Summary", "value": "x"})

    result = rejected_record(raw, _decode_error(raw))

    assert result is not None
    assert result.outcome == "rejected"
    assert result.edit_id == "edit-9"
    assert result.field == "Summary"
    assert result.reason is not None
    assert "field" in result.reason
    assert "label" in result.reason


def test_edit_without_id_not_answered() -> None:
    raw = _raw({"space_id": "space-1", "node_id": "node-1", "field": "label", "value": "x"})

    assert rejected_record(raw, _decode_error(raw)) is None


def test_non_json_not_answered() -> None:
    assert rejected_record(b"not json", SyncError("not JSON")) is None
