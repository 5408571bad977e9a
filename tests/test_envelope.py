"""The CloudEvents envelope and the codec: round trips, upcasting and rejected records."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from streams import codec
from streams.contract import (
    CURRENT_VERSION,
    EventData,
    IssueRefetchRequested,
    NodeUpserted,
    ThreadMessagePosted,
    WebhookReceived,
)
from streams.envelope import Envelope
from streams.errors import CodecError, SchemaVersionError, UnknownEventTypeError


def _refetch() -> IssueRefetchRequested:
    return IssueRefetchRequested(
        space_id="space-1", cloud_id="cloud-1", issue_id="10042", reason="description",
        min_updated_ms=1_700_000_000_000,
    )


def test_round_trip_equal() -> None:
    envelope = codec.make(_refetch(), source="/naumu-jira/fold", subject="cloud-1:10042")

    decoded = codec.decode(codec.encode(envelope))

    assert decoded == envelope


def test_round_trip_parses_data() -> None:
    envelope = codec.make(_refetch(), source="/naumu-jira/fold", subject="cloud-1:10042")

    decoded = codec.decode(codec.encode(envelope))

    assert codec.parse(decoded) == _refetch()


def test_encoded_cloudevent_attributes() -> None:
    envelope = codec.make(_refetch(), source="/naumu-jira/fold", subject="cloud-1:10042",
                          event_id="evt-1")

    event = orjson.loads(codec.encode(envelope))

    assert event["specversion"] == "1.0"
    assert event["id"] == "evt-1"
    assert event["type"] == "jira.issue.refetch_requested"
    assert event["subject"] == "cloud-1:10042"
    assert event["datacontenttype"] == "application/json"
    assert event["schemaversion"] == CURRENT_VERSION["jira.issue.refetch_requested"]
    assert event["time"].endswith("Z")


def test_time_kept_to_milliseconds() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    envelope = Envelope(source="s", type="jira.issue.refetch_requested", subject="k",
                        time=moment, data={})

    assert envelope.time.microsecond == 123000


def test_naive_time_rejected() -> None:
    with pytest.raises(ValidationError, match="no UTC offset"):
        Envelope(source="s", type="t", subject="k", time=datetime(2026, 3, 1), data={})


def _webhook_v1_record() -> bytes:
    return orjson.dumps({
        "specversion": "1.0",
        "id": "delivery-7",
        "source": "/naumu-jira/ingress",
        "type": "jira.webhook.received",
        "subject": "cloud-1:10042",
        "time": "2026-03-01T12:00:00.000Z",
        "datacontenttype": "application/json",
        "schemaversion": 1,
        "data": {
            "space_id": "space-1",
            "cloud_id": "cloud-1",
            "delivery_id": "delivery-7",
            "webhook_event": "jira:issue_updated",
            "received_at": "2026-03-01T12:00:00+00:00",
            "payload": {"issue": {"id": "10042"}},
        },
    })


def test_webhook_v1_upcast_version() -> None:
    decoded = codec.decode(_webhook_v1_record())

    assert decoded.schemaversion == CURRENT_VERSION["jira.webhook.received"]


def test_webhook_v1_upcast_data() -> None:
    decoded = codec.decode(_webhook_v1_record())

    webhook = codec.data_of(decoded, WebhookReceived)

    assert webhook.received_at_ms == int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp() * 1000)
    assert webhook.retry == 0
    assert webhook.payload == {"issue": {"id": "10042"}}


def test_unknown_type_named() -> None:
    record = orjson.dumps({"specversion": "1.0", "id": "x", "source": "s",
                           "type": "jira.issue.teleported", "subject": "k",
                           "time": "2026-03-01T12:00:00Z", "schemaversion": 1, "data": {}})

    with pytest.raises(UnknownEventTypeError, match=r"jira\.issue\.teleported"):
        codec.decode(record)


def test_future_version_named() -> None:
    record = orjson.dumps({"specversion": "1.0", "id": "x", "source": "s",
                           "type": "jira.issue.refetch_requested", "subject": "k",
                           "time": "2026-03-01T12:00:00Z", "schemaversion": 99, "data": {}})

    with pytest.raises(SchemaVersionError, match="schema version 99") as caught:
        codec.decode(record)

    assert caught.value.actual == 99
    assert caught.value.expected == CURRENT_VERSION["jira.issue.refetch_requested"]


def test_invalid_json_rejected() -> None:
    with pytest.raises(CodecError, match="not valid JSON"):
        codec.decode(b"{not json")


def test_data_of_wrong_type() -> None:
    envelope = codec.make(_refetch(), source="s", subject="k")

    with pytest.raises(CodecError, match=r"expected 'jira\.webhook\.received'"):
        codec.data_of(envelope, WebhookReceived)


def test_internal_state_records_match_contract() -> None:
    # The registry and the importer write these records with their own models; the
    # contract's models must accept exactly what they write.
    from ingest.connection import Connection, ConnectionStatus, SiteCandidate
    from ingest.import_cursor import ImportCursor, ImportPhase
    from streams.contract import ConnectionSnapshot, ImportCursorSaved

    connection = Connection(
        space_id="space-1", connection_id="conn-1", account_id="acct-1", cloud_id="cloud-1",
        site_candidates=(SiteCandidate(cloud_id="cloud-1", name="site", url="https://x"),),
        status=ConnectionStatus.ACTIVE, tokens="ciphertext", webhook_ids=(10000,),
        created_by="user-1", updated_at_ms=1,
    )
    cursor = ImportCursor(space_id="space-1", cloud_id="cloud-1", run_id="run-1",
                          phase=ImportPhase.ISSUES, started_at_ms=1, updated_at_ms=2)

    snapshot = ConnectionSnapshot.model_validate(connection.model_dump(mode="json"))
    saved = ImportCursorSaved.model_validate(cursor.model_dump(mode="json"))

    assert snapshot.model_dump(mode="json") == connection.model_dump(mode="json")
    assert saved.model_dump(mode="json") == cursor.model_dump(mode="json")


PLAIN_CASES: list[EventData] = [
    NodeUpserted(
        space_id="space-1", node_id="n-1", node_type="Story", label="Fix login",
        content_markdown="**x**", attributes={"Status": "Done", "Labels": ["a"], "Priority": None},
        content_adf={"type": "doc", "version": 1, "content": [{"type": "paragraph"}]},
        aliases=["KAN-1"], created="2026-01-01T00:00:00.000Z",
        updated="2026-01-02T00:00:00.000Z", source={"system": "jira"},
    ),
    NodeUpserted.model_construct(
        space_id="space-1", node_id="n-2", node_type="Bug", label="Crash",
        content_markdown=None, content_adf=None, attributes={}, aliases=[],
        created="2026-01-01T00:00:00.000Z", updated="2026-01-01T00:00:00.000Z", source={},
    ),
    ThreadMessagePosted(space_id="space-1", kind="progress", text="t", counts={"issues": 1},
                        details={"nested": [1, 2.5, None, True]}),
]


@pytest.mark.parametrize("data", PLAIN_CASES, ids=lambda data: type(data).__name__)
def test_plain_data_same_as_model_dump(data: EventData) -> None:
    envelope = codec.make(data, source="/test", subject="s")

    assert envelope.data == data.model_dump(mode="json")
