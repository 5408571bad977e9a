"""The worker's stream steps: the fold, the projection and the schema agent.

Each step adapts one pure function from :mod:`projections` to the agent shape in
:mod:`streams.agents`: it picks the table key, calls the function and turns its
result into records for the output topics. Output ids derive from the input
record's id, so a record processed again after a crash produces records with
the same ids, which consumers use to drop the copies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from projections.fold import FoldContext, fold
from projections.graph import project
from projections.readmodel import edge_list
from projections.schema import schema_step as schema_fold
from streams import codec
from streams.contract import (
    EdgeDeleted,
    EdgeUpserted,
    EventData,
    IssueAccessLost,
    IssueChanged,
    IssueDeleted,
    IssueKeyChanged,
    MemberChanged,
    NodeDeleted,
    NodeUpserted,
    ProjectChanged,
    SchemaOptionAdded,
    SchemaTypeAdded,
    SchemaValuesSeen,
    SpaceSchemaUpdated,
    SprintChanged,
    ThreadMessagePosted,
)
from streams.envelope import Envelope
from streams.errors import SyncError
from streams.ids import node_id
from streams.steps import Output, Record, StateLookup, Step, StepResult
from streams.topics import TopicNames, entity_key, node_key


class SchemaRecordError(SyncError):
    """A record on a schema topic is of a type the schema agent does not read."""


_OUTPUT_IDS = uuid.UUID("0b8f5a7e-2c1d-4e59-9d43-7c1a3e5f8b20")

ContextFor = Callable[[str, str], FoldContext]


def derived_id(input_id: str, index: int) -> str:
    """Return the id of the ``index``-th record produced from input record ``input_id``."""
    return str(uuid.uuid5(_OUTPUT_IDS, f"{input_id}/{index}"))


def _envelope(data: EventData, *, source: str, subject: str, input_id: str, index: int) -> Envelope:
    return codec.make(data, source=source, subject=subject, event_id=derived_id(input_id, index))


def fold_step(names: TopicNames, context_for: ContextFor) -> Step:
    """Return the step of the ``fold`` agent: ``jira.inbound`` to ``jira.events``."""

    def step(lookup: StateLookup, envelope: Envelope, record: Record) -> StepResult:
        space_id = str(envelope.data.get("space_id") or "")
        cloud_id = str(envelope.data.get("cloud_id") or "")

        # Two spaces may sync the same site, so the fold state is per space too.
        table_key = f"{space_id}|{record.key}"
        result = fold(lookup(table_key), envelope, context_for(space_id, cloud_id))

        outputs: list[Output] = []
        for index, event in enumerate(result.events):
            outputs.append(Output(names.events, record.key, _envelope(
                event, source="/worker/fold", subject=record.key,
                input_id=envelope.id, index=index,
            )))
        for index, request in enumerate(result.refetch, start=len(result.events)):
            key = entity_key(request.cloud_id, request.issue_id)
            outputs.append(Output(names.refetch, key, _envelope(
                request, source="/worker/fold", subject=key,
                input_id=envelope.id, index=index,
            )))
        return StepResult({table_key: result.state}, outputs)

    return step


def entity_node_id(event: EventData) -> str | None:
    """Return the node id that a ``jira.events`` event is about."""
    if isinstance(event, IssueChanged | IssueKeyChanged | IssueDeleted | IssueAccessLost):
        return node_id(event.space_id, event.cloud_id, "issue", event.issue_id)
    if isinstance(event, ProjectChanged):
        return node_id(event.space_id, event.cloud_id, "project", event.project_id)
    if isinstance(event, SprintChanged):
        return node_id(event.space_id, event.cloud_id, "sprint", event.sprint_id)
    if isinstance(event, MemberChanged):
        return node_id(event.space_id, event.cloud_id, "member", event.account_id)
    return None


def _change_node(change: EventData) -> tuple[str, str]:
    if isinstance(change, NodeUpserted | NodeDeleted):
        return change.space_id, change.node_id
    if isinstance(change, EdgeUpserted | EdgeDeleted):
        return change.space_id, change.from_node
    raise TypeError(f"{type(change).__name__} is not a graph change")


class ForwardedSchemaValues:
    """Remembers the node types and select values this process already sent to the schema agent.

    The schema agent adds each type and option once, so sending a value again
    changes nothing, and in an import or a replay almost every issue repeats
    values met before. Dropping the repeats spares a record, a schema-agent step
    and a state write per issue. The memory is per process and bounded: after a
    restart, or once ``limit`` values were remembered, values are sent again,
    which is harmless.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._sent: set[tuple[str, str, str]] = set()

    def unsent(self, seen: SchemaValuesSeen) -> SchemaValuesSeen | None:
        """Return the part of ``seen`` not sent yet, remembered as sent; None when empty."""
        if len(self._sent) >= self._limit:
            self._sent.clear()
        space = seen.space_id
        types = [name for name in seen.types if (space, "", name) not in self._sent]
        options = {
            attribute: fresh
            for attribute, values in seen.options.items()
            if (fresh := [v for v in values if (space, attribute, v) not in self._sent])
        }
        if not types and not options:
            return None
        self._sent.update((space, "", name) for name in types)
        self._sent.update((space, attribute, v) for attribute, vs in options.items() for v in vs)
        return SchemaValuesSeen.model_construct(space_id=space, types=types, options=options)


