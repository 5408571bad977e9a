from __future__ import annotations

from reconcile.drift import DriftReport, compare, report_text, thread_message


def test_compare_equal_maps():
    drift = compare({"1": 10, "2": 20}, {"1": 10, "2": 20})

    assert drift.total == 0


def test_compare_missing_issue():
    drift = compare({"1": 10, "2": 20}, {"1": 10})

    assert drift.missing == {"2"}
    assert drift.stale == frozenset()
    assert drift.extra == frozenset()


def test_compare_stale_issue():
    drift = compare({"1": 11}, {"1": 10})

    assert drift.stale == {"1"}
    assert drift.to_fetch == {"1"}


def test_compare_graph_ahead_of_census():
    # Search lags writes, so a newer graph version is not drift.
    drift = compare({"1": 10}, {"1": 12})

    assert drift.total == 0


def test_compare_extra_issue():
    drift = compare({"1": 10}, {"1": 10, "9": 5})

    assert drift.extra == {"9"}
    assert drift.to_fetch == frozenset()


def test_compare_counts():
    drift = compare({"1": 10, "2": 30, "3": 1}, {"2": 20, "3": 1, "4": 4, "5": 5})

    assert drift.counts() == {"missing": 1, "stale": 1, "extra": 2}


def _report(**changes: object) -> DriftReport:
    base = DriftReport(run_id="r1", space_id="s1", cloud_id="c1", started_at_ms=0)
    return base.model_copy(update=changes)


def test_report_text_without_drift():
    text = report_text(_report(census_size=40, api_calls=2))

    assert "found no drift" in text
    assert "40 issues" in text


def test_report_text_with_drift():
    text = report_text(_report(census_size=40, missing=2, stale=3, extra=1, deleted=1, repaired=6))

    assert "2 missing, 3 out of date, 1 no longer found by search" in text
    assert "Jira confirmed 1 of them deleted" in text
    assert "6 repairs" in text


def test_report_text_dry_run():
    text = report_text(_report(dry_run=True, missing=1))

    assert text.startswith("Dry-run reconciliation")


def test_report_text_partial():
    text = report_text(_report(partial=True, error="Jira answered 429"))

    assert "stopped early (Jira answered 429)" in text


def test_report_text_access_lost():
    text = report_text(_report(access_lost=1))

    assert "their nodes are kept" in text


def test_thread_message_kind_and_counts():
    message = thread_message(_report(missing=2, stale=1, repaired=3))

    assert message.kind == "drift_report"
    assert message.space_id == "s1"
    assert message.counts["missing"] == 2
    assert message.counts["repaired"] == 3
    assert message.details["run_id"] == "r1"
