"""The projection: domain events of one Jira entity (``jira.events``) into graph changes.

``project(state, event)`` is pure. The state, a JSON-compatible dict per record key,
holds the entity's node and its outgoing edges as last published, so only what
changed is emitted: no upsert for an identical node, an ``EdgeDeleted`` for each edge
that went away. ``ProjectionResult.node`` is the node's current record for the
compacted ``naumu.graph.nodes`` topic (``None`` after a delete: publish a tombstone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from projections.errors import StateVersionError
from projections.mapping import (
    Edge,
    issue_edges,
    issue_node,
    member_node,
    project_node,
    sprint_node,
)
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
    SchemaValuesSeen,
    SprintChanged,
)

logger = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True)
class ProjectionResult:
    state: dict[str, Any]
    changes: list[EventData] = field(default_factory=list)
    schema_values: SchemaValuesSeen | None = None
    node_id: str | None = None
    node: dict[str, Any] | None = None


def upcast_projection_state(state: dict[str, Any] | None) -> dict[str, Any]:
    """Return a current-version projection state; the one place old versions are read."""
    if state is None:
        return {"state_version": STATE_VERSION, "node": None, "edges": {}, "deleted": False}
    if state.get("state_version") != STATE_VERSION:
        raise StateVersionError("projection", STATE_VERSION, state.get("state_version"))
    return state


def project(
    state: dict[str, Any] | None, event: EventData, *, event_time: str | None = None
) -> ProjectionResult:
    """Apply one ``jira.events`` event; ``event_time`` stamps nodes Jira gives no times for."""
    current = upcast_projection_state(state)
    stamp = event_time or ""

    if isinstance(event, IssueChanged):
        return _issue_changed(current, event)
    if isinstance(event, IssueDeleted):
        return _deleted(current, event.space_id)
    if isinstance(event, IssueAccessLost):
        return _access_lost(current)
    if isinstance(event, IssueKeyChanged):
        # The IssueChanged folded from the same observation carries the key and aliases.
        return ProjectionResult(current, node_id=_node_id(current), node=current["node"])
    if isinstance(event, ProjectChanged):
        previous = current["node"]
        node = project_node(
            event.space_id,
            event.cloud_id,
            event.snapshot,
            event.access_lost,
            previous["created"] if previous else stamp,
            stamp or (previous["updated"] if previous else ""),
        )
        return _apply(current, node, {}, keep_times=True)
    if isinstance(event, SprintChanged):
        if event.deleted:
            return _deleted(current, event.space_id)
        previous = current["node"]
        node = sprint_node(
            event.space_id,
            event.cloud_id,
            event.snapshot,
            previous["created"] if previous else stamp,
            stamp or (previous["updated"] if previous else ""),
        )
        return _apply(current, node, {}, keep_times=True)
    if isinstance(event, MemberChanged):
        previous = current["node"]
        node = member_node(
            event.space_id,
            event.cloud_id,
            event.snapshot,
            previous["created"] if previous else stamp,
            stamp or (previous["updated"] if previous else ""),
        )
        return _apply(current, node, {}, keep_times=True)

    logger.debug("event %s has no graph effect", type(event).__name__)
    return ProjectionResult(current, node_id=_node_id(current), node=current["node"])


def _node_id(state: dict[str, Any]) -> str | None:
    node = state.get("node")
    return node["node_id"] if node else None


def _issue_changed(state: dict[str, Any], event: IssueChanged) -> ProjectionResult:
    previous = None if state.get("deleted") else state["node"]
    node = issue_node(event.space_id, event.cloud_id, event.snapshot, previous)
    edges = issue_edges(event.space_id, event.cloud_id, event.snapshot)
    result = _apply({**state, "deleted": False}, node, edges, keep_times=False)

    old_values = _schema_values(previous)
    new_values = _schema_values(node)
    if new_values != old_values:
        options = {
            name: sorted(set(values) - set(old_values[1].get(name, ())))
            for name, values in new_values[1].items()
        }
        seen = SchemaValuesSeen.model_construct(
            space_id=event.space_id,
            types=[node["node_type"]],
            options={name: values for name, values in options.items() if values},
        )
        return ProjectionResult(result.state, result.changes, seen, result.node_id, result.node)
    return result


def _schema_values(node: dict[str, Any] | None) -> tuple[str | None, dict[str, list[str]]]:
    if node is None:
        return None, {}
    attributes = node["attributes"]
    options: dict[str, list[str]] = {
        "Status": [attributes["Status"]],
        "Labels": attributes["Labels"],
    }
    if attributes.get("Priority"):
        options["Priority"] = [attributes["Priority"]]
    return node["node_type"], options


def _apply(
    state: dict[str, Any], node: dict[str, Any], edges: dict[str, Edge], *, keep_times: bool
) -> ProjectionResult:
    previous: dict[str, Any] | None = state["node"]
    space_id = node["space_id"]
    changes: list[EventData] = []

    if keep_times and previous is not None:
        # Projects, sprints and members have no Jira times; an unchanged node keeps its stamp.
        unchanged = {**node, "updated": previous["updated"]}
        if unchanged == previous:
            node = previous
    if node != previous:
        changes.append(NodeUpserted.model_construct(**node))

    old_edges: dict[str, list[str]] = state["edges"]
    for edge_key, (edge_type, source, target) in old_edges.items():
        if edge_key not in edges:
            changes.append(
                EdgeDeleted.model_construct(
                    space_id=space_id,
                    edge_id=edge_key,
                    edge_type=edge_type,
                    from_node=source,
                    to_node=target,
                )
            )
    for edge_key, (edge_type, source, target) in edges.items():
        if edge_key not in old_edges:
            changes.append(
                EdgeUpserted.model_construct(
                    space_id=space_id,
                    edge_id=edge_key,
                    edge_type=edge_type,
                    from_node=source,
                    to_node=target,
                )
            )

    new_edges = (
        {key: list(value) for key, value in edges.items()} if edges or old_edges else old_edges
    )
    new_state = {**state, "node": node, "edges": new_edges}
    return ProjectionResult(new_state, changes, None, node["node_id"], _record(node, new_edges))


def _record(node: dict[str, Any], edges: dict[str, list[str]]) -> dict[str, Any]:
    """Return the ``naumu.graph.nodes`` record: the node with its outgoing edges."""
    return {
        **node,
        "edges": [
            {"edge_id": key, "edge_type": value[0], "from_node": value[1], "to_node": value[2]}
            for key, value in sorted(edges.items())
        ],
    }


def _deleted(state: dict[str, Any], space_id: str) -> ProjectionResult:
    node = state["node"]
    if state.get("deleted") or node is None:
        return ProjectionResult({**state, "deleted": True})
    changes: list[EventData] = [
        EdgeDeleted.model_construct(
            space_id=space_id, edge_id=key, edge_type=edge_type, from_node=source, to_node=target
        )
        for key, (edge_type, source, target) in state["edges"].items()
    ]
    changes.append(
        NodeDeleted.model_construct(space_id=space_id, node_id=node["node_id"], reason="deleted")
    )
    new_state = {**state, "deleted": True, "edges": {}}
    return ProjectionResult(new_state, changes, None, node["node_id"], None)


def _access_lost(state: dict[str, Any]) -> ProjectionResult:
    node = state["node"]
    if node is None or state.get("deleted") or node.get("access_lost"):
        return ProjectionResult(state, node_id=_node_id(state), node=node)
    updated = {**node, "access_lost": True}
    new_state = {**state, "node": updated}
    return ProjectionResult(
        new_state,
        [NodeUpserted.model_construct(**updated)],
        None,
        updated["node_id"],
        _record(updated, state["edges"]),
    )