def projection_step(names: TopicNames,
                    forwarded: ForwardedSchemaValues | None = None) -> Step:
    """Return the step of the ``project`` agent: ``jira.events`` to the graph topics.

    The table is keyed by node id, so the read API and the write-back look a node
    up directly. Schema values already sent through ``forwarded`` are left out.
    """
    forwarded = forwarded or ForwardedSchemaValues()

    def step(lookup: StateLookup, envelope: Envelope, record: Record) -> StepResult:
        event = codec.parse(envelope)
        key = entity_node_id(event)
        if key is None:
            return StepResult()

        stamp = envelope.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        result = project(lookup(key), event, event_time=stamp)

        outputs: list[Output] = []
        index = 0
        for change in result.changes:
            space_id, subject_node = _change_node(change)
            subject = node_key(space_id, subject_node)
            outputs.append(Output(names.graph_changes, subject, _envelope(
                change, source="/worker/project", subject=subject,
                input_id=envelope.id, index=index,
            )))
            index += 1

        if result.changes and result.node_id is not None:
            space_id = str(getattr(event, "space_id", ""))
            subject = node_key(space_id, result.node_id)
            current: EventData
            if result.node is None:
                current = NodeDeleted(space_id=space_id, node_id=result.node_id, reason="deleted")
            else:
                node = {k: v for k, v in result.node.items() if k != "edges"}
                current = NodeUpserted.model_construct(**node)
            outputs.append(Output(names.graph_nodes, subject, _envelope(
                current, source="/worker/project", subject=subject,
                input_id=envelope.id, index=index,
            )))
            index += 1

        unsent = None if result.schema_values is None else forwarded.unsent(result.schema_values)
        if unsent is not None:
            space_id = unsent.space_id
            outputs.append(Output(names.schema_values, space_id, _envelope(
                unsent, source="/worker/project", subject=space_id,
                input_id=envelope.id, index=index,
            )))
        return StepResult({key: result.state}, outputs)

    return step


def schema_step(names: TopicNames) -> Step:
    """Return the step of the ``schema`` agent, keyed by space id.

    It reads what the projection met (``naumu.schema.values``) and the space's
    own schema (``naumu.schemas``), and publishes each addition once.
    """

    def step(lookup: StateLookup, envelope: Envelope, record: Record) -> StepResult:
        data = codec.parse(envelope)
        if not isinstance(data, SchemaValuesSeen | SpaceSchemaUpdated):
            raise SchemaRecordError(
                f"{envelope.type} record {envelope.id} does not belong on the schema topics; "
                "only naumu.schema.values_seen and naumu.schema.updated do"
            )
        space_id = data.space_id
        state, additions = schema_fold(lookup(space_id), data)

        outputs: list[Output] = []
        for index, addition in enumerate(additions):
            if isinstance(addition, SchemaTypeAdded | SchemaOptionAdded):
                # Schema additions belong to no node; "schema" stands in for the node id.
                topic, subject = names.graph_changes, node_key(space_id, "schema")
            elif isinstance(addition, ThreadMessagePosted):
                topic, subject = names.threads, space_id
            else:
                raise TypeError(f"schema step returned {type(addition).__name__}")
            outputs.append(Output(topic, subject, _envelope(
                addition, source="/worker/schema", subject=subject,
                input_id=envelope.id, index=index,
            )))
        return StepResult({space_id: state}, outputs)

    return step


def live_node(state: dict[str, Any]) -> dict[str, Any] | None:
    """Return the node of a projection state with its ``edges`` list, or None if deleted.

    The worker's read API, the reconciler and a replay all see nodes in this form,
    so their graph hashes compare.
    """
    if state.get("deleted") or state.get("node") is None:
        return None
    return {**state["node"], "edges": edge_list(state.get("edges", {}))}


def node_updated_ms(node: dict[str, Any]) -> int:
    """Return a node's ``updated`` time in epoch milliseconds (0 when unknown)."""
    from datetime import datetime

    text = node.get("updated") or ""
    if not text:
        return 0
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
