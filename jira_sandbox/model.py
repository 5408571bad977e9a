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


# Site catalogue: the configuration objects a Jira site is made of.


@dataclass(frozen=True)
class StatusCategory:
    id: int
    key: str
    name: str
    color_name: str


STATUS_CATEGORIES: dict[str, StatusCategory] = {
    "new": StatusCategory(2, "new", "To Do", "blue-gray"),
    "indeterminate": StatusCategory(4, "indeterminate", "In Progress", "yellow"),
    "done": StatusCategory(3, "done", "Done", "green"),
}


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category_key: str
    description: str = ""

    @property
    def category(self) -> StatusCategory:
        return STATUS_CATEGORIES[self.category_key]


@dataclass(frozen=True)
class Transition:
    """A workflow transition; `from_status_ids` None means a global transition."""

    id: str
    name: str
    to_status_id: str
    from_status_ids: frozenset[str] | None = None
    requires_resolution: bool = False

    def available_from(self, status_id: str) -> bool:
        if status_id == self.to_status_id:
            return False
        return self.from_status_ids is None or status_id in self.from_status_ids


@dataclass(frozen=True)
class Workflow:
    id: str
    name: str
    initial_status_id: str
    status_ids: tuple[str, ...]
    transitions: tuple[Transition, ...]


@dataclass(frozen=True)
class Priority:
    id: str
    name: str
    icon: str
    color: str


@dataclass(frozen=True)
class Resolution:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    hierarchy_level: int
    description: str
    avatar_id: int
    # Set on team-managed projects only, where every project owns its types.
    entity_id: str | None = None

    @property
    def subtask(self) -> bool:
        return self.hierarchy_level < 0


@dataclass
class User:
    account_id: str
    display_name: str
    # None when the user's profile hides the e-mail address.
    email: str | None
    active: bool = True
    account_type: str = "atlassian"
    time_zone: str = "UTC"
    locale: str = "en_US"


@dataclass
class Project:
    id: str
    key: str
    name: str
    # True for team-managed ("next-gen") projects.
    simplified: bool
    workflow_id: str
    issue_type_ids: tuple[str, ...]
    lead_account_id: str
    description: str = ""
    next_number: int = 1
    avatar_id: int = 10421


@dataclass
class Board:
    id: int
    name: str
    type: str
    project_id: str


@dataclass
class Sprint:
    id: int
    name: str
    state: str
    board_id: int
    goal: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    complete_ms: int | None = None


@dataclass
class History:
    """One changelog entry; `items` are shaped like Jira's changelog items."""

    id: int
    author_id: str
    created_ms: int
    items: list[dict[str, Any]]


@dataclass
class Comment:
    id: int
    author_id: str
    # ADF document.
    body: dict[str, Any]
    created_ms: int
    updated_ms: int
    update_author_id: str


@dataclass(eq=False)
class IssueRecord:
    """Compact mutable state of one issue; JSON is rendered from it on request."""

    id: int
    key: str
    project_id: str
    issue_type_id: str
    summary: str
    status_id: str
    reporter_id: str
    creator_id: str
    created_ms: int
    updated_ms: int
    status_changed_ms: int
    priority_id: str | None = None
    assignee_id: str | None = None
    parent_id: int | None = None
    labels: list[str] = field(default_factory=list)
    sprint_ids: list[int] = field(default_factory=list)
    resolution_id: str | None = None
    resolution_ms: int | None = None
    # ADF document, None for an empty description. Generated issues leave it
    # unset and keep `description_seed`, so the ADF is built on first read.
    description: dict[str, Any] | None = None
    description_seed: int | None = None
    old_keys: list[str] = field(default_factory=list)
    histories: list[History] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    deleted: bool = False
    # Grows with every change; rendered JSON is cached per version.
    version: int = 0


class SandboxError(Exception):
    """Base class of every error the sandbox raises."""


class JiraApiError(SandboxError):
    """A failure Jira reports with `{"errorMessages": [...], "errors": {...}}`."""

    def __init__(
        self,
        status: int,
        error_messages: list[str] | None = None,
        errors: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.error_messages = error_messages or []
        self.errors = errors or {}
        super().__init__(f"HTTP {status}: {self.error_messages} {self.errors}")

    def body(self) -> dict[str, Any]:
        return {"errorMessages": list(self.error_messages), "errors": dict(self.errors)}


ISSUE_NOT_FOUND_MESSAGE = "Issue does not exist or you do not have permission to see it."


def issue_not_found() -> JiraApiError:
    return JiraApiError(404, [ISSUE_NOT_FOUND_MESSAGE])
