"""Errors of the write-back package, rooted at :class:`WritebackError`."""

from __future__ import annotations

from streams.errors import SyncError


class WritebackError(SyncError):
    """Base class of every error the write-back raises."""


class InvalidTransition(WritebackError):
    """An edit's state was asked to move along an edge the state machine does not have."""

    def __init__(self, current: str, new: str) -> None:
        super().__init__(
            f"an edit in state {current!r} cannot move to {new!r}; this is a bug in the "
            "write-back executor, which must only follow writeback.state.ALLOWED"
        )
        self.current = current
        self.new = new


class ContentNotWritable(WritebackError):
    """The edited Markdown cannot be turned into ADF that Jira accepts."""
