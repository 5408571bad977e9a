"""The topic contract: the ``data`` model of every event type, by topic.

Other Naumu services build on these shapes, so they change only additively
within a schema version. A breaking change gets a new ``schemaversion`` and an
upcaster in :mod:`streams.codec`, the one place where old versions are read.

Event types are named in the past tense after what happened. ``subject`` is
always the record key of the topic the event is written to.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class EventData(BaseModel):
    """Base of every event payload: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- jira.inbound: observations, exactly as received -------------------------------------

ObservationOrigin = Literal["webhook", "import", "poll", "reconcile", "refetch"]


class WebhookReceived(EventData):
    """A webhook delivery that passed authentication, with its body untouched."""

    space_id: str
    cloud_id: str
    delivery_id: str
    webhook_event: str
    retry: int = 0
    received_at_ms: int
    payload: dict[str, Any]


class IssueObserved(EventData):
    """One issue as REST v3 returned it (ADF description), from import, poll or refetch."""

    space_id: str
    cloud_id: str
    origin: ObservationOrigin
    issue: dict[str, Any]
    sprint_field_id: str | None = None
    epic_link_field_id: str | None = None
    observed_at_ms: int


class IssueGone(EventData):
    """Jira returned 404 for an issue the graph contains, which confirms the deletion."""

    space_id: str
    cloud_id: str
    origin: ObservationOrigin
    issue_id: str
    key: str | None = None
    observed_at_ms: int


class ProjectObserved(EventData):
    space_id: str
    cloud_id: str
    origin: ObservationOrigin
    project: dict[str, Any]
    observed_at_ms: int


class ProjectAccessLost(EventData):
    """A project vanished from the account's view; its nodes are kept."""

    space_id: str
    cloud_id: str
    origin: ObservationOrigin
    project_id: str
    observed_at_ms: int


class SprintObserved(EventData):
    space_id: str
    cloud_id: str
    origin: ObservationOrigin
    sprint: dict[str, Any]
    observed_at_ms: int


class UserObserved(EventData):
    space_id: str
    cloud_id: str
    origin: ObservationOrigin
    user: dict[str, Any]
    observed_at_ms: int


class ChangelogObserved(EventData):
    """An issue's full change history, paged past the cap embedded in the issue."""

    space_id: str
    cloud_id: str
    origin: ObservationOrigin
    issue_id: str
    histories: list[dict[str, Any]]
    observed_at_ms: int


class CommentsObserved(EventData):
    space_id: str
    cloud_id: str
    origin: ObservationOrigin
    issue_id: str
    comments: list[dict[str, Any]]
    observed_at_ms: int


class ConnectionChanged(EventData):
    """A connection began, chose its site, or was disconnected."""

    space_id: str
    cloud_id: str
    account_id: str
    state: Literal["connected", "disconnected", "reauthorisation_required"]
    observed_at_ms: int


class ConnectionSnapshot(EventData):
    """The whole state of one space's connection (``jira.connections``, compacted).

    Internal to the service. ``tokens`` is Fernet ciphertext, never plain tokens.
    """

    space_id: str
    connection_id: str
    account_id: str
    cloud_id: str | None
    site_candidates: list[dict[str, Any]]
    status: Literal["pending_site", "active", "reauthorisation_required", "disconnected"]
    tokens: str | None
    webhook_ids: list[int] = []
    webhook_expires_at_ms: int | None = None
    created_by: str
    updated_at_ms: int
    revision: int = 1


class ImportCursorSaved(EventData):
    """The position of a space's import, committed with the page it follows.

    Internal to the service, on ``jira.connections`` under the key ``{space id}:import``.
    """

    space_id: str
    cloud_id: str
    run_id: str
    phase: str
    catalogued: bool = False
    project_ids: list[str] = []
    project_index: int = 0
    last_issue_id: int | None = None
    page_token: str | None = None
    sprint_field_id: str | None = None
    epic_link_field_id: str | None = None
    counts: dict[str, int] = {}
    reason: str | None = None
    started_at_ms: int
    updated_at_ms: int


