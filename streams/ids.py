"""Stable node and edge ids.

A node id derives from the space, the site's cloud id, the entity kind and
Jira's immutable id, never from a key: a moved issue changes its key and keeps
its node, and reconnecting the same site resolves to the same nodes.
"""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1c7c2e-6a55-4d0b-9a8e-3d1f6b1e2a90")

EntityKind = str  # "issue" | "project" | "sprint" | "member"


def node_id(space_id: str, cloud_id: str, kind: EntityKind, jira_id: str) -> str:
    """Return the node id of one Jira entity in one space."""
    return str(uuid.uuid5(_NAMESPACE, f"{space_id}/{cloud_id}/{kind}/{jira_id}"))


def edge_id(space_id: str, edge_type: str, from_node: str, to_node: str) -> str:
    """Return the id of the edge of ``edge_type`` between two nodes."""
    return str(uuid.uuid5(_NAMESPACE, f"{space_id}/edge/{edge_type}/{from_node}/{to_node}"))
