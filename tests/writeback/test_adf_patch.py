from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from writeback.adf_patch import patch_description, split_text_newlines
from writeback.errors import ContentNotWritable

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "jira-samples"

Node = dict[str, Any]


class PlainCodec:
    """A small codec: plain-text paragraphs as text, every other block as a placeholder."""

    def adf_to_markdown(self, doc: Node | None) -> str:
        return "\n\n".join(
            self.adf_block_to_markdown(node) for node in (doc or {}).get("content") or []
        )

    def adf_block_to_markdown(self, node: Node) -> str:
        children = node.get("content") or []
        if node["type"] == "paragraph" and all(child["type"] == "text" for child in children):
            return "".join(child["text"] for child in children)
        return "<!--adf:" + json.dumps(node, sort_keys=True) + "-->"

    def split_markdown_blocks(self, text: str) -> list[str]:
        return [block for block in text.split("\n\n") if block.strip()]

    def markdown_to_adf(self, text: str) -> Node:
        content: list[Node] = []
        for block in self.split_markdown_blocks(text):
            if block.startswith("<!--adf:"):
                if not block.endswith("-->"):
                    raise ValueError(f"damaged placeholder {block[:20]!r}")
                content.append(json.loads(block[len("<!--adf:") : -len("-->")]))
            else:
                content.append({"type": "paragraph", "content": [{"type": "text", "text": block}]})
        return {"version": 1, "type": "doc", "content": content}


CODEC = PlainCodec()


def paragraph(text: str) -> Node:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


def rich_description() -> Node:
    mention = {
        "type": "paragraph",
        "content": [
            {"type": "text", "text": "Ask "},
            {
                "type": "mention",
                "attrs": {"id": "5b10ac8d82e05b22cc7d0001", "text": "@Alex", "accessLevel": ""},
            },
        ],
    }
    table = {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": [
            {"type": "tableRow", "content": [{"type": "tableCell", "content": [paragraph("cell")]}]}
        ],
    }
    media = {
        "type": "mediaSingle",
        "attrs": {"layout": "center"},
        "content": [
            {"type": "media", "attrs": {"id": "d7174b86", "type": "file", "collection": ""}}
        ],
    }
    return {
        "version": 1,
        "type": "doc",
        "content": [paragraph("Intro"), mention, table, media, paragraph("Old text")],
    }


def test_patch_changes_only_edited_paragraph() -> None:
    original = rich_description()
    old = CODEC.adf_to_markdown(original)
    patched = patch_description(original, old, old.replace("Old text", "New text"), codec=CODEC)
    assert patched["content"][:4] == original["content"][:4]
    assert patched["content"][4] == paragraph("New text")


def test_patch_keeps_original_node_objects_equal() -> None:
    original = rich_description()
    kept = copy.deepcopy(original)
    old = CODEC.adf_to_markdown(original)
    patch_description(original, old, old + "\n\nAdded", codec=CODEC)
    assert original == kept


def test_patch_unchanged_returns_original() -> None:
    original = rich_description()
    old = CODEC.adf_to_markdown(original)
    assert patch_description(original, old, old + "\n", codec=CODEC) == original


def test_patch_inserts_new_block() -> None:
    original = rich_description()
    old = CODEC.adf_to_markdown(original)
    blocks = old.split("\n\n")
    new = "\n\n".join([blocks[0], "Inserted", *blocks[1:]])
    patched = patch_description(original, old, new, codec=CODEC)
    assert [node["type"] for node in patched["content"]] == [
        "paragraph",
        "paragraph",
        "paragraph",
        "table",
        "mediaSingle",
        "paragraph",
    ]
    assert patched["content"][1] == paragraph("Inserted")


def test_patch_deletes_block() -> None:
    original = rich_description()
    old = CODEC.adf_to_markdown(original)
    new = "\n\n".join(block for block in old.split("\n\n") if block != "Intro")
    patched = patch_description(original, old, new, codec=CODEC)
    assert patched["content"] == original["content"][1:]


def test_patch_splits_newlines_in_text() -> None:
    original = {"version": 1, "type": "doc", "content": [paragraph("one")]}
    patched = patch_description(original, "one", "two\nlines", codec=CODEC)
    assert patched["content"][0]["content"] == [
        {"type": "text", "text": "two"},
        {"type": "hardBreak"},
        {"type": "text", "text": "lines"},
    ]


def test_patch_from_empty_description() -> None:
    patched = patch_description(None, "", "Fresh", codec=CODEC)
    assert patched == {"version": 1, "type": "doc", "content": [paragraph("Fresh")]}


def test_patch_to_empty_description() -> None:
    patched = patch_description(rich_description(), "x", "", codec=CODEC)
    assert patched["content"] == []


def test_patch_damaged_placeholder_is_not_writable() -> None:
    original = rich_description()
    old = CODEC.adf_to_markdown(original)
    with pytest.raises(ContentNotWritable, match="cannot be converted"):
        patch_description(original, old, old + "\n\n<!--adf:{broken", codec=CODEC)


def test_patch_keeps_code_block_newlines() -> None:
    code = {"type": "codeBlock", "attrs": {}, "content": [{"type": "text", "text": "a\nb"}]}
    original = {"version": 1, "type": "doc", "content": [code, paragraph("tail")]}
    old = CODEC.adf_to_markdown(original)
    patched = patch_description(original, old, old.replace("\n\ntail", "\n\nhead"), codec=CODEC)
    assert patched["content"][0] == code


def test_newline_split_recurses() -> None:
    node = {"type": "bulletList", "content": [{"type": "listItem", "content": [paragraph("a\nb")]}]}
    split = split_text_newlines(node)
    texts = split["content"][0]["content"][0]["content"]
    assert [child["type"] for child in texts] == ["text", "hardBreak", "text"]


def test_patch_real_codec_keeps_kitchen_sink() -> None:
    adf = pytest.importorskip("projections.adf")
    sample = SAMPLES / "adf" / "kitchen_sink.jira-editor-output.json"
    if not sample.exists():
        pytest.skip(f"Jira samples not found at {sample}")
    original = json.loads(sample.read_text())
    old = adf.adf_to_markdown(original)
    blocks = adf.split_markdown_blocks(old)
    target = blocks.index("lorem ipsum")
    blocks[target] = "a changed paragraph"
    patched = patch_description(original, old, "\n\n".join(blocks))

    differing = [
        index
        for index, (before, after) in enumerate(
            zip(original["content"], patched["content"], strict=True)
        )
        if before != after
    ]
    assert differing == [target]
