"""The graph read model: a graph hash and a small read-only HTTP API over projected nodes.

:func:`graph_hash` fingerprints a graph, so a rebuild by replay can be compared with
the live graph. It hashes every field of every node record the projection publishes
(``space_id``, ``node_id``, ``node_type``, ``label``, ``content_markdown``,
``content_adf``, ``attributes``, ``aliases``, ``created``, ``updated``, ``source``,
``access_lost``) and each node's outgoing edges (``edge_id``, ``edge_type``,
``from_node``, ``to_node``). A replay of ``jira.events`` reproduces all of them,
because nodes without Jira times take theirs from the event envelopes. Deleted nodes
are absent from the hash.

:func:`read_api_routes` serves, per space::

    GET /spaces/{space_id}/nodes/{node_id}         one node with its outgoing edges
    GET /spaces/{space_id}/nodes?type=&limit=&cursor=
                                                    nodes sorted by node id, paged by cursor
    GET /spaces/{space_id}/nodes/{node_id}/edges   outgoing and incoming edges
    GET /spaces/{space_id}/graph/summary           node and edge counts by type, graph hash
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger(__name__)

HASH_FORMAT = b"naumu-graph-hash/1\n"

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class NodeStore(Protocol):
    """Read access to the projection: states by node id and a scan of live nodes."""

    def get(self, node_id: str) -> dict[str, Any] | None:
        """Return the projection state ``{node, edges, deleted, ...}`` of a node id."""

    def nodes(self) -> Iterator[dict[str, Any]]:
        """Yield each live node record with its outgoing ``edges`` list."""


def edge_list(edges: Any) -> list[dict[str, str]]:
    """Return edges as ``{edge_id, edge_type, from_node, to_node}`` dicts sorted by edge id.

    Accepts the record form (a list of such dicts) and the projection state form
    (``{edge_id: [edge_type, from_node, to_node]}``).
    """
    if isinstance(edges, dict):
        return [
            {"edge_id": key, "edge_type": value[0], "from_node": value[1], "to_node": value[2]}
            for key, value in sorted(edges.items())
        ]
    return sorted(
        (
            {
                "edge_id": edge["edge_id"],
                "edge_type": edge["edge_type"],
                "from_node": edge["from_node"],
                "to_node": edge["to_node"],
            }
            for edge in edges or ()
        ),
        key=lambda edge: edge["edge_id"],
    )


def canonical_node(node: dict[str, Any]) -> bytes:
    """Return a node record as canonical JSON: sorted keys and edges sorted by edge id."""
    record = {**node, "edges": edge_list(node.get("edges"))}
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def graph_hash(nodes: Iterable[dict[str, Any]]) -> str:
    """Return the hex sha256 of a graph's node records in canonical form.

    The digest covers a format line, then each node's canonical JSON followed by a
    newline, in node id order. Node order in ``nodes`` does not matter.
    """
    digest = hashlib.sha256(HASH_FORMAT)
    for node in sorted(nodes, key=lambda item: str(item["node_id"])):
        digest.update(canonical_node(node))
        digest.update(b"\n")
    return digest.hexdigest()


def read_api_routes(store: NodeStore) -> list[Route]:
    """Return the read API's routes over ``store``.

    The endpoints are synchronous functions, so Starlette runs them in its thread
    pool and a blocking store (RocksDB) does not stall the event loop.
    """

    def get_node(request: Request) -> Response:
        space_id = request.path_params["space_id"]
        node_id = request.path_params["node_id"]
        record = _live_record(store, space_id, node_id)
        if record is None:
            return _node_not_found(space_id, node_id)
        return JSONResponse(record)

    def list_nodes(request: Request) -> Response:
        space_id = request.path_params["space_id"]
        node_type = request.query_params.get("type")
        cursor = request.query_params.get("cursor") or ""
        limit = _limit(request.query_params.get("limit"))
        if isinstance(limit, Response):
            return limit

        # NOTE: each page scans and sorts every live node of the store. A node-id
        # index per space would make a page cost proportional to its size.
        matching = sorted(
            (
                node
                for node in store.nodes()
                if node.get("space_id") == space_id
                and (node_type is None or node.get("node_type") == node_type)
                and node["node_id"] > cursor
            ),
            key=lambda node: str(node["node_id"]),
        )
        page = [{**node, "edges": edge_list(node.get("edges"))} for node in matching[:limit]]
        next_cursor = page[-1]["node_id"] if len(matching) > limit else None
        return JSONResponse({"nodes": page, "next_cursor": next_cursor})

    def node_edges(request: Request) -> Response:
        space_id = request.path_params["space_id"]
        node_id = request.path_params["node_id"]
        record = _live_record(store, space_id, node_id)
        if record is None:
            return _node_not_found(space_id, node_id)

        # NOTE: incoming edges are found by scanning every live node of the store,
        # because the projection keeps only outgoing edges per node.
        incoming = [
            edge
            for node in store.nodes()
            if node.get("space_id") == space_id
            for edge in edge_list(node.get("edges"))
            if edge["to_node"] == node_id
        ]
        incoming.sort(key=lambda edge: edge["edge_id"])
        return JSONResponse({"node_id": node_id, "outgoing": record["edges"], "incoming": incoming})

    def summary(request: Request) -> Response:
        space_id = request.path_params["space_id"]
        nodes = [node for node in store.nodes() if node.get("space_id") == space_id]
        node_types = Counter(str(node.get("node_type")) for node in nodes)
        edge_types = Counter(
            edge["edge_type"] for node in nodes for edge in edge_list(node.get("edges"))
        )
        return JSONResponse(
            {
                "space_id": space_id,
                "node_count": len(nodes),
                "edge_count": sum(edge_types.values()),
                "nodes_by_type": dict(sorted(node_types.items())),
                "edges_by_type": dict(sorted(edge_types.items())),
                "graph_hash": graph_hash(nodes),
            }
        )

    return [
        Route("/spaces/{space_id}/nodes", list_nodes, methods=["GET"]),
        Route("/spaces/{space_id}/nodes/{node_id}", get_node, methods=["GET"]),
        Route("/spaces/{space_id}/nodes/{node_id}/edges", node_edges, methods=["GET"]),
        Route("/spaces/{space_id}/graph/summary", summary, methods=["GET"]),
    ]


def _live_record(store: NodeStore, space_id: str, node_id: str) -> dict[str, Any] | None:
    """Return the node record of a live node of ``space_id``, or ``None``."""
    state = store.get(node_id)
    if state is None or state.get("deleted"):
        return None
    node = state.get("node")
    if node is None or node.get("space_id") != space_id:
        return None
    return {**node, "edges": edge_list(state.get("edges"))}


def _limit(raw: str | None) -> int | Response:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        return _error(
            400,
            "invalid_limit",
            f"limit {raw!r} is invalid; pass an integer from 1 to {MAX_LIMIT} "
            f"(default {DEFAULT_LIMIT})",
        )
    return limit


def _node_not_found(space_id: str, node_id: str) -> Response:
    logger.debug("space %s: node %s not found", space_id, node_id)
    return _error(
        404,
        "node_not_found",
        f"node {node_id!r} not found in space {space_id!r}; "
        f"list the space's nodes with GET /spaces/{space_id}/nodes",
    )


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
