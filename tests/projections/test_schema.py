from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.errors import StateVersionError
from projections.schema import ISSUE_ATTRIBUTES, name_key, propose, schema_step
from streams.contract import (
    SchemaAttribute,
    SchemaNodeType,
    SchemaOptionAdded,
    SchemaTypeAdded,
    SchemaValuesSeen,
    SpaceSchemaUpdated,
    ThreadMessagePosted,
)

SPACE = "space-1"


def _existing(*types: SchemaNodeType) -> SpaceSchemaUpdated:
    return SpaceSchemaUpdated(space_id=SPACE, types=list(types))


def _seen(types: list[str], **options: list[str]) -> SchemaValuesSeen:
    return SchemaValuesSeen(space_id=SPACE, types=types, options=options)


def _run(inputs: list[SchemaValuesSeen | SpaceSchemaUpdated]) -> tuple[dict[str, Any], list[Any]]:
    state: dict[str, Any] | None = None
    additions: list[Any] = []
    for data in inputs:
        state, step_additions = schema_step(state, data)
        additions.extend(step_additions)
    assert state is not None
    return state, additions


def test_name_key_folds_case_and_space() -> None:
    assert name_key("  Sub-task  ") == name_key("sub-task")


def test_name_key_collapses_inner_space() -> None:
    assert name_key("User\t  Story") == "user story"


def test_name_key_nfkc() -> None:
    assert name_key("\uff33\uff54\uff4f\uff52\uff59") == name_key("Story")


def test_propose_empty_space() -> None:
    additions = propose(None, ["Story", "Bug"], space_id=SPACE)

    assert [addition.type_name for addition in additions] == [
        "Story",
        "Bug",
        "Project",
        "Sprint",
        "Member",
    ]
    assert all(not addition.reused_existing for addition in additions)
    assert additions[0].attributes == ISSUE_ATTRIBUTES


def test_propose_reuses_matching_name() -> None:
    existing = _existing(
        SchemaNodeType(name="user story", attributes=[SchemaAttribute(name="status", kind="text")])
    )

    additions = propose(existing, ["User Story"])

    assert additions[0].type_name == "user story"
    assert additions[0].reused_existing
    assert additions[0].attributes == {
        "JiraKey": "text",
        "Priority": "select",
        "Labels": "multi_select",
    }


def test_propose_reuses_entity_type() -> None:
    additions = propose(_existing(SchemaNodeType(name="PROJECT")), [])

    assert additions[0].type_name == "PROJECT"
    assert additions[0].reused_existing


def test_propose_dedupes_issue_types() -> None:
    additions = propose(None, ["Bug", "bug", " BUG", ""], space_id=SPACE)

    assert [addition.type_name for addition in additions] == ["Bug", "Project", "Sprint", "Member"]


def test_step_proposes_once() -> None:
    state, additions = _run([_seen(["Story"]), _seen(["Story"])])

    types = [addition for addition in additions if isinstance(addition, SchemaTypeAdded)]
    assert [addition.type_name for addition in types] == ["Story", "Project", "Sprint", "Member"]
    assert state["proposals_posted"] == 1


def test_step_posts_proposal_message() -> None:
    _, additions = _run([_seen(["Story"])])

    messages = [addition for addition in additions if isinstance(addition, ThreadMessagePosted)]
    assert len(messages) == 1
    assert messages[0].kind == "schema_proposal"
    assert messages[0].counts == {"new_types": 4, "reused_types": 0}


def test_step_posts_again_for_new_type() -> None:
    _, additions = _run([_seen(["Story"]), _seen(["Bug"]), _seen(["bug"])])

    messages = [addition for addition in additions if isinstance(addition, ThreadMessagePosted)]
    assert len(messages) == 2
    assert messages[1].details["types"][0]["type_name"] == "Bug"


def test_step_existing_schema_adds_nothing() -> None:
    _, additions = schema_step(None, _existing(SchemaNodeType(name="Story")))

    assert additions == []


def test_step_reuses_existing_schema() -> None:
    existing = _existing(SchemaNodeType(name="story"))

    _, additions = _run([existing, _seen(["Story"])])

    assert additions[0] == SchemaTypeAdded(
        space_id=SPACE, type_name="story", reused_existing=True, attributes=ISSUE_ATTRIBUTES
    )


