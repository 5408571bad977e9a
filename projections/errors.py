"""Errors raised by the projections: the fold, the mapping and the rich-text converters."""

from __future__ import annotations

from streams.errors import SyncError


class ProjectionError(SyncError):
    """Base class of every error raised under :mod:`projections`."""


class FoldError(ProjectionError):
    """An observation the fold cannot handle; the agent dead-letters it with this reason."""


class StateVersionError(ProjectionError):
    """A stored state carries a ``state_version`` this build cannot read."""

    def __init__(self, kind: str, expected: int, actual: object) -> None:
        super().__init__(
            f"{kind} state has state_version {actual!r}, but this build reads versions 1 to "
            f"{expected}; upgrade the service before it reads state written by a newer one"
        )
        self.kind = kind
        self.expected = expected
        self.actual = actual


class ConversionError(ProjectionError):
    """Rich text that cannot be converted without losing content."""


class ShapeError(ProjectionError):
    """A Jira payload lacks a field the canonical snapshot needs."""
