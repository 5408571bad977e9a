from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.adf import _normalise_node, render_block
from projections.adf_safe import block_never_round_trips, block_round_trips
from projections.markdown import _compact_json, parse_blocks


def _parses_back(block: dict[str, Any]) -> bool:
    rendered = render_block(block)
    return not rendered.startswith("<!--adf:") and parse_blocks(rendered) == [block]


_texts = st.sampled_from(
    [
        "plain",
        "two words",
        "end.",
        ".start",
        "a.b",
        "1. item",
        "# hash",
        "C#",
        "ends #",
        " lead",
        "trail ",
        "!",
        "wow!",
        "a*b",
        "x_y",
        "tab\there",
        "new\nline",
        "\u00a0nbsp",
        "\u2014dash\u2014",
        "\u00e9t\u00e9",
        "(paren)",
        "`tick`",
        "pipe|bar",
        "&amp;",
        "<b>",
        "\\",
        "\u2603",
        "",
    ]
)
_marks = st.sampled_from(
    [
        [],
        [{"type": "strong"}],
        [{"type": "em"}],
        [{"type": "strike"}],
        [{"type": "code"}],
        [{"type": "link", "attrs": {"href": "https://example.com/a?b=c"}}],
        [{"type": "link", "attrs": {"href": "https://example.com/a b"}}],
        [{"type": "strong"}, {"type": "em"}],
        [{"type": "underline"}],
    ]
)
_text_nodes = st.builds(
    lambda text, marks: {"type": "text", "text": text, **({"marks": marks} if marks else {})},
    _texts,
    _marks,
)
_inline_nodes = st.one_of(
    _text_nodes,
    _text_nodes,
    st.just({"type": "hardBreak"}),
    st.just({"type": "mention", "attrs": {"id": "a1", "text": "@Ann"}}),
    st.just({"type": "emoji", "attrs": {"shortName": ":x:", "text": "\n"}}),
)
_inline_runs = st.lists(_inline_nodes, min_size=1, max_size=5)
_paragraphs = st.builds(lambda content: {"type": "paragraph", "content": content}, _inline_runs)
_blocks = st.one_of(
    _paragraphs,
    st.builds(
        lambda level, content: {"type": "heading", "attrs": {"level": level}, "content": content},
        st.integers(min_value=1, max_value=6),
        _inline_runs,
    ),
    st.builds(
        lambda kind, items: {
            "type": kind,
            "content": [{"type": "listItem", "content": [item]} for item in items],
        },
        st.sampled_from(["bulletList", "orderedList"]),
        st.lists(_paragraphs, min_size=1, max_size=3),
    ),
    st.builds(
        lambda header, cells: {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [header]},
                    ],
                },
                {"type": "tableRow", "content": [{"type": "tableCell", "content": [cells]}]},
            ],
        },
        _paragraphs,
        _paragraphs,
    ),
    st.builds(
        lambda text, language: {
            "type": "codeBlock",
            **({"attrs": {"language": language}} if language else {}),
            "content": [{"type": "text", "text": text}],
        },
        st.sampled_from(["x = 1", "```\nfence", "a\n\nb", "\ttab", "end\n"]),
        st.sampled_from(["", "python", "c++", "a b"]),
    ),
)


@settings(max_examples=400)
@given(block=_blocks)
def test_safe_block_parses_back(block: dict[str, Any]) -> None:
    normalised = _normalise_node(block)

    if block_round_trips(normalised):
        assert _parses_back(normalised)


@settings(max_examples=200)
@given(block=_blocks)
def test_never_block_fails_parse(block: dict[str, Any]) -> None:
    normalised = _normalise_node(block)

    if block_never_round_trips(normalised):
        assert not _parses_back(normalised)


def test_ordered_list_order_one_never() -> None:
    block = {
        "type": "orderedList",
        "attrs": {"order": 1},
        "content": [
            {
                "type": "listItem",
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "a"}]}],
            }
        ],
    }

    assert block_never_round_trips(block)
    assert not _parses_back(block)


def test_punctuated_strong_accepted() -> None:
    block = {
        "type": "paragraph",
        "content": [
            {"type": "text", "text": "Before "},
            {"type": "text", "text": "done.", "marks": [{"type": "strong"}]},
            {"type": "text", "text": " after"},
        ],
    }

    assert block_round_trips(block)
    assert _parses_back(block)


def test_generated_descriptions_agree() -> None:
    generator = pytest.importorskip("jira_sandbox.generator")
    checked = 0
    for issue in generator.generate_issue_payloads(3, 150):
        description = issue["fields"].get("description")
        if not isinstance(description, dict):
            continue
        for block in description.get("content") or []:
            normalised = _normalise_node(block)
            if block_round_trips(normalised):
                assert _parses_back(normalised), normalised
                checked += 1
            elif block_never_round_trips(normalised):
                assert not _parses_back(normalised), normalised

    assert checked > 100


@pytest.mark.parametrize(
    "value",
    [
        {"width": 66.67, "height": 1e-05, "big": 1e16, "tiny": 4.9e-324},
        {"text": 'caf\u00e9 \u2028 \x01 "quoted" \\ 1e5 0.00001'},
        {"n": 2**70, "nested": [None, True, -0.0]},
    ],
)
def test_compact_json_matches_json(value: dict[str, Any]) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    assert _compact_json(value) == expected
