"""The write-back agent's check of an edit value's type, before any Jira request."""

from __future__ import annotations

from typing import Any

import pytest

from service.writeback_agent import invalid_value
from streams.contract import EditRequested


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