def test_step_adds_options_once() -> None:
    _, additions = _run(
        [
            _seen(["Story"], Status=["To Do"], Labels=["a", "b"]),
            _seen(["Story"], Status=["To Do", "Done"], Labels=["b"]),
        ]
    )

    options = [
        (addition.attribute, addition.option)
        for addition in additions
        if isinstance(addition, SchemaOptionAdded)
    ]
    assert options == [("Labels", "a"), ("Labels", "b"), ("Status", "To Do"), ("Status", "Done")]


def test_step_skips_existing_options() -> None:
    existing = _existing(
        SchemaNodeType(
            name="Bug",
            attributes=[SchemaAttribute(name="priority", kind="select", options=["High"])],
        )
    )

    _, additions = _run([existing, _seen(["Bug"], Priority=["High", "Low"])])

    options = [addition for addition in additions if isinstance(addition, SchemaOptionAdded)]
    assert options == [
        SchemaOptionAdded(space_id=SPACE, type_name="Bug", attribute="priority", option="Low")
    ]


def test_step_skips_non_select_attribute() -> None:
    existing = _existing(
        SchemaNodeType(name="Bug", attributes=[SchemaAttribute(name="Status", kind="text")])
    )

    _, additions = _run([existing, _seen(["Bug"], Status=["Open"])])

    assert not any(isinstance(addition, SchemaOptionAdded) for addition in additions)


def test_step_state_is_json() -> None:
    state, _ = _run([_existing(SchemaNodeType(name="Epic")), _seen(["Story"], Labels=["x"])])

    assert json.loads(json.dumps(state)) == state


def test_step_rejects_newer_state() -> None:
    with pytest.raises(StateVersionError):
        schema_step({"state_version": 99}, _seen(["Story"]))


# --- properties ---------------------------------------------------------------------------

_names = st.sampled_from(
    [
        "Story",
        "story",
        " STORY",
        "Bug",
        "Epic",
        "Sub-task",
        "sub-task",
        "Task",
        "Project",
        "\uff22\uff55\uff47",
    ]
)
_values = st.sampled_from(["To Do", "Done", "High", "Low", "a", "b", "c", "A"])
_attributes = st.sampled_from(["Status", "Priority", "Labels", "JiraKey", "Unknown"])

_existing_types = st.lists(
    st.builds(
        SchemaNodeType,
        name=_names,
        attributes=st.lists(
            st.builds(
                SchemaAttribute,
                name=_attributes,
                kind=st.sampled_from(["text", "select", "multi_select", "date"]),
                options=st.lists(_values, max_size=3),
            ),
            max_size=3,
        ),
    ),
    max_size=4,
)

_seen_values = st.builds(
    SchemaValuesSeen,
    space_id=st.just(SPACE),
    types=st.lists(_names, min_size=1, max_size=2),
    options=st.dictionaries(_attributes, st.lists(_values, max_size=3), max_size=3),
)


@given(existing=_existing_types, issue_types=st.lists(_names, max_size=6))
def test_propose_additive_only(existing: list[SchemaNodeType], issue_types: list[str]) -> None:
    schema = _existing(*existing)
    by_key = {name_key(node_type.name): node_type for node_type in reversed(existing)}

    for addition in propose(schema, issue_types):
        match = by_key.get(name_key(addition.type_name))
        assert addition.reused_existing == (match is not None)
        if match is not None:
            assert addition.type_name == match.name
            present = {name_key(attribute.name) for attribute in match.attributes}
            assert not present & {name_key(name) for name in addition.attributes}


@given(
    existing=_existing_types,
    inputs=st.lists(_seen_values, min_size=1, max_size=6),
    data=st.data(),
)
def test_options_added_once_any_order(
    existing: list[SchemaNodeType], inputs: list[SchemaValuesSeen], data: st.DataObject
) -> None:
    schema = _existing(*existing)
    shuffled = data.draw(st.permutations(inputs))
    duplicated = shuffled + data.draw(st.lists(st.sampled_from(inputs), max_size=4))

    _, first = _run([schema, *inputs])
    _, second = _run([schema, *duplicated])

    def option_set(additions: list[Any]) -> list[tuple[str, str, str]]:
        return sorted(
            (name_key(addition.type_name), addition.attribute, addition.option)
            for addition in additions
            if isinstance(addition, SchemaOptionAdded)
        )

    def type_set(additions: list[Any]) -> set[str]:
        return {
            addition.type_name for addition in additions if isinstance(addition, SchemaTypeAdded)
        }

    assert len(set(option_set(second))) == len(option_set(second))
    assert option_set(first) == option_set(second)
    assert {name_key(name) for name in type_set(first)} == {
        name_key(name) for name in type_set(second)
    }