class WritePending(EventData):
    """The write-back is about to change an issue; webhooks that match it are echoes."""

    space_id: str
    cloud_id: str
    issue_id: str
    edit_id: str
    fields: dict[str, Any]
    observed_at_ms: int


# --- jira.events: the event log ---------------------------------------------------------


class IssueVersion(EventData):
    """Jira's own version of an issue: ``updated`` first, the changelog id to break ties."""

    updated_ms: int
    changelog_id: int = 0


class IssueChanged(EventData):
    """The issue's canonical snapshot after a change, with the fields that changed."""

    space_id: str
    cloud_id: str
    issue_id: str
    key: str
    version: IssueVersion
    changed_fields: list[str]
    snapshot: dict[str, Any]
    echo_of: str | None = None


class IssueKeyChanged(EventData):
    space_id: str
    cloud_id: str
    issue_id: str
    old_key: str
    new_key: str
    version: IssueVersion


class IssueDeleted(EventData):
    space_id: str
    cloud_id: str
    issue_id: str
    key: str | None
    version: IssueVersion


class IssueAccessLost(EventData):
    space_id: str
    cloud_id: str
    issue_id: str
    project_id: str


class ProjectChanged(EventData):
    space_id: str
    cloud_id: str
    project_id: str
    snapshot: dict[str, Any]
    access_lost: bool = False


class SprintChanged(EventData):
    space_id: str
    cloud_id: str
    sprint_id: str
    snapshot: dict[str, Any]
    deleted: bool = False


class MemberChanged(EventData):
    space_id: str
    cloud_id: str
    account_id: str
    snapshot: dict[str, Any]


class ObservationRejected(EventData):
    """An authentic observation the fold could not handle; kept for a later fix."""

    space_id: str | None
    cloud_id: str | None
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    raw: str


class IssueRefetchRequested(EventData):
    """The fold needs the canonical v3 issue (for example its ADF description)."""

    space_id: str
    cloud_id: str
    issue_id: str
    reason: str
    min_updated_ms: int


class SchemaValuesSeen(EventData):
    """Node types and select values the projection met, for the schema agent to add once."""

    space_id: str
    types: list[str] = []
    options: dict[str, list[str]] = {}


# --- naumu.graph.changes and naumu.graph.nodes ------------------------------------------


class NodeUpserted(EventData):
    space_id: str
    node_id: str
    node_type: str
    label: str
    content_markdown: str | None
    content_adf: dict[str, Any] | None
    attributes: dict[str, Any]
    aliases: list[str]
    created: str
    updated: str
    source: dict[str, str]
    access_lost: bool = False


class NodeDeleted(EventData):
    space_id: str
    node_id: str
    reason: Literal["deleted"]


class EdgeUpserted(EventData):
    space_id: str
    edge_id: str
    edge_type: str
    from_node: str
    to_node: str


class EdgeDeleted(EventData):
    space_id: str
    edge_id: str
    edge_type: str
    from_node: str
    to_node: str


class SchemaTypeAdded(EventData):
    space_id: str
    type_name: str
    reused_existing: bool
    attributes: dict[str, str]


class SchemaOptionAdded(EventData):
    space_id: str
    type_name: str
    attribute: str
    option: str


# --- naumu.edits and jira.writeback.results ---------------------------------------------

EditField = Literal[
    "label", "content", "Status", "Priority", "Labels", "assignee", "parent", "sprint"
]


class EditRequested(EventData):
    """A Naumu user changed one field of an imported node.

    ``base`` is the value the user saw before editing; the write-back compares it
    with Jira's current value to detect conflicts.
    """

    edit_id: str
    space_id: str
    node_id: str
    user_id: str
    field: EditField
    value: Any
    base: Any = None


