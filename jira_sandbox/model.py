"""State objects shared by the sandbox's site model, OAuth server and webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jira_sandbox.clock import Clock

if TYPE_CHECKING:
    from jira_sandbox.faults import FaultRegistry
    from jira_sandbox.oauth import OAuthServer
    from jira_sandbox.site import Site
    from jira_sandbox.webhooks import WebhookDispatcher

WEBHOOK_EVENTS = frozenset(
    {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
        "sprint_created",
        "sprint_updated",
        "sprint_started",
        "sprint_closed",
        "sprint_deleted",
    }
)


@dataclass
class Account:
    """An Atlassian account that can grant consent to the OAuth app."""

    account_id: str
    display_name: str
    email: str | None
    # IANA zone name such as "Asia/Kolkata". JQL date literals are read in it
    # and REST timestamps are rendered with its offset.
    time_zone: str
    # Cloud ids of the sites this account can reach.
    site_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChangeEvent:
    """What one mutation produced, before the webhook module turns it into deliveries.

    `issue` is the REST v2 rendering of the issue after the change (its last
    state for deletes): wiki-markup description, `/rest/api/2/` self URLs and
    timestamps in the actor's time zone. `changelog` is
    `{"id": "<numeric string>", "items": [...]}`.
    """

    cloud_id: str
    webhook_event: str
    timestamp_ms: int
    actor: dict[str, Any]
    issue_event_type_name: str | None = None
    issue: dict[str, Any] | None = None
    changelog: dict[str, Any] | None = None
    comment: dict[str, Any] | None = None
    sprint: dict[str, Any] | None = None
    old_sprint: dict[str, Any] | None = None


class World:
    """Every site and account the sandbox serves, plus the servers built on them."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else Clock()
        self.sites: dict[str, Site] = {}
        self.accounts: dict[str, Account] = {}
        self.oauth: OAuthServer | None = None
        self.webhooks: WebhookDispatcher | None = None
        self.faults: FaultRegistry | None = None

    def add_site(self, site: Site) -> None:
        self.sites[site.cloud_id] = site

    def add_account(self, account: Account) -> None:
        self.accounts[account.account_id] = account

    def account_time_zone(self, account_id: str) -> str:
        """Return the account's IANA time zone, or "UTC" for unknown accounts."""
        account = self.accounts.get(account_id)
        return account.time_zone if account is not None else "UTC"
