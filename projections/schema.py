"""The schema proposal: the node types and select options the imported graph needs.

Each Jira issue type becomes a node type of the same name, and ``Project``,
``Sprint`` and ``Member`` join them. The proposal is additive: it never removes or
rewrites a type the space already has. A proposed type whose name matches an
existing type reuses it (``reused_existing=True``) and adds only the attributes that
type lacks. An attribute the existing type already has keeps its kind, even when it
differs from the kind proposed here.

Names match after :func:`name_key`: Unicode NFKC normalisation, case folding, and
collapsing runs of whitespace into one space (leading and trailing whitespace
dropped). So ``"Sub-task"``, ``"sub-task"`` and ``" SUB-TASK "`` name one type, and
the fullwidth ``"\\uff33tory"`` matches ``"Story"``. Select options match exactly, because a
node's attribute value must equal one of its options.

:func:`schema_step` is the pure state step of the schema agent, keyed by space id.
Its state is a JSON-compatible dict with a ``state_version``::

    {state_version, space_id,
     existing: SpaceSchemaUpdated data as last read from naumu.schemas | None,
     issue_types: [issue type names in the order first seen],
     added: {name key: {type_name, reused_existing, attributes {name: kind}}},
     options: {name key: {attribute key: [options added, in order]}},
     proposals_posted: number of schema proposal messages posted}
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from projections.errors import StateVersionError
from streams.contract import (
    SchemaNodeType,
    SchemaOptionAdded,
    SchemaTypeAdded,
    SchemaValuesSeen,
    SpaceSchemaUpdated,
    ThreadMessagePosted,
)

logger = logging.getLogger(__name__)

STATE_VERSION = 1

ISSUE_ATTRIBUTES: dict[str, str] = {
    "JiraKey": "text",
    "Status": "select",
    "Priority": "select",
    "Labels": "multi_select",
}

# The attributes :mod:`projections.mapping` writes on the nodes of these types.
ENTITY_TYPES: dict[str, dict[str, str]] = {
    "Project": {"JiraKey": "text"},
    "Sprint": {"State": "select", "Goal": "text", "StartDate": "date", "EndDate": "date"},
    "Member": {"AccountId": "text", "Active": "select"},
}

_OPTION_KINDS = frozenset({"select", "multi_select"})

SchemaAddition = SchemaTypeAdded | SchemaOptionAdded | ThreadMessagePosted


def name_key(name: str) -> str:
    """Return the form under which two type or attribute names count as the same name."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.split())


def propose(
    existing: SpaceSchemaUpdated | None, issue_types: list[str], *, space_id: str | None = None
) -> list[SchemaTypeAdded]:
    """Return one type addition per distinct issue type, then ``Project``, ``Sprint``, ``Member``.

    Issue types whose names match (see :func:`name_key`) count once, under the first
    spelling. A type matching an existing one carries the existing name and only the
    attributes it lacks. ``space_id`` defaults to the existing schema's space.
    """
    if space_id is None:
        space_id = existing.space_id if existing is not None else ""
    existing_types: dict[str, SchemaNodeType] = {}
    for node_type in existing.types if existing is not None else []:
        # The first of two existing types with matching names wins, as Naumu lists them.
        existing_types.setdefault(name_key(node_type.name), node_type)

    entity_types = {name_key(name): attributes for name, attributes in ENTITY_TYPES.items()}
    proposed: dict[str, tuple[str, dict[str, str]]] = {}
    for issue_type in issue_types:
        key = name_key(issue_type)
        if key and key not in proposed:
            # An issue type named like an entity type shares its node type, so the
            # type needs the attributes of both kinds of node.
            proposed[key] = (issue_type, {**entity_types.get(key, {}), **ISSUE_ATTRIBUTES})
    for entity_type, attributes in ENTITY_TYPES.items():
        proposed.setdefault(name_key(entity_type), (entity_type, attributes))

    additions: list[SchemaTypeAdded] = []
    for key, (name, attributes) in proposed.items():
        match = existing_types.get(key)
        if match is None:
            additions.append(
                SchemaTypeAdded(
                    space_id=space_id,
                    type_name=name,
                    reused_existing=False,
                    attributes=dict(attributes),
                )
            )
            continue
        present = {name_key(attribute.name) for attribute in match.attributes}
        missing = {
            attribute: kind
            for attribute, kind in attributes.items()
            if name_key(attribute) not in present
        }
        additions.append(
            SchemaTypeAdded(
                space_id=space_id, type_name=match.name, reused_existing=True, attributes=missing
            )
        )
    return additions


