from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.importer import SOURCE, observation_envelope
from ingest.webhooks import SOURCE as WEBHOOK_SOURCE
from ingest.webhooks import received_envelope
from streams.codec import encode, make
from streams.contract import (
    ChangelogObserved,
    CommentsObserved,
    EventData,
    IssueObserved,
    ProjectObserved,
    SprintObserved,
    ThreadMessagePosted,
    UserObserved,
    WebhookReceived,
)

TIME = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)
ISSUE: dict[str, Any] = {
    "id": "10001",
    "key": "KAN-1",
    "fields": {
        "summary": "Fix login ✓",
        "labels": ["a", "b"],
        "story_points": 2.5,
        "estimate": 3,
        "flagged": False,
        "parent": None,
        "description": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]},
    },
    "changelog": {"total": 1, "histories": [{"id": "1", "items": []}]},
}
COMMON: dict[str, Any] = {"space_id": "s-1", "cloud_id": "c-1", "origin": "import",
                          "observed_at_ms": 1_700_000_000_000}
CASES: list[EventData] = [
    IssueObserved(**COMMON, issue=ISSUE, sprint_field_id="customfield_10020"),
    ChangelogObserved(**COMMON, issue_id="10001", histories=[{"id": "1", "items": [{"f": 1}]}]),
    CommentsObserved(**COMMON, issue_id="10001", comments=[{"id": "7", "body": {"type": "doc"}}]),
    ProjectObserved(**COMMON, project={"id": "100", "key": "KAN"}),
    UserObserved(**COMMON, user={"accountId": "5b1", "active": True}),
    SprintObserved(**COMMON, sprint={"id": 3, "state": "active"}),
    ThreadMessagePosted(space_id="s-1", kind="progress", text="t", counts={"issues": 1}),
]


@pytest.mark.parametrize("data", CASES, ids=lambda data: type(data).__name__)
def test_observation_envelope_matches_make(data: EventData) -> None:
    fast = observation_envelope(data, subject="c-1:10001", event_id="e-1")
    expected = make(data, source=SOURCE, subject="c-1:10001", event_id="e-1")

    fast = fast.model_copy(update={"time": TIME})
    expected = expected.model_copy(update={"time": TIME})
    assert fast == expected
    assert encode(fast) == encode(expected)


def test_observation_envelope_new_id_without_stable() -> None:
    first = observation_envelope(CASES[0], subject="k", event_id=None)
    second = observation_envelope(CASES[0], subject="k", event_id=None)

    assert first.id != second.id


def test_received_envelope_matches_make() -> None:
    received = WebhookReceived(space_id="s-1", cloud_id="c-1", delivery_id="d-1",
                               webhook_event="jira:issue_updated", retry=1,
                               received_at_ms=1_700_000_000_000,
                               payload={"webhookEvent": "jira:issue_updated", "issue": ISSUE})

    fast = received_envelope(received, subject="c-1:10001", event_id="e-1")
    expected = make(received, source=WEBHOOK_SOURCE, subject="c-1:10001", event_id="e-1")

    fast = fast.model_copy(update={"time": TIME})
    expected = expected.model_copy(update={"time": TIME})
    assert fast == expected
    assert encode(fast) == encode(expected)
