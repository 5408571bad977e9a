"""The sandbox's notion of the current time."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock time plus an offset that tests move forward.

    Every timestamp the sandbox stores or renders comes from `now_ms`, so
    advancing the clock makes tokens expire and issues look older without
    waiting. `now_ms` never returns the same value twice: each call is at
    least one millisecond after the previous one, because Jira's `updated`
    field grows strictly with every change.
    """

    def __init__(self, *, start_ms: int | None = None) -> None:
        real_ms = int(time.time() * 1000)
        self._offset_ms = 0 if start_ms is None else start_ms - real_ms
        self._last_ms = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """Return epoch milliseconds, strictly greater than the previous call."""
        with self._lock:
            current = int(time.time() * 1000) + self._offset_ms
            if current <= self._last_ms:
                current = self._last_ms + 1
            self._last_ms = current
            return current

    def peek_ms(self) -> int:
        """Return epoch milliseconds without reserving a distinct value."""
        with self._lock:
            return max(int(time.time() * 1000) + self._offset_ms, self._last_ms)

    def now_s(self) -> float:
        """Return epoch seconds as a float, for token expiry arithmetic."""
        return self.peek_ms() / 1000

    def advance(self, *, days: float = 0, seconds: float = 0) -> None:
        """Move the clock forward by `days` plus `seconds`.

        Raises ValueError for a negative total, because time only moves
        forward in the sandbox.
        """
        delta_ms = round((days * 86_400 + seconds) * 1000)
        if delta_ms < 0:
            raise ValueError(
                f"cannot move the clock backwards by {delta_ms} ms; pass a positive days or "
                "seconds value"
            )

        with self._lock:
            self._offset_ms += delta_ms
