"""The back-off policy shared by every retry loop that calls Jira.

The policy is pure: it takes the failure count, the time spent so far and the
server's Retry-After, and returns the delay before the next attempt or ``None``
to give up. Clocks, sleeps and randomness belong to the caller, so the policy
is tested without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Return the delay in seconds that a Retry-After header requests, or ``None``.

    The header contains either a number of seconds or an HTTP date. A date in the
    past means "now" (0 s); an unreadable value counts as absent.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()

    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter, capped by attempts and elapsed time.

    ``max_attempts`` counts every attempt including the first, so 1 means "never
    retry". ``max_elapsed_s`` bounds the time from the first attempt to the start
    of the next one. A Retry-After longer than ``max_retry_after_s`` gives up at
    once: waiting that long inside one call would stall the caller's partition.
    """

    max_attempts: int = 6
    max_elapsed_s: float = 120.0
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay_s <= 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError(
                f"need 0 < base_delay_s <= max_delay_s, got base_delay_s={self.base_delay_s} "
                f"and max_delay_s={self.max_delay_s}"
            )

    def backoff_cap(self, failures: int) -> float:
        """Return the upper bound of the jittered delay after ``failures`` failures in a row."""
        exponent = min(max(failures - 1, 0), 62)
        return float(min(self.max_delay_s, self.base_delay_s * (2**exponent)))

    def next_delay(
        self,
        *,
        failures: int,
        elapsed_s: float,
        retry_after_s: float | None = None,
        random_fraction: Callable[[], float] = random.random,
    ) -> float | None:
        """Return the seconds to wait before the next attempt, or ``None`` to give up.

        ``failures`` is the number of consecutive failed attempts so far (1 after
        the first failure). The server's ``retry_after_s`` wins over back-off when
        given; otherwise the delay is drawn uniformly from 0 to the back-off cap.
        """
        if failures >= self.max_attempts:
            return None

        if retry_after_s is not None:
            if retry_after_s > self.max_retry_after_s:
                return None
            delay = retry_after_s
        else:
            delay = random_fraction() * self.backoff_cap(failures)

        if elapsed_s + delay > self.max_elapsed_s:
            return None
        return delay


NO_RETRY = RetryPolicy(max_attempts=1)
