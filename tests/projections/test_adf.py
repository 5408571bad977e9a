from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.adf import (
    adf_block_to_markdown,
    adf_to_markdown,
    markdown_to_adf,
    normalise,
    split_markdown_blocks,
)
from projections.errors import ConversionError

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples" / "adf"


def _sample_paths() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(SAMPLES.glob("*.json"))


def _doc(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "type": "doc", "content": list(blocks)}


def _paragraph(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def _text(text: str, *marks: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": mark} for mark in marks]
    return node


# --- samples ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", _sample_paths(), ids=lambda path: path.name)
def test_sample_round_trip(path: Path) -> None:
    doc = json.loads(path.read_text())

    markdown = adf_to_markdown(doc)

    assert markdown_to_adf(markdown) == normalise(doc)
    assert adf_to_markdown(markdown_to_adf(markdown)) == markdown


@pytest.mark.parametrize("path", _sample_paths(), ids=lambda path: path.name)
def test_sample_blocks_align(path: Path) -> None:
    doc = json.loads(path.read_text())
    blocks = normalise(doc)["content"]

    split = split_markdown_blocks(adf_to_markdown(doc))

    assert len(split) == len(blocks)
    for text, block in zip(split, blocks, strict=True):
        assert text == adf_block_to_markdown(block)


def test_samples_present() -> None:
    if not _sample_paths():
        pytest.skip("jira-samples/adf is not checked out next to the repository")
    assert len(_sample_paths()) >= 3


# --- plain Markdown ---------------------------------------------------------------------


def test_markdown_basic_blocks() -> None:
    doc = markdown_to_adf(
        "# Title\n\nSome **bold** and *em* text.\n\n- one\n- two\n\n```py\nx = 1\n```"
    )

    assert doc["content"][0] == {
        "type": "heading",
        "attrs": {"level": 1},
        "content": [_text("Title")],
    }
    assert doc["content"][1] == _paragraph(
        _text("Some "), _text("bold", "strong"), _text(" and "), _text("em", "em"), _text(" text.")
    )
    assert doc["content"][2]["type"] == "bulletList"
    assert doc["content"][3] == {
        "type": "codeBlock",
        "attrs": {"language": "py"},
        "content": [_text("x = 1")],
    }


def test_markdown_empty() -> None:
    assert markdown_to_adf("") == _doc()


def test_adf_none_is_empty() -> None:
    assert adf_to_markdown(None) == ""


def test_soft_break_is_space() -> None:
    assert markdown_to_adf("a\nb") == _doc(_paragraph(_text("a b")))


def test_hard_break_round_trip() -> None:
    doc = _doc(_paragraph(_text("a"), {"type": "hardBreak"}, _text("b")))
    assert markdown_to_adf(adf_to_markdown(doc)) == doc


def test_text_never_holds_newline() -> None:
    doc = markdown_to_adf("line one\nline two\\\nline three")
    texts = [node["text"] for node in doc["content"][0]["content"] if node["type"] == "text"]
    assert all("\n" not in text for text in texts)


def test_special_characters_escaped() -> None:
    doc = _doc(_paragraph(_text("# not a heading * _x_ [y](z) <b> | ~~ & `")))
    assert markdown_to_adf(adf_to_markdown(doc)) == doc


def test_adjacent_lists_stay_apart() -> None:
    item = {"type": "listItem", "content": [_paragraph(_text("x"))]}
    doc = _doc({"type": "bulletList", "content": [item]}, {"type": "bulletList", "content": [item]})
    assert markdown_to_adf(adf_to_markdown(doc)) == doc


def test_mention_placeholder_visible() -> None:
    mention = {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d0001", "text": "@Alex"}}
    markdown = adf_to_markdown(_doc(_paragraph(_text("hi "), mention)))
    assert "@Alex" in markdown
    assert markdown_to_adf(markdown)["content"][0]["content"][1] == mention


def test_panel_body_edit_applied() -> None:
    panel = {"type": "panel", "attrs": {"panelType": "info"}, "content": [_paragraph(_text("old"))]}
    markdown = adf_to_markdown(_doc(panel))

    edited = markdown_to_adf(markdown.replace("old", "new"))

    assert edited["content"][0]["attrs"] == {"panelType": "info"}
    assert edited["content"][0]["content"] == [_paragraph(_text("new"))]


# Markdown headings are one line, so a heading with a hard break is kept whole.
_ODD_HEADING = {
    "type": "heading",
    "attrs": {"level": 2},
    "content": [_text("a"), {"type": "hardBreak"}, _text("b")],
}


def test_kept_block_edit_rejected() -> None:
    markdown = adf_to_markdown(_doc(_ODD_HEADING))
    assert "adf-begin" in markdown

    with pytest.raises(ConversionError, match="edited"):
        markdown_to_adf(markdown.replace("## a", "- a"))


def test_damaged_placeholder_rejected() -> None:
    with pytest.raises(ConversionError, match="invalid JSON"):
        markdown_to_adf('<!--adf:{"type":-->')


def test_split_keeps_kept_block_whole() -> None:
    markdown = adf_to_markdown(_doc(_paragraph(_text("a")), _ODD_HEADING, _paragraph(_text("b"))))

    blocks = split_markdown_blocks(markdown)

    assert len(blocks) == 3
    assert blocks[1].startswith("<!--adf-begin:")
    assert blocks[1].endswith("<!--adf-end-->")


def test_placeholder_json_safe_in_comment() -> None:
    tricky = {
        "type": "status",
        "attrs": {"text": "a-->b | c'd `e` <f>", "color": "red", "localId": "x--y", "style": ""},
    }
    doc = _doc(_paragraph(tricky), {"type": "extension", "attrs": {"x": "-->"}})
    assert markdown_to_adf(adf_to_markdown(doc)) == doc


# --- property tests -------------------------------------------------------------------

_ALPHABET = st.sampled_from(list("abc XYZ019é中 *_`[]()<>#+-.!|~&\\'\"=:@"))
_TEXT = st.text(_ALPHABET, min_size=1, max_size=12)

_SIMPLE_MARKS = [
    {"type": "strong"},
    {"type": "em"},
    {"type": "strike"},
    {"type": "code"},
    {"type": "underline"},
    {"type": "subsup", "attrs": {"type": "sub"}},
    {"type": "textColor", "attrs": {"color": "#ff5630"}},
    {"type": "backgroundColor", "attrs": {"color": "#fff0b3"}},
]
_LINK = st.builds(
    lambda href, title: {
        "type": "link",
        "attrs": {"href": href, **({"title": title} if title else {})},
    },
    st.sampled_from(["https://example.test/a", "https://example.test/a b", "/rel?x=1&y=2"]),
    st.sampled_from(["", "Title"]),
)
_MARKS = st.lists(
    st.one_of(st.sampled_from(_SIMPLE_MARKS), _LINK),
    max_size=3,
    unique_by=lambda mark: mark["type"],
)


def _text_node(text: str, marks: list[dict[str, Any]]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = marks
    return node


_INLINE = st.one_of(
    st.builds(_text_node, _TEXT, _MARKS),
    st.builds(_text_node, _TEXT, st.just([])),
    st.just({"type": "hardBreak"}),
    st.builds(
        lambda name: {
            "type": "mention",
            "attrs": {"id": "557058:f00", "text": f"@{name}", "accessLevel": ""},
        },
        _TEXT,
    ),
    st.just({"type": "emoji", "attrs": {"shortName": ":smile:", "id": "1f604", "text": "😄"}}),
    st.just({"type": "inlineCard", "attrs": {"url": "https://example.test/browse/KAN-1"}}),
    st.just({"type": "date", "attrs": {"timestamp": "1710000000000"}}),
    st.builds(
        lambda text: {
            "type": "status",
            "attrs": {"text": text, "color": "blue", "localId": "a-b", "style": ""},
        },
        _TEXT,
    ),
    st.just({"type": "placeholderInline", "attrs": {"text": "unknown inline"}}),
)
_INLINES = st.lists(_INLINE, max_size=6)

_PARAGRAPH = st.builds(lambda content: {"type": "paragraph", "content": content}, _INLINES)
_HEADING = st.builds(
    lambda level, content: {"type": "heading", "attrs": {"level": level}, "content": content},
    st.integers(1, 6),
    _INLINES,
)
_CODE = st.builds(
    lambda language, text: {
        "type": "codeBlock",
        **({"attrs": {"language": language}} if language else {}),
        "content": [{"type": "text", "text": text}] if text else [],
    },
    st.sampled_from(["", "python", "java"]),
    st.text(st.sampled_from(list("ab `\n#*")), max_size=12),
)
_MEDIA = st.just(
    {
        "type": "mediaSingle",
        "attrs": {"layout": "center"},
        "content": [
            {
                "type": "media",
                "attrs": {
                    "id": "d7174b86",
                    "type": "file",
                    "collection": "",
                    "width": 10,
                    "height": 5,
                },
            }
        ],
    }
)
_MEDIA_GROUP = st.just(
    {
        "type": "mediaGroup",
        "content": [
            {
                "type": "media",
                "attrs": {"id": "e1", "type": "file", "collection": "jira-1-field-description"},
            }
        ],
    }
)
_RULE = st.just({"type": "rule"})
_UNKNOWN = st.just({"type": "blockCard", "attrs": {"url": "https://example.test"}})


def _cell(cell_type: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda paragraph: {"type": cell_type, "content": [paragraph]}, _PARAGRAPH)


_TABLE = st.integers(1, 3).flatmap(
    lambda width: st.builds(
        lambda header, rows, attrs: {
            "type": "table",
            **({"attrs": attrs} if attrs else {}),
            "content": [
                {"type": "tableRow", "content": header},
                *({"type": "tableRow", "content": row} for row in rows),
            ],
        },
        st.lists(_cell("tableHeader"), min_size=width, max_size=width),
        st.lists(st.lists(_cell("tableCell"), min_size=width, max_size=width), max_size=2),
        st.sampled_from(
            [None, {"isNumberColumnEnabled": False, "layout": "default", "localId": "t-1"}]
        ),
    )
)


def _blocks(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    items = st.builds(
        lambda content: {"type": "listItem", "content": content},
        st.lists(st.one_of(_PARAGRAPH, children), min_size=1, max_size=2),
    )
    return st.one_of(
        st.builds(
            lambda content: {"type": "bulletList", "content": content},
            st.lists(items, min_size=1, max_size=3),
        ),
        st.builds(
            lambda order, content: {
                "type": "orderedList",
                **({"attrs": {"order": order}} if order else {}),
                "content": content,
            },
            st.sampled_from([None, 1, 3]),
            st.lists(items, min_size=1, max_size=3),
        ),
        st.builds(
            lambda content: {"type": "blockquote", "content": content},
            st.lists(children, min_size=1, max_size=2),
        ),
        st.builds(
            lambda kind, content: {
                "type": "panel",
                "attrs": {"panelType": kind},
                "content": content,
            },
            st.sampled_from(["info", "note", "warning", "success", "error"]),
            st.lists(children, min_size=1, max_size=2),
        ),
        st.builds(
            lambda title, content: {
                "type": "expand",
                "attrs": {"title": title},
                "content": content,
            },
            _TEXT,
            st.lists(children, min_size=1, max_size=2),
        ),
    )


_LEAF_BLOCK = st.one_of(_PARAGRAPH, _HEADING, _CODE, _RULE, _MEDIA, _MEDIA_GROUP, _TABLE, _UNKNOWN)
_BLOCK = st.recursive(_LEAF_BLOCK, _blocks, max_leaves=6)
_DOCS = st.builds(
    lambda content: {"version": 1, "type": "doc", "content": content}, st.lists(_BLOCK, max_size=5)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCS)
def test_adf_round_trip_property(doc: dict[str, Any]) -> None:
    assert markdown_to_adf(adf_to_markdown(doc)) == normalise(doc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCS)
def test_split_matches_blocks_property(doc: dict[str, Any]) -> None:
    blocks = normalise(doc)["content"]
    markdown = adf_to_markdown(doc)

    split = split_markdown_blocks(markdown)

    assert split == [adf_block_to_markdown(block) for block in blocks]


_MARKDOWN = st.text(st.sampled_from(list("ab #*_-+>`[]()!|\n1.~\\<&")), max_size=40)


@settings(max_examples=150, deadline=None)
@given(_MARKDOWN)
def test_markdown_round_trip_stable(text: str) -> None:
    once = adf_to_markdown(markdown_to_adf(text))
    assert adf_to_markdown(markdown_to_adf(once)) == once
