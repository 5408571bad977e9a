from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jiraclient.retry import NO_RETRY, RetryPolicy, parse_retry_after

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


def test_retry_after_seconds() -> None:
    assert parse_retry_after("7", now=NOW) == 7.0


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Tue, 10 Mar 2026 12:00:30 GMT", now=NOW) == 30.0


def test_retry_after_past_date_is_zero() -> None:
    assert parse_retry_after("Tue, 10 Mar 2026 11:00:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan"])
def test_retry_after_unreadable_is_absent(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_policy_honours_retry_after() -> None:
    policy = RetryPolicy()
    assert policy.next_delay(failures=1, elapsed_s=0.0, retry_after_s=9.0) == 9.0


def test_policy_jitter_stays_under_doubling_cap() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=100.0, max_attempts=10)
    delays = [
        policy.next_delay(failures=failures, elapsed_s=0.0, random_fraction=lambda: 1.0)
        for failures in (1, 2, 3, 4)
    ]
    assert delays == [1.0, 2.0, 4.0, 8.0]


def test_policy_full_jitter_can_be_zero() -> None:
    policy = RetryPolicy()
    assert policy.next_delay(failures=3, elapsed_s=0.0, random_fraction=lambda: 0.0) == 0.0


def test_policy_cap_limits_delay() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=5.0, max_attempts=50)
    delay = policy.next_delay(failures=40, elapsed_s=0.0, random_fraction=lambda: 1.0)
    assert delay == 5.0


def test_policy_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.next_delay(failures=3, elapsed_s=0.0) is None


def test_policy_gives_up_past_elapsed_budget() -> None:
    policy = RetryPolicy(max_elapsed_s=10.0)
    assert policy.next_delay(failures=1, elapsed_s=8.0, retry_after_s=5.0) is None


def test_policy_gives_up_on_long_retry_after() -> None:
    policy = RetryPolicy(max_retry_after_s=60.0, max_elapsed_s=10_000.0)
    assert policy.next_delay(failures=1, elapsed_s=0.0, retry_after_s=3600.0) is None


def test_no_retry_policy_never_retries() -> None:
    assert NO_RETRY.next_delay(failures=1, elapsed_s=0.0, retry_after_s=1.0) is None


def test_policy_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
