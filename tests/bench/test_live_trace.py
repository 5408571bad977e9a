"""The live run's tracing of deliveries to graph changes, and the RSS estimate."""

from __future__ import annotations

from typing import Any

import orjson

from bench.inputs import SPACE_ID, issue_payloads, issue_site, observed_envelope, webhook_bodies
from bench.live_bench import first_change_ids, trace
from bench.replay_bench import estimate_rss, rss_by_progress
from projections.fold import FoldContext
from service.pipeline import derived_id, fold_step, projection_step
from streams import codec
from streams.contract import WebhookReceived
from streams.envelope import Envelope
from streams.steps import Record
from streams.topics import TopicNames, entity_key

NAMES = TopicNames(prefix="trace.")


class _Pipeline:
    """The fold and projection steps over dict states, recording every graph change id."""

    def __init__(self) -> None:
        self.fold = fold_step(NAMES, lambda space_id, cloud_id: FoldContext())
        self.project = projection_step(NAMES)
        self.fold_states: dict[str, dict[str, Any] | None] = {}
        self.node_states: dict[str, dict[str, Any] | None] = {}
        self.change_ids: list[str] = []

    def run(self, envelope: Envelope) -> None:
        folded = self.fold(self.fold_states.get, envelope,
                           Record(NAMES.inbound, 0, 0, envelope.subject))
        self.fold_states.update(folded.states)
        for output in folded.outputs:
            if output.topic != NAMES.events:
                continue
            event = codec.decode(codec.encode(output.envelope))
            projected = self.project(self.node_states.get, event,
                                     Record(NAMES.events, 0, 0, output.key))
            self.node_states.update(projected.states)
            self.change_ids.extend(item.envelope.id for item in projected.outputs
                                   if item.topic == NAMES.graph_changes)


def _webhook(cloud_id: str, body: bytes) -> Envelope:
    payload = orjson.loads(body)
    received = WebhookReceived(space_id=SPACE_ID, cloud_id=cloud_id, delivery_id="d-1",
                               webhook_event=payload["webhookEvent"],
                               received_at_ms=1_800_000_000_000, payload=payload)
    return codec.make(received, source="test",
                      subject=entity_key(cloud_id, str(payload["issue"]["id"])))


def test_first_change_id_follows_pipeline() -> None:
    source = issue_site(3, 5)
    pipeline = _Pipeline()
    for index, issue in enumerate(issue_payloads(source)):
        pipeline.run(observed_envelope(source, issue, index))
    pipeline.change_ids.clear()

    webhook = _webhook(source.cloud_id, webhook_bodies(3, 1, issues=5)[0])
    pipeline.run(webhook)

    assert pipeline.change_ids
    assert next(first_change_ids(webhook.id)) == pipeline.change_ids[0]


def test_trace_measures_latency() -> None:
    first = derived_id(derived_id("env-1", 0), 0)
    received = {"d-1": ("env-1", 1_000)}

    traced = trace(["d-1"], received, {first: 1_040})

    assert traced.latencies_ms == [40.0]
    assert traced.untraced == 0
    assert traced.span_ms == 40.0


def test_trace_counts_untraced() -> None:
    received = {"d-1": ("env-1", 1_000)}

    traced = trace(["d-1", "d-2"], received, {})

    assert traced.latencies_ms == []
    assert traced.untraced == 2


def test_rss_progress_counts_nodes() -> None:
    progress = rss_by_progress([(100.0, 50.0), (250.0, 60.0)], [90, 100, 200, 300])

    assert progress == [(2, 50.0), (3, 60.0)]


def test_rss_estimate_is_linear() -> None:
    progress = [(0, 100.0), (500, 150.0), (1000, 200.0), (1500, 250.0), (2000, 300.0)]

    assert estimate_rss(progress, 10_000) == 1100.0


def test_rss_estimate_needs_samples() -> None:
    assert estimate_rss([(10, 100.0), (20, 110.0)], 10_000) is None
