"""Prometheus metrics of the ingress and the Jira-calling services."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOK_DELIVERIES = Counter(
    "naumu_jira_webhook_deliveries_total",
    "Webhook deliveries received, by outcome",
    ["outcome"],
)
WEBHOOK_PUBLISH_SECONDS = Histogram(
    "naumu_jira_webhook_publish_seconds",
    "Time from a delivery's arrival until the broker acknowledged it",
)
IMPORTED_ISSUES = Counter(
    "naumu_jira_imported_issues_total",
    "Issues published by the importer",
)
REFETCHED_ISSUES = Counter(
    "naumu_jira_refetched_issues_total",
    "Issues published by the refetcher, by outcome",
    ["outcome"],
)
CONNECTION_CHANGES = Counter(
    "naumu_jira_connection_changes_total",
    "Connection lifecycle changes, by new state",
    ["state"],
)
