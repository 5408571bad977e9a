"""Errors raised while generating the published contract documents."""

from __future__ import annotations

from streams.errors import SyncError


class ContractDocError(SyncError):
    """The contract cannot be documented as declared; the message names the fix."""
