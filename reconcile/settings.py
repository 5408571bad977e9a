"""Settings of the reconciliation scheduler and the polling fallback, and the daily clock."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from ingest.webhook_plan import DEFAULT_REFRESH_WINDOW, DEFAULT_WEBHOOKS, WebhookSpec
from reconcile.errors import InvalidSetting
from reconcile.poll import DEFAULT_OVERLAP, DEFAULT_SEEN_MAX
from reconcile.run import SiteFields

_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_daily_at(text: str) -> time:
    """Read a UTC time of day written ``HH:MM`` (24-hour clock)."""
    match = _HH_MM.match(text.strip())
    if match is None:
        raise InvalidSetting(
            f"daily time {text!r} is invalid; write it as HH:MM in UTC, e.g. 03:30"
        )
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise InvalidSetting(f"daily time {text!r} is out of range; use 00:00 to 23:59 (UTC)")
    return time(hour, minute, tzinfo=UTC)


def next_run_at(now: datetime, daily_at: time) -> datetime:
    """Return the first instant at ``daily_at`` (UTC) strictly after ``now``."""
    if now.tzinfo is None:
        raise InvalidSetting(f"time {now.isoformat()} has no UTC offset; pass an aware datetime")

    current = now.astimezone(UTC)
    candidate = current.replace(hour=daily_at.hour, minute=daily_at.minute, second=0, microsecond=0)
    if candidate <= current:
        candidate += timedelta(days=1)
    return candidate


@dataclass(frozen=True)
class ReconcileSettings:
    """How often and how the scheduler reconciles, keeps webhooks alive and polls.

    ``tick`` is the longest the scheduler sleeps before it looks again for due
    runs and new connections. ``post_quiet_reports`` also posts scheduled reports
    that found nothing, which otherwise stay out of the import thread.
    """

    daily_at: time = time(3, 0, tzinfo=UTC)
    refresh_window: timedelta = DEFAULT_REFRESH_WINDOW
    poll_silence: timedelta = timedelta(minutes=30)
    poll_interval: timedelta = timedelta(minutes=5)
    poll_overlap: timedelta = DEFAULT_OVERLAP
    seen_max: int = DEFAULT_SEEN_MAX
    tick: timedelta = timedelta(seconds=60)
    post_quiet_reports: bool = False

    def __post_init__(self) -> None:
        for name in ("poll_silence", "poll_interval", "tick"):
            value: timedelta = getattr(self, name)
            if value <= timedelta(0):
                raise InvalidSetting(f"{name}={value} is invalid; use a positive duration")
        if self.poll_overlap < timedelta(0):
            raise InvalidSetting(f"poll_overlap={self.poll_overlap} is invalid; use zero or more")
        if self.seen_max < 1:
            raise InvalidSetting(f"seen_max={self.seen_max} is invalid; use 1 or more")


# Environment variable -> what it sets, for help text and error messages.
VARIABLES: dict[str, str] = {
    "RECONCILE_DAILY_AT": "UTC time of day of each connection's daily run, HH:MM",
    "RECONCILE_POLL_AFTER_S": "seconds without a webhook before polling starts",
    "RECONCILE_POLL_INTERVAL_S": "seconds between polls while webhooks are silent",
    "RECONCILE_POST_QUIET_REPORTS": "true to post scheduled reports that found no drift",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _seconds(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidSetting(
            f"{name}={text!r} is invalid; use a whole number of seconds, 1 or more"
        )
    return timedelta(seconds=value)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidSetting(f"{name}={text!r} is invalid; use true or false")


def settings_from_env(env: Mapping[str, str]) -> ReconcileSettings:
    """Read the scheduler's settings from ``env``; unset variables keep their defaults."""
    defaults = ReconcileSettings()
    daily_text = env.get("RECONCILE_DAILY_AT", "").strip()
    try:
        daily_at = parse_daily_at(daily_text) if daily_text else defaults.daily_at
    except InvalidSetting as exc:
        raise InvalidSetting(f"RECONCILE_DAILY_AT: {exc}") from exc
    return ReconcileSettings(
        daily_at=daily_at,
        poll_silence=_seconds(env, "RECONCILE_POLL_AFTER_S", defaults.poll_silence),
        poll_interval=_seconds(env, "RECONCILE_POLL_INTERVAL_S", defaults.poll_interval),
        post_quiet_reports=_flag(env, "RECONCILE_POST_QUIET_REPORTS",
                                 defaults.post_quiet_reports),
    )


@dataclass(frozen=True)
class ReconcileTarget:
    """One connection the scheduler serves, as the worker describes it.

    ``daily_at`` overrides the scheduler's daily time for this connection.
    ``webhook_url`` is where Jira delivers this connection's webhooks; the
    scheduler keeps ``webhooks`` registered there.
    """

    space_id: str
    cloud_id: str | None
    webhook_url: str
    daily_at: time | None = None
    webhooks: tuple[WebhookSpec, ...] = DEFAULT_WEBHOOKS
    site_fields: SiteFields = field(default_factory=SiteFields)
