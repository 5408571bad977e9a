"""The reconciliation schedule read from environment variables."""

from __future__ import annotations

from datetime import UTC, time, timedelta

import pytest

from reconcile.errors import InvalidSetting
from reconcile.settings import ReconcileSettings, settings_from_env


def test_unset_keeps_defaults() -> None:
    assert settings_from_env({}) == ReconcileSettings()


def test_values_read() -> None:
    settings = settings_from_env({
        "RECONCILE_DAILY_AT": "04:15", "RECONCILE_POLL_AFTER_S": "600",
        "RECONCILE_POLL_INTERVAL_S": "120", "RECONCILE_POST_QUIET_REPORTS": "yes",
    })

    assert settings.daily_at == time(4, 15, tzinfo=UTC)
    assert settings.poll_silence == timedelta(seconds=600)
    assert settings.poll_interval == timedelta(seconds=120)
    assert settings.post_quiet_reports is True


@pytest.mark.parametrize(("name", "value"), [
    ("RECONCILE_DAILY_AT", "25:00"),
    ("RECONCILE_DAILY_AT", "3pm"),
    ("RECONCILE_POLL_AFTER_S", "0"),
    ("RECONCILE_POLL_INTERVAL_S", "five"),
    ("RECONCILE_POST_QUIET_REPORTS", "maybe"),
])
def test_invalid_value_named(name: str, value: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        settings_from_env({name: value})

    assert name in str(caught.value)
    assert value in str(caught.value)
