from __future__ import annotations

from datetime import timedelta

from ingest.webhook_plan import (
    DEFAULT_WEBHOOKS,
    ISSUE_EVENTS,
    Registration,
    WebhookSpec,
    plan_webhooks,
    registration_of,
)

DAY_MS = 86_400_000
NOW = 1_733_300_000_000
SPEC = WebhookSpec(events=ISSUE_EVENTS, jql_filter="project != null")


def _registration(
    webhook_id: int, *, expires_in_days: float | None, jql: str = SPEC.jql_filter
) -> Registration:
    expiry = None if expires_in_days is None else NOW + int(expires_in_days * DAY_MS)
    return Registration(id=webhook_id, events=ISSUE_EVENTS, jql_filter=jql, expires_at_ms=expiry)


def test_plan_fresh_registration_kept():
    plan = plan_webhooks([SPEC], [_registration(1, expires_in_days=29)], now_ms=NOW)

    assert plan.empty
    assert plan.keep == (1,)


def test_plan_expiring_registration_refreshed():
    plan = plan_webhooks([SPEC], [_registration(1, expires_in_days=5)], now_ms=NOW)

    assert plan.refresh == (1,)
    assert plan.register == ()
    assert plan.delete == ()


def test_plan_window_boundary_refreshed():
    plan = plan_webhooks(
        [SPEC],
        [_registration(1, expires_in_days=20)],
        now_ms=NOW,
        refresh_window=timedelta(days=20),
    )

    assert plan.refresh == (1,)


def test_plan_unknown_expiry_refreshed():
    plan = plan_webhooks([SPEC], [_registration(1, expires_in_days=None)], now_ms=NOW)

    assert plan.refresh == (1,)


def test_plan_missing_registration_registered():
    plan = plan_webhooks([SPEC], [], now_ms=NOW)

    assert plan.register == (SPEC,)
    assert plan.refresh == ()


def test_plan_expired_registration_replaced():
    plan = plan_webhooks([SPEC], [_registration(1, expires_in_days=-1)], now_ms=NOW)

    assert plan.register == (SPEC,)
    assert plan.delete == (1,)


def test_plan_other_filter_replaced():
    old = _registration(1, expires_in_days=29, jql='project IN ("OLD")')

    plan = plan_webhooks([SPEC], [old], now_ms=NOW)

    assert plan.register == (SPEC,)
    assert plan.delete == (1,)


def test_plan_fewer_events_not_serving():
    partial = Registration(
        id=1,
        events=frozenset({"jira:issue_created"}),
        jql_filter=SPEC.jql_filter,
        expires_at_ms=NOW + 29 * DAY_MS,
    )

    plan = plan_webhooks([SPEC], [partial], now_ms=NOW)

    assert plan.register == (SPEC,)
    assert plan.delete == (1,)


def test_plan_duplicate_deleted():
    plan = plan_webhooks(
        [SPEC],
        [_registration(2, expires_in_days=1), _registration(1, expires_in_days=3)],
        now_ms=NOW,
    )

    assert plan.refresh == (1,)
    assert plan.delete == (2,)
    assert plan.keep == (1,)


def test_plan_one_registration_per_spec():
    other = WebhookSpec(events=frozenset({"jira:issue_created"}), jql_filter=SPEC.jql_filter)

    plan = plan_webhooks([SPEC, other], [_registration(1, expires_in_days=29)], now_ms=NOW)

    assert plan.register == (other,)
    assert plan.delete == ()


def test_registration_of_epoch_expiry():
    raw = {
        "id": 10000,
        "events": ["jira:issue_created"],
        "jqlFilter": "project = KAN",
        "expirationDate": 1733300000000,
    }

    registration = registration_of(raw)

    assert registration.id == 10000
    assert registration.expires_at_ms == 1733300000000
    assert registration.events == {"jira:issue_created"}


def test_registration_of_text_expiry():
    raw = {
        "id": "7",
        "events": [],
        "jqlFilter": "project = KAN",
        "expirationDate": "2019-06-01T12:42:30.000+0000",
    }

    registration = registration_of(raw)

    assert registration.id == 7
    assert registration.expires_at_ms == 1559392950000


def test_registration_of_unreadable_expiry():
    raw = {"id": 1, "events": [], "jqlFilter": "x", "expirationDate": "soon"}

    assert registration_of(raw).expires_at_ms is None


def test_default_webhooks_json():
    issue_entry = DEFAULT_WEBHOOKS[0].to_json()

    assert issue_entry["jqlFilter"] == "project != null"
    assert issue_entry["events"] == sorted(ISSUE_EVENTS)
