from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from reconcile.errors import InvalidSetting, UnknownConnection
from reconcile.metrics import ReconcileMetrics
from reconcile.poll import PollWindow, SeenSet, poll_window
from reconcile.schedule import Reconciler
from reconcile.settings import ReconcileSettings, next_run_at, parse_daily_at

DAY_MS = 86_400_000


def _reconciler(world, jira, graph, published, target) -> Reconciler:
    return Reconciler(
        targets=lambda: [target],
        client_for=lambda _: jira,
        graph=graph,
        publish=published,
        metrics=ReconcileMetrics(CollectorRegistry()),
        now=lambda: datetime.fromtimestamp(world.clock.peek_ms() / 1000, UTC),
    )


async def test_run_now_registers_missing_webhooks(world, site, jira, graph, published, target):
    reconciler = _reconciler(world, jira, graph, published, target)

    report = await reconciler.run_now(target.space_id)

    assert report.webhooks_registered == 2
    assert len(world.webhooks.live_registrations(site.cloud_id)) == 2


async def test_run_now_refreshes_old_webhooks(world, site, jira, graph, published, target):
    reconciler = _reconciler(world, jira, graph, published, target)
    await reconciler.run_now(target.space_id)
    world.clock.advance(days=15)

    report = await reconciler.run_now(target.space_id)
    expiries = [item.expires_ms for item in world.webhooks.live_registrations(site.cloud_id)]

    assert report.webhooks_refreshed == 2
    assert report.webhooks_registered == 0
    assert min(expiries) > world.clock.peek_ms() + 29 * DAY_MS


async def test_run_now_recreates_deleted_webhooks(world, site, jira, graph, published, target):
    reconciler = _reconciler(world, jira, graph, published, target)
    await reconciler.run_now(target.space_id)
    world.webhooks.delete(
        site.cloud_id, [item.webhook_id for item in world.webhooks.registrations(site.cloud_id)]
    )

    report = await reconciler.run_now(target.space_id)

    assert report.webhooks_registered == 2
    assert len(world.webhooks.live_registrations(site.cloud_id)) == 2


async def test_run_now_replaces_expired_webhooks(world, site, jira, graph, published, target):
    reconciler = _reconciler(world, jira, graph, published, target)
    await reconciler.run_now(target.space_id)
    world.clock.advance(days=31)

    report = await reconciler.run_now(target.space_id)

    assert report.webhooks_registered == 2
    assert len(world.webhooks.live_registrations(site.cloud_id)) == 2


async def test_run_now_posts_drift_report(world, site, jira, graph, published, target):
    reconciler = _reconciler(world, jira, graph, published, target)
    issue = sorted(site.live_issues(), key=lambda item: item.id)[0]
    site.edit_issue(issue, summary="Changed without a webhook")

    report = await reconciler.run_now(target.space_id, dry_run=True)
    (message,) = published.of_type("naumu.thread.message_posted")
    topics = {topic for topic, _, _ in published.records}

    assert report.stale == 1
    assert topics == {"naumu.threads"}
    assert message.data["kind"] == "drift_report"
    assert message.data["counts"]["stale"] == 1


async def test_run_now_unknown_space(world, jira, graph, published, target):
    reconciler = _reconciler(world, jira, graph, published, target)

    with pytest.raises(UnknownConnection, match="space-9"):
        await reconciler.run_now("space-9")


async def test_run_due_waits_for_daily_time(world, jira, graph, published, target):
    reconciler = _reconciler(world, jira, graph, published, target)

    first = await reconciler.run_due()
    world.clock.advance(days=1, seconds=60)
    second = await reconciler.run_due()

    assert first == []
    assert len(second) == 1


async def test_poll_due_after_silence(world, site, jira, graph, published, target):
    reconciler = _reconciler(world, jira, graph, published, target)
    reconciler.note_delivery(target.space_id, world.clock.peek_ms())
    issue = sorted(site.live_issues(), key=lambda item: item.id)[0]
    world.clock.advance(seconds=60)
    site.edit_issue(issue, summary="Changed while webhooks were silent")

    quiet = await reconciler.poll_due()
    world.clock.advance(seconds=3600)
    (result,) = await reconciler.poll_due()
    observed = published.of_type("jira.issue.observed")

    assert quiet == []
    assert result.published == 1
    assert observed[0].data["origin"] == "poll"
    assert observed[0].data["issue"]["id"] == str(issue.id)


async def test_poll_window_drops_repeats(world, site, jira, published, target):
    issue = sorted(site.live_issues(), key=lambda item: item.id)[0]
    start = world.clock.peek_ms()
    site.edit_issue(issue, summary="Changed once")
    project_ids = sorted(site.projects)
    seen = SeenSet()

    first = await poll_window(
        target,
        client=jira,
        window=PollWindow(start, world.clock.peek_ms()),
        project_ids=project_ids,
        seen=seen,
        publish=published,
    )
    second = await poll_window(
        target,
        client=jira,
        window=PollWindow(start - 60_000, world.clock.peek_ms()),
        project_ids=project_ids,
        seen=seen,
        publish=published,
    )

    assert first.published == 1
    assert second.published == 0
    assert second.repeats == 1


def test_next_run_at_later_today():
    now = datetime(2024, 3, 31, 1, 0, tzinfo=UTC)

    assert next_run_at(now, parse_daily_at("03:30")) == datetime(2024, 3, 31, 3, 30, tzinfo=UTC)


def test_next_run_at_tomorrow():
    now = datetime(2024, 3, 31, 3, 30, tzinfo=UTC)

    assert next_run_at(now, parse_daily_at("03:30")) == datetime(2024, 4, 1, 3, 30, tzinfo=UTC)


def test_parse_daily_at_invalid():
    with pytest.raises(InvalidSetting, match="HH:MM"):
        parse_daily_at("3pm")


def test_settings_reject_zero_interval():
    with pytest.raises(InvalidSetting, match="poll_interval"):
        ReconcileSettings(poll_interval=timedelta(0))
