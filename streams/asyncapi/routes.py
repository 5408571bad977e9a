"""The event types each topic carries, and the process that sends or receives them.

The contract module declares the payload of each event type and the topics
module declares each topic. These tables join the two. They are the single
place that states where an event type may appear, and the documents are
generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams import topics

Process = Literal["ingress", "worker"]
Action = Literal["send", "receive"]

OBSERVATION_TYPES: tuple[str, ...] = (
    "jira.issue.observed",
    "jira.issue.gone",
    "jira.project.observed",
    "jira.project.access_lost",
    "jira.sprint.observed",
    "jira.user.observed",
    "jira.changelog.observed",
    "jira.comments.observed",
)

DOMAIN_EVENT_TYPES: tuple[str, ...] = (
    "jira.issue.changed",
    "jira.issue.key_changed",
    "jira.issue.deleted",
    "jira.issue.access_lost",
    "jira.project.changed",
    "jira.sprint.changed",
    "jira.member.changed",
)

GRAPH_CHANGE_TYPES: tuple[str, ...] = (
    "naumu.node.upserted",
    "naumu.node.deleted",
    "naumu.edge.upserted",
    "naumu.edge.deleted",
    "naumu.schema.type_added",
    "naumu.schema.option_added",
)

# Topic name -> the event types its records may carry. The records of a topic
# with no types are not envelopes and are private to the service.
TOPIC_TYPES: dict[str, tuple[str, ...]] = {
    topics.INBOUND.name: (
        "jira.webhook.received",
        *OBSERVATION_TYPES,
        "jira.connection.changed",
        "jira.write.pending",
    ),
    topics.EVENTS.name: DOMAIN_EVENT_TYPES,
    topics.GRAPH_CHANGES.name: GRAPH_CHANGE_TYPES,
    topics.GRAPH_NODES.name: ("naumu.node.upserted", "naumu.node.deleted"),
    topics.EDITS.name: ("naumu.edit.requested",),
    topics.WRITEBACK_RESULTS.name: ("jira.writeback.result",),
    topics.THREADS.name: ("naumu.thread.message_posted",),
    topics.SPACES.name: ("naumu.space.updated",),
    topics.SCHEMAS.name: ("naumu.schema.updated",),
    topics.DEAD_LETTER.name: ("jira.observation.rejected",),
    topics.CONNECTIONS.name: ("jira.connection.snapshot", "jira.import.cursor"),
    topics.WEBHOOK_DEDUP.name: (),
    topics.REFETCH.name: ("jira.issue.refetch_requested",),
    topics.SCHEMA_VALUES.name: ("naumu.schema.values_seen",),
}

# Topics other Naumu services read or write. The rest are the service's own
# working topics: documented for operators, but not a stable interface.
PUBLIC_TOPICS: frozenset[str] = frozenset({
    topics.INBOUND.name,
    topics.EVENTS.name,
    topics.GRAPH_CHANGES.name,
    topics.GRAPH_NODES.name,
    topics.EDITS.name,
    topics.WRITEBACK_RESULTS.name,
    topics.THREADS.name,
    topics.SPACES.name,
    topics.SCHEMAS.name,
})


@dataclass(frozen=True)
class Operation:
    """One process sending or receiving some event types on one topic."""

    operation_id: str
    action: Action
    topic: str
    process: Process
    types: tuple[str, ...]
    summary: str


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "publishWebhookDelivery", "send", topics.INBOUND.name, "ingress",
        ("jira.webhook.received",),
        "The webhook receiver publishes each authenticated delivery with acks=all.",
    ),
    Operation(
        "publishConnectionChange", "send", topics.INBOUND.name, "ingress",
        ("jira.connection.changed",),
        "Connect, site choice and disconnect record the connection's new state in the log.",
    ),
    Operation(
        "publishObservations", "send", topics.INBOUND.name, "worker",
        OBSERVATION_TYPES,
        "The importer, the refetcher and the reconciler publish what Jira's REST API returned.",
    ),
    Operation(
        "publishWritePending", "send", topics.INBOUND.name, "worker",
        ("jira.write.pending",),
        "The write-back announces a change before making it, so its webhook echo is recognised.",
    ),
    Operation(
        "foldObservations", "receive", topics.INBOUND.name, "worker",
        TOPIC_TYPES[topics.INBOUND.name],
        "The fold turns observations into deduplicated, ordered domain events.",
    ),
    Operation(
        "appendDomainEvents", "send", topics.EVENTS.name, "worker",
        DOMAIN_EVENT_TYPES,
        "The fold appends one domain event per change of a Jira entity.",
    ),
    Operation(
        "projectDomainEvents", "receive", topics.EVENTS.name, "worker",
        DOMAIN_EVENT_TYPES,
        "The projection maps domain events to graph changes.",
    ),
    Operation(
        "requestRefetch", "send", topics.REFETCH.name, "worker",
        ("jira.issue.refetch_requested",),
        "The fold asks for the REST v3 issue when a webhook may have changed its description.",
    ),
    Operation(
        "refetchIssues", "receive", topics.REFETCH.name, "worker",
        ("jira.issue.refetch_requested",),
        "The refetcher batches requested issue ids through the bulk fetch endpoint.",
    ),
    Operation(
        "rejectObservation", "send", topics.DEAD_LETTER.name, "worker",
        ("jira.observation.rejected",),
        "The fold sets aside an observation it cannot handle, with the reason and source offset.",
    ),
    Operation(
        "publishGraphChanges", "send", topics.GRAPH_CHANGES.name, "worker",
        GRAPH_CHANGE_TYPES,
        "The projection and the schema agent publish node, edge and schema changes.",
    ),
    Operation(
        "publishNodeState", "send", topics.GRAPH_NODES.name, "worker",
        ("naumu.node.upserted", "naumu.node.deleted"),
        "The projection publishes each node's latest state for consumers to bootstrap from.",
    ),
    Operation(
        "publishSchemaValues", "send", topics.SCHEMA_VALUES.name, "worker",
        ("naumu.schema.values_seen",),
        "The projection reports the node types and select values it met.",
    ),
    Operation(
        "addSchemaValues", "receive", topics.SCHEMA_VALUES.name, "worker",
        ("naumu.schema.values_seen",),
        "The schema agent adds each type and option to the space's schema once.",
    ),
    Operation(
        "readSpaceSchemas", "receive", topics.SCHEMAS.name, "worker",
        ("naumu.schema.updated",),
        "The schema proposal and the schema agent read the types each space already has.",
    ),
    Operation(
        "readSpaceMembers", "receive", topics.SPACES.name, "ingress",
        ("naumu.space.updated",),
        "The ingress checks that a caller is an owner or admin of the space before connecting.",
    ),
    Operation(
        "receiveEdits", "receive", topics.EDITS.name, "worker",
        ("naumu.edit.requested",),
        "The write-back applies each edit to Jira.",
    ),
    Operation(
        "publishWritebackResults", "send", topics.WRITEBACK_RESULTS.name, "worker",
        ("jira.writeback.result",),
        "The write-back reports the outcome of every attempt at an edit.",
    ),
    Operation(
        "postThreadMessages", "send", topics.THREADS.name, "worker",
        ("naumu.thread.message_posted",),
        "The importer and the reconciler post progress, warnings and reports to the import thread.",
    ),
    Operation(
        "recordConnectionState", "send", topics.CONNECTIONS.name, "ingress",
        ("jira.connection.changed",),
        "The ingress records a connection's lifecycle, keyed by space.",
    ),
    Operation(
        "readConnectionState", "receive", topics.CONNECTIONS.name, "worker",
        ("jira.connection.changed",),
        "The worker reads connection state to start and stop syncing each site.",
    ),
    Operation(
        "recordWebhookDelivery", "send", topics.WEBHOOK_DEDUP.name, "ingress", (),
        "The webhook receiver records each delivery id it published.",
    ),
    Operation(
        "readWebhookDeliveries", "receive", topics.WEBHOOK_DEDUP.name, "ingress", (),
        "The webhook receiver rebuilds its set of published delivery ids on start.",
    ),
)
