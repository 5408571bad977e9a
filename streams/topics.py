"""Every topic of the contract, declared once: name, key, partitions, retention.

The logs (``jira.inbound`` and ``jira.events``) are kept forever because replays
rebuild the graph from them. Current-state topics are compacted so a new consumer
reads one record per key. Partition counts are the same for every topic that is
keyed by site and entity, so one entity's records land on the same partition
number everywhere and the agents' tables stay co-partitioned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PARTITIONS = 6


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)
    description: str = ""


_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
_COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
_WEEK = {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * 3600 * 1000)}
_MONTH = {"cleanup.policy": "delete", "retention.ms": str(30 * 24 * 3600 * 1000)}

INBOUND = TopicSpec(
    "jira.inbound", "{cloud_id}:{entity_id}", PARTITIONS, _FOREVER,
    "every observation of Jira as received: webhooks, import pages, polls, reconciliation",
)
EVENTS = TopicSpec(
    "jira.events", "{cloud_id}:{entity_id}", PARTITIONS, _FOREVER,
    "the event log: deduplicated, ordered, versioned domain events per Jira entity",
)
GRAPH_CHANGES = TopicSpec(
    "naumu.graph.changes", "{space_id}:{node_id}", PARTITIONS, _MONTH,
    "node and edge upserts and deletes, schema additions",
)
GRAPH_NODES = TopicSpec(
    "naumu.graph.nodes", "{space_id}:{node_id}", PARTITIONS, _COMPACTED,
    "each node's current state, for new consumers to bootstrap from",
)
EDITS = TopicSpec(
    "naumu.edits", "{space_id}:{node_id}", PARTITIONS, _MONTH,
    "edits Naumu users made to imported nodes",
)
WRITEBACK_RESULTS = TopicSpec(
    "jira.writeback.results", "{edit_id}", PARTITIONS, _MONTH,
    "the outcome of each edit",
)
THREADS = TopicSpec(
    "naumu.threads", "{space_id}", PARTITIONS, _MONTH,
    "import-thread messages",
)
SPACES = TopicSpec(
    "naumu.spaces", "{space_id}", PARTITIONS, _COMPACTED,
    "members of each space and their roles",
)
SCHEMAS = TopicSpec(
    "naumu.schemas", "{space_id}", PARTITIONS, _COMPACTED,
    "the node types each space already has",
)
DEAD_LETTER = TopicSpec(
    "jira.deadletter", "{cloud_id}:{entity_id}", PARTITIONS, _FOREVER,
    "authentic input that could not be parsed or folded, with the reason and raw bytes",
)
CONNECTIONS = TopicSpec(
    "jira.connections", "{space_id}", PARTITIONS, _COMPACTED,
    "connection state per space: site, account, encrypted tokens, lifecycle",
)
WEBHOOK_DEDUP = TopicSpec(
    "jira.webhook.deliveries", "{cloud_id}:{delivery_id}", PARTITIONS, _WEEK,
    "webhook delivery identifiers already published, to deduplicate retries",
)

REFETCH = TopicSpec(
    "jira.refetch", "{cloud_id}:{issue_id}", PARTITIONS, _WEEK,
    "requests to read an issue again through REST v3, batched by the refetcher",
)
SCHEMA_VALUES = TopicSpec(
    "naumu.schema.values", "{space_id}", PARTITIONS, _WEEK,
    "node types and select values the projection met, keyed by space for the schema agent",
)

ALL: tuple[TopicSpec, ...] = (
    INBOUND, EVENTS, GRAPH_CHANGES, GRAPH_NODES, EDITS, WRITEBACK_RESULTS, THREADS,
    SPACES, SCHEMAS, DEAD_LETTER, CONNECTIONS, WEBHOOK_DEDUP, REFETCH, SCHEMA_VALUES,
)

BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in ALL}


def entity_key(cloud_id: str, entity_id: str) -> str:
    """Return the record key of site-scoped topics: ``{cloud_id}:{entity id}``."""
    return f"{cloud_id}:{entity_id}"


def node_key(space_id: str, node_id: str) -> str:
    """Return the record key of graph topics: ``{space_id}:{node id}``."""
    return f"{space_id}:{node_id}"


@dataclass(frozen=True)
class TopicNames:
    """The concrete topic names one deployment uses.

    Production uses the contract's names. Tests and side-by-side deployments on a
    shared broker set a ``prefix`` so their topics never mix with others.
    """

    prefix: str = ""

    def of(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def specs(self) -> tuple[TopicSpec, ...]:
        """Return every contract topic renamed with this prefix."""
        return tuple(
            TopicSpec(self.of(spec), spec.key, spec.partitions, spec.configs, spec.description)
            for spec in ALL
        )

    @property
    def inbound(self) -> str:
        return self.of(INBOUND)

    @property
    def events(self) -> str:
        return self.of(EVENTS)

    @property
    def graph_changes(self) -> str:
        return self.of(GRAPH_CHANGES)

    @property
    def graph_nodes(self) -> str:
        return self.of(GRAPH_NODES)

    @property
    def edits(self) -> str:
        return self.of(EDITS)

    @property
    def writeback_results(self) -> str:
        return self.of(WRITEBACK_RESULTS)

    @property
    def threads(self) -> str:
        return self.of(THREADS)

    @property
    def spaces(self) -> str:
        return self.of(SPACES)

    @property
    def schemas(self) -> str:
        return self.of(SCHEMAS)

    @property
    def dead_letter(self) -> str:
        return self.of(DEAD_LETTER)

    @property
    def connections(self) -> str:
        return self.of(CONNECTIONS)

    @property
    def webhook_deliveries(self) -> str:
        return self.of(WEBHOOK_DEDUP)

    @property
    def refetch(self) -> str:
        return self.of(REFETCH)

    @property
    def schema_values(self) -> str:
        return self.of(SCHEMA_VALUES)