WritebackOutcome = Literal["applied", "conflict", "rejected", "retrying", "failed"]


class WritebackResult(EventData):
    """The outcome of one edit. ``jira_value`` and ``edit_value`` are set on conflicts.

    ``field`` repeats the edit's field. It is one of the editable fields, except in a
    ``rejected`` result for an edit whose field the service does not know.
    """

    edit_id: str
    space_id: str
    node_id: str
    field: str
    outcome: WritebackOutcome
    reason: str | None = None
    jira_value: Any = None
    edit_value: Any = None
    attempt: int = 1


# --- naumu.threads, naumu.spaces, naumu.schemas -----------------------------------------


class ThreadMessagePosted(EventData):
    """One message of a space's import thread, as Naumu shows it."""

    space_id: str
    kind: Literal["connected", "schema_proposal", "progress", "warning", "completed",
                  "reauthorisation_required", "drift_report", "disconnected"]
    text: str
    counts: dict[str, int] = {}
    details: dict[str, Any] = {}


SpaceRole = Literal["owner", "admin", "member"]


class SpaceUpdated(EventData):
    """The members of a space and their roles (compacted: the latest record wins)."""

    space_id: str
    members: dict[str, SpaceRole]


class SchemaAttribute(EventData):
    name: str
    kind: Literal["text", "select", "multi_select", "date", "number", "relation"]
    options: list[str] = []


class SchemaNodeType(EventData):
    name: str
    attributes: list[SchemaAttribute] = []


class SpaceSchemaUpdated(EventData):
    """The node types a space already has (compacted: the latest record wins)."""

    space_id: str
    types: list[SchemaNodeType]


# --- the registry -----------------------------------------------------------------------

EVENT_TYPES: dict[str, type[EventData]] = {
    "jira.webhook.received": WebhookReceived,
    "jira.issue.observed": IssueObserved,
    "jira.issue.gone": IssueGone,
    "jira.project.observed": ProjectObserved,
    "jira.project.access_lost": ProjectAccessLost,
    "jira.sprint.observed": SprintObserved,
    "jira.user.observed": UserObserved,
    "jira.changelog.observed": ChangelogObserved,
    "jira.comments.observed": CommentsObserved,
    "jira.connection.changed": ConnectionChanged,
    "jira.write.pending": WritePending,
    "jira.connection.snapshot": ConnectionSnapshot,
    "jira.import.cursor": ImportCursorSaved,
    "jira.issue.changed": IssueChanged,
    "jira.issue.key_changed": IssueKeyChanged,
    "jira.issue.deleted": IssueDeleted,
    "jira.issue.access_lost": IssueAccessLost,
    "jira.project.changed": ProjectChanged,
    "jira.sprint.changed": SprintChanged,
    "jira.member.changed": MemberChanged,
    "jira.observation.rejected": ObservationRejected,
    "jira.issue.refetch_requested": IssueRefetchRequested,
    "naumu.schema.values_seen": SchemaValuesSeen,
    "naumu.node.upserted": NodeUpserted,
    "naumu.node.deleted": NodeDeleted,
    "naumu.edge.upserted": EdgeUpserted,
    "naumu.edge.deleted": EdgeDeleted,
    "naumu.schema.type_added": SchemaTypeAdded,
    "naumu.schema.option_added": SchemaOptionAdded,
    "naumu.edit.requested": EditRequested,
    "jira.writeback.result": WritebackResult,
    "naumu.thread.message_posted": ThreadMessagePosted,
    "naumu.space.updated": SpaceUpdated,
    "naumu.schema.updated": SpaceSchemaUpdated,
}

TYPE_OF: dict[type[EventData], str] = {model: name for name, model in EVENT_TYPES.items()}

# The schema version each type is written with today; the codec upcasts older ones.
CURRENT_VERSION: dict[str, int] = {name: 1 for name in EVENT_TYPES}
CURRENT_VERSION["jira.webhook.received"] = 2
