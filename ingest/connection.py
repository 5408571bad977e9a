"""The state of one connection between a space and a Jira site, and its transitions."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from ingest.errors import ConflictError


class ConnectionStatus(StrEnum):
    PENDING_SITE = "pending_site"
    ACTIVE = "active"
    REAUTHORISATION_REQUIRED = "reauthorisation_required"
    DISCONNECTED = "disconnected"


# Every status change goes through this table; reconnecting is allowed from every state.
TRANSITIONS: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    ConnectionStatus.PENDING_SITE: frozenset(ConnectionStatus),
    ConnectionStatus.ACTIVE: frozenset(ConnectionStatus),
    ConnectionStatus.REAUTHORISATION_REQUIRED: frozenset(
        {ConnectionStatus.PENDING_SITE, ConnectionStatus.ACTIVE,
         ConnectionStatus.REAUTHORISATION_REQUIRED, ConnectionStatus.DISCONNECTED}
    ),
    ConnectionStatus.DISCONNECTED: frozenset(
        {ConnectionStatus.PENDING_SITE, ConnectionStatus.ACTIVE, ConnectionStatus.DISCONNECTED}
    ),
}


class SiteCandidate(BaseModel):
    """One Jira site the account can reach, from ``accessible-resources``."""

    model_config = ConfigDict(frozen=True)

    cloud_id: str
    name: str
    url: str


class Connection(BaseModel):
    """One space bound to one Jira site through one Atlassian account.

    ``tokens`` is the Fernet ciphertext of the token set, or ``None`` once the
    space disconnected. ``revision`` grows by one with every stored change.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    space_id: str
    connection_id: str
    account_id: str
    cloud_id: str | None
    site_candidates: tuple[SiteCandidate, ...]
    status: ConnectionStatus
    tokens: str | None
    webhook_ids: tuple[int, ...] = ()
    webhook_expires_at_ms: int | None = None
    created_by: str
    updated_at_ms: int
    revision: int = 1

    @property
    def site(self) -> SiteCandidate | None:
        for candidate in self.site_candidates:
            if candidate.cloud_id == self.cloud_id:
                return candidate
        return None

    def evolve(self, **changes: Any) -> Connection:
        """Return a copy with ``changes`` applied, checking any status change."""
        status = changes.get("status")
        if status is not None and status not in TRANSITIONS[self.status]:
            raise ConflictError(
                f"connection of space {self.space_id} cannot change from {self.status} "
                f"to {status}; allowed: {', '.join(sorted(TRANSITIONS[self.status]))}"
            )
        return self.model_copy(update={**changes, "revision": self.revision + 1})

    def public_view(self) -> dict[str, Any]:
        """Return the status as the HTTP interface shows it: never the tokens."""
        site = self.site
        return {
            "space_id": self.space_id,
            "connection_id": self.connection_id,
            "account_id": self.account_id,
            "status": self.status.value,
            "cloud_id": self.cloud_id,
            "site": site.model_dump() if site is not None else None,
            "site_candidates": [candidate.model_dump() for candidate in self.site_candidates],
            "webhooks_registered": len(self.webhook_ids),
            "webhook_expires_at_ms": self.webhook_expires_at_ms,
            "created_by": self.created_by,
            "updated_at_ms": self.updated_at_ms,
        }
