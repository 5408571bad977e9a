"""Prometheus metrics of reconciliation and polling.

Gauges carry the site's ``cloud_id`` so an operator sees which site drifts;
counters carry only small fixed label sets.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from reconcile.drift import DriftReport


class ReconcileMetrics:
    """The metrics one scheduler updates, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.drift = Gauge(
            "naumu_jira_reconcile_drift_issues",
            "Drift the last reconciliation found, by site and kind "
            "(missing, stale, extra issues; access_lost projects)",
            ["cloud_id", "kind"],
            registry=registry,
        )
        self.runs = Counter(
            "naumu_jira_reconcile_runs",
            "Reconciliation runs, by outcome (complete, partial, failed) and trigger",
            ["outcome", "trigger"],
            registry=registry,
        )
        self.api_calls = Counter(
            "naumu_jira_reconcile_api_calls",
            "Jira requests made by reconciliation, webhook upkeep and polling",
            ["kind"],
            registry=registry,
        )
        self.repairs = Counter(
            "naumu_jira_reconcile_repairs",
            "Observations published to repair drift",
            registry=registry,
        )
        self.polled = Counter(
            "naumu_jira_poll_observations",
            "Issue updates the polling fallback published",
            registry=registry,
        )
        self.webhooks_failing = Gauge(
            "naumu_jira_webhooks_failing",
            "1 while a site is polled because its webhooks look broken, else 0",
            ["cloud_id"],
            registry=registry,
        )

    def record_run(self, report: DriftReport, trigger: str) -> None:
        outcome = "partial" if report.partial else "complete"
        self.runs.labels(outcome=outcome, trigger=trigger).inc()
        self.api_calls.labels(kind="reconcile").inc(report.api_calls - report.webhook_calls)
        self.api_calls.labels(kind="webhooks").inc(report.webhook_calls)
        self.repairs.inc(report.repaired)
        if report.dry_run or report.partial:
            return

        for kind, value in (
            ("missing", report.missing),
            ("stale", report.stale),
            ("extra", report.extra),
            ("access_lost", report.access_lost),
        ):
            self.drift.labels(cloud_id=report.cloud_id, kind=kind).set(value)