def new_schema_state(space_id: str) -> dict[str, Any]:
    return {
        "state_version": STATE_VERSION,
        "space_id": space_id,
        "existing": None,
        "issue_types": [],
        "added": {},
        "options": {},
        "proposals_posted": 0,
    }


def upcast_schema_state(state: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored schema state up to ``STATE_VERSION``; raise on a newer or unknown one."""
    if state.get("state_version") != STATE_VERSION:
        raise StateVersionError("schema", STATE_VERSION, state.get("state_version"))
    return state


def schema_step(
    state: dict[str, Any] | None, data: SchemaValuesSeen | SpaceSchemaUpdated
) -> tuple[dict[str, Any], list[SchemaAddition]]:
    """Fold one input of a space's schema agent into its state and the additions to publish.

    A ``SpaceSchemaUpdated`` is the space's own schema: it is remembered, so later
    proposals reuse its types and skip options it already has, and it adds nothing.
    A ``SchemaValuesSeen`` adds each type and each select option the space lacks,
    exactly once however often and in whatever order the values arrive. Every step
    that adds types also posts a ``schema_proposal`` thread message naming them.
    """
    current = upcast_schema_state(state) if state is not None else new_schema_state(data.space_id)

    if isinstance(data, SpaceSchemaUpdated):
        logger.debug("space %s: existing schema has %d types", data.space_id, len(data.types))
        return {**current, "existing": data.model_dump(mode="json")}, []

    existing = _existing(current, data.space_id)
    issue_types = list(current["issue_types"])
    known = {name_key(name) for name in issue_types}
    for type_name in data.types:
        if name_key(type_name) and name_key(type_name) not in known:
            known.add(name_key(type_name))
            issue_types.append(type_name)

    added, new_types = _add_types(
        current["added"], propose(existing, issue_types, space_id=data.space_id)
    )

    options, new_options = _add_options(current["options"], added, existing, data)
    additions: list[SchemaAddition] = [*new_types, *new_options]
    posted = current["proposals_posted"]
    if new_types:
        additions.append(_proposal_message(data.space_id, new_types, first=posted == 0))
        posted += 1
        logger.info(
            "space %s: %d node types proposed (%d reuse existing types)",
            data.space_id,
            len(new_types),
            sum(1 for addition in new_types if addition.reused_existing),
        )

    new_state = {
        **current,
        "issue_types": issue_types,
        "added": added,
        "options": options,
        "proposals_posted": posted,
    }
    return new_state, additions


def _add_types(
    added: dict[str, dict[str, Any]], proposal: list[SchemaTypeAdded]
) -> tuple[dict[str, dict[str, Any]], list[SchemaTypeAdded]]:
    """Keep the proposed types and attributes not added yet.

    A type added earlier can still gain attributes: an issue type named ``Project``
    may appear after the ``Project`` type was added. That addition reuses the type
    under the name it was first added with.
    """
    result = dict(added)
    additions: list[SchemaTypeAdded] = []
    for addition in proposal:
        key = name_key(addition.type_name)
        earlier = result.get(key)
        if earlier is None:
            result[key] = {
                "type_name": addition.type_name,
                "reused_existing": addition.reused_existing,
                "attributes": dict(addition.attributes),
            }
            additions.append(addition)
            continue

        present = {name_key(name) for name in earlier["attributes"]}
        missing = {
            name: kind
            for name, kind in addition.attributes.items()
            if name_key(name) not in present
        }
        if not missing:
            continue
        result[key] = {**earlier, "attributes": {**earlier["attributes"], **missing}}
        additions.append(
            SchemaTypeAdded(
                space_id=addition.space_id,
                type_name=earlier["type_name"],
                reused_existing=True,
                attributes=missing,
            )
        )
    return result, additions


def _existing(state: dict[str, Any], space_id: str) -> SpaceSchemaUpdated:
    stored = state["existing"]
    if stored is None:
        return SpaceSchemaUpdated(space_id=space_id, types=[])
    return SpaceSchemaUpdated.model_validate(stored)


def _add_options(
    options: dict[str, dict[str, list[str]]],
    added: dict[str, dict[str, Any]],
    existing: SpaceSchemaUpdated,
    data: SchemaValuesSeen,
) -> tuple[dict[str, dict[str, list[str]]], list[SchemaOptionAdded]]:
    """Add each option of ``data`` that its type's select attribute lacks."""
    existing_types: dict[str, SchemaNodeType] = {}
    for node_type in existing.types:
        existing_types.setdefault(name_key(node_type.name), node_type)

    result = {key: dict(by_attribute) for key, by_attribute in options.items()}
    additions: list[SchemaOptionAdded] = []
    for type_name in data.types:
        type_key = name_key(type_name)
        target = added.get(type_key)
        if target is None:
            continue
        for attribute, values in sorted(data.options.items()):
            resolved = _attribute(target, existing_types.get(type_key), attribute)
            if resolved is None:
                logger.debug(
                    "space %s: type %s has no select attribute %r; options %s skipped",
                    data.space_id,
                    target["type_name"],
                    attribute,
                    values,
                )
                continue
            attribute_name, present = resolved
            attribute_key = name_key(attribute)
            known = result.setdefault(type_key, {}).get(attribute_key, [])
            fresh = [
                value
                for value in dict.fromkeys(values)
                if value not in present and value not in known
            ]
            if not fresh:
                continue
            result[type_key][attribute_key] = [*known, *fresh]
            additions.extend(
                SchemaOptionAdded(
                    space_id=data.space_id,
                    type_name=target["type_name"],
                    attribute=attribute_name,
                    option=value,
                )
                for value in fresh
            )
    return result, additions


def _attribute(
    target: dict[str, Any], existing_type: SchemaNodeType | None, attribute: str
) -> tuple[str, frozenset[str]] | None:
    """Return the schema's name and current options of a select attribute, or ``None``."""
    key = name_key(attribute)
    if existing_type is not None:
        for candidate in existing_type.attributes:
            if name_key(candidate.name) == key:
                if candidate.kind not in _OPTION_KINDS:
                    return None
                return candidate.name, frozenset(candidate.options)
    for name, kind in target["attributes"].items():
        if name_key(name) == key:
            return (name, frozenset()) if kind in _OPTION_KINDS else None
    return None


def _proposal_message(
    space_id: str, types: list[SchemaTypeAdded], *, first: bool
) -> ThreadMessagePosted:
    reused = [addition.type_name for addition in types if addition.reused_existing]
    created = [addition.type_name for addition in types if not addition.reused_existing]
    parts = []
    if created:
        parts.append(f"new types {', '.join(created)}")
    if reused:
        parts.append(f"existing types reused: {', '.join(reused)}")
    lead = "Proposed schema for the Jira import" if first else "More node types for the Jira import"
    return ThreadMessagePosted(
        space_id=space_id,
        kind="schema_proposal",
        text=f"{lead}: {'; '.join(parts)}.",
        counts={"new_types": len(created), "reused_types": len(reused)},
        details={
            "types": [
                {
                    "type_name": addition.type_name,
                    "reused_existing": addition.reused_existing,
                    "attributes": dict(addition.attributes),
                }
                for addition in types
            ]
        },
    )
