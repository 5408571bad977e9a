from __future__ import annotations

import pytest

from reconcile.errors import InvalidTimestamp
from reconcile.jiratime import parse_jira_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-10T09:15:02.123+0900", 1710029702123),
        ("2024-03-10T00:15:02.123+0000", 1710029702123),
        ("2024-03-10T00:15:02+0000", 1710029702000),
        ("2024-03-10T00:15:02.123Z", 1710029702123),
        ("2024-03-10T05:45:02.123+05:30", 1710029702123),
        ("1710029702123", 1710029702123),
        (1710029702123, 1710029702123),
    ],
)
def test_parse_jira_time_forms(text: str | int, expected: int):
    assert parse_jira_time(text) == expected


def test_parse_jira_time_without_offset():
    with pytest.raises(InvalidTimestamp, match="no UTC offset"):
        parse_jira_time("2024-03-10T00:15:02.123")


def test_parse_jira_time_garbage():
    with pytest.raises(InvalidTimestamp, match="is invalid"):
        parse_jira_time("yesterday")
