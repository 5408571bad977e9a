"""The error tree of reconciliation, rooted at :class:`ReconcileError`."""

from __future__ import annotations

from streams.errors import SyncError


class ReconcileError(SyncError):
    """Base class of the errors this package raises."""


class ConnectionNotReady(ReconcileError):
    """The connection has no chosen site, so there is nothing to reconcile yet."""


class UnknownConnection(ReconcileError):
    """No active connection exists for the requested space."""


class InvalidTimestamp(ReconcileError):
    """A Jira date-time could not be read."""


class InvalidSetting(ReconcileError, ValueError):
    """A reconciliation, polling or scheduling setting is out of range."""
