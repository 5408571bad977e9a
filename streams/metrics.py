"""Prometheus metrics of the worker's agents.

Each worker serves them at ``/metrics`` on its HTTP endpoint; the ingress serves
its own (see ``ingest/metrics.py``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter(
    "naumu_jira_agent_events_in_total",
    "Records an agent read from its source topic",
    ["agent"],
)
EVENTS_OUT = Counter(
    "naumu_jira_agent_events_out_total",
    "Records an agent published, by destination topic",
    ["agent", "topic"],
)
DEAD_LETTERS = Counter(
    "naumu_jira_agent_dead_letters_total",
    "Records an agent could not handle and sent to the dead-letter topic",
    ["agent"],
)
STEP_SECONDS = Histogram(
    "naumu_jira_agent_step_seconds",
    "Time an agent spent on one record: decode, step, state writes and sends",
    ["agent"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
WEBHOOK_TO_GRAPH_SECONDS = Histogram(
    "naumu_jira_webhook_to_graph_seconds",
    "Time from a webhook's arrival at the ingress until the fold agent read it",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUMER_LAG = Gauge(
    "naumu_jira_consumer_lag_records",
    "Records between an agent's position and the end of its source partition",
    ["topic", "partition"],
)
JIRA_CALLS = Counter(
    "naumu_jira_api_calls_total",
    "Jira REST calls, by method and outcome (HTTP status class or transport error)",
    ["method", "outcome"],
)
WRITEBACK_OUTCOMES = Counter(
    "naumu_jira_writeback_outcomes_total",
    "Final outcomes of Naumu edits written back to Jira, by field",
    ["outcome", "field"],
)
