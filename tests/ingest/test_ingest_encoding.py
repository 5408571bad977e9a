from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.cloudevent import encode_event, event_time
from ingest.deliveries import DELIVERY_TYPE
from ingest.deliveries import SOURCE as DELIVERY_SOURCE
from ingest.importer import SOURCE, observation_envelope
from ingest.webhooks import SOURCE as WEBHOOK_SOURCE
from ingest.webhooks import encode_received
from streams.codec import decode, encode, make
from streams.contract import (
    CURRENT_VERSION,
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
from streams.envelope import Envelope

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


def test_encode_received_matches_codec() -> None:
    payload = {"webhookEvent": "jira:issue_updated", "issue": ISSUE, "user": None,
               "changelog": {"items": [{"from": "1", "to": 2.5, "flag": True}]}}
    received = WebhookReceived(space_id="s-1", cloud_id="c-1", delivery_id="d-1",
                               webhook_event="jira:issue_updated", retry=1,
                               received_at_ms=int(TIME.timestamp() * 1000), payload=payload)

    fast = encode_received(received, subject="c-1:10001", event_id="e-1")
    expected = make(received, source=WEBHOOK_SOURCE, subject="c-1:10001", event_id="e-1")

    assert fast == encode(expected.model_copy(update={"time": TIME}))


def test_encode_received_decodes_to_model() -> None:
    received = WebhookReceived(space_id="s-1", cloud_id="c-1", delivery_id="d-1",
                               webhook_event="jira:issue_updated", retry=0,
                               received_at_ms=1_700_000_000_999,
                               payload={"webhookEvent": "jira:issue_updated", "issue": ISSUE})

    envelope = decode(encode_received(received, subject="c-1:10001", event_id="e-1"))

    assert WebhookReceived.model_validate(envelope.data) == received
    assert envelope.type == "jira.webhook.received"
    assert envelope.schemaversion == CURRENT_VERSION["jira.webhook.received"]


def test_encode_event_matches_codec() -> None:
    data = {"space_id": "s-1", "received_at_ms": 1_700_000_000_000}
    envelope = Envelope(id="e-2", source=DELIVERY_SOURCE, type=DELIVERY_TYPE, subject="c-1:d-1",
                        time=TIME, data=data)

    fast = encode_event(event_id="e-2", source=DELIVERY_SOURCE, event_type=DELIVERY_TYPE,
                        subject="c-1:d-1", time_ms=int(TIME.timestamp() * 1000),
                        schemaversion=1, data=data)

    assert fast == encode(envelope)


@pytest.mark.parametrize("time_ms", [0, 1_700_000_000_123, 1_700_000_000_999, 1_764_888_793_001])
def test_event_time_keeps_millisecond(time_ms: int) -> None:
    moment = datetime.fromtimestamp(time_ms // 1000, UTC).replace(
        microsecond=time_ms % 1000 * 1000)
    expected = Envelope(source="s", type="t", subject="k", data={}, time=moment)

    assert event_time(time_ms) == expected.to_cloudevent()["time"]
