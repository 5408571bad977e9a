from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.errors import InvalidSetting
from reconcile.poll import PollWindow, SeenSet, next_window, should_poll, window_jql

BERLIN = ZoneInfo("Europe/Berlin")
MINUTE_MS = 60_000


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_next_window_overlaps_checkpoint():
    window = next_window(1_000_000, 2_000_000, overlap=timedelta(minutes=5))

    assert window.start_ms == 1_000_000 - 5 * MINUTE_MS
    assert window.end_ms == 2_000_000


def test_next_window_clock_behind_checkpoint():
    window = next_window(2_000_000, 1_000_000, overlap=timedelta(0))

    assert window.end_ms == 2_000_000


def test_next_window_negative_overlap():
    with pytest.raises(InvalidSetting, match="negative"):
        next_window(0, 1, overlap=timedelta(minutes=-1))


def test_window_jql_uses_epoch_ms():
    jql = window_jql(PollWindow(1733300000000, 1733300600000), ["10001", "10000"])

    assert (
        jql == "project in (10000, 10001) AND updated >= 1733300000000 ORDER BY updated ASC, id ASC"
    )


def test_window_jql_needs_projects():
    with pytest.raises(InvalidSetting, match="bounded"):
        window_jql(PollWindow(0, 1), [])


def test_windows_across_repeated_hour():
    # 2024-10-27 in Berlin: 02:00-03:00 local happens twice (CEST, then CET).
    first_pass = datetime(2024, 10, 27, 2, 30, tzinfo=BERLIN, fold=0)
    second_pass = datetime(2024, 10, 27, 2, 30, tzinfo=BERLIN, fold=1)
    update_ms = _ms(second_pass) + 10 * MINUTE_MS
    checkpoint = _ms(first_pass)

    windows = []
    now = checkpoint
    for _ in range(6):
        now += 20 * MINUTE_MS
        window = next_window(checkpoint, now, overlap=timedelta(minutes=2))
        windows.append(window)
        checkpoint = window.end_ms

    assert _ms(second_pass) - _ms(first_pass) == 3_600_000
    assert any(window.start_ms <= update_ms <= window.end_ms for window in windows)


def test_windows_across_skipped_hour():
    # 2024-03-31 in Berlin: 02:00-03:00 local never happens.
    before = datetime(2024, 3, 31, 1, 50, tzinfo=BERLIN)
    after = datetime(2024, 3, 31, 3, 10, tzinfo=BERLIN)

    window = next_window(_ms(before), _ms(after), overlap=timedelta(0))

    assert window.end_ms - window.start_ms == 20 * MINUTE_MS


def test_window_jql_same_in_every_zone():
    instant = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    in_berlin = instant.astimezone(BERLIN)

    assert window_jql(PollWindow(_ms(instant), 0), ["1"]) == window_jql(
        PollWindow(_ms(in_berlin), 0), ["1"]
    )


@given(
    start=st.integers(min_value=0, max_value=2**41),
    steps=st.lists(st.integers(min_value=-MINUTE_MS, max_value=3_600_000), min_size=1, max_size=30),
    overlap_s=st.integers(min_value=0, max_value=600),
)
def test_windows_never_leave_gaps(start: int, steps: list[int], overlap_s: int):
    checkpoint = start
    now = start
    covered_until = start
    for step in steps:
        now += step
        window = next_window(checkpoint, now, overlap=timedelta(seconds=overlap_s))
        assert window.start_ms <= covered_until
        assert window.end_ms >= window.start_ms
        covered_until = max(covered_until, window.end_ms)
        checkpoint = window.end_ms


def test_seen_set_drops_repeat():
    seen = SeenSet()

    assert seen.add("1", 100) is True
    assert seen.add("1", 100) is False
    assert seen.add("1", 101) is True


def test_seen_set_bounded():
    seen = SeenSet(max_size=2)
    seen.add("1", 1)
    seen.add("2", 2)
    seen.add("3", 3)

    assert len(seen) == 2
    assert ("1", 1) not in seen


def test_seen_set_forgets_old_pairs():
    seen = SeenSet()
    seen.add("1", 100)
    seen.add("2", 300)

    seen.forget_before(200)

    assert ("1", 100) not in seen
    assert ("2", 300) in seen


def test_seen_set_invalid_size():
    with pytest.raises(InvalidSetting, match="seen-set size 0"):
        SeenSet(max_size=0)


def test_should_poll_after_registration_error():
    assert should_poll(
        now_ms=10, last_delivery_ms=9, registration_failed=True, silence=timedelta(hours=1)
    )


def test_should_poll_recent_delivery():
    assert not should_poll(
        now_ms=10 * MINUTE_MS,
        last_delivery_ms=5 * MINUTE_MS,
        registration_failed=False,
        silence=timedelta(minutes=30),
    )


def test_should_poll_after_silence():
    assert should_poll(
        now_ms=40 * MINUTE_MS,
        last_delivery_ms=5 * MINUTE_MS,
        registration_failed=False,
        silence=timedelta(minutes=30),
    )


def test_should_poll_never_delivered():
    assert should_poll(
        now_ms=1, last_delivery_ms=None, registration_failed=False, silence=timedelta(hours=1)
    )
