"""Patch an issue's ADF description with a Markdown edit, block by block.

Markdown cannot hold everything ADF can (mentions, media, panels, tables with
merged cells, unknown nodes). So an edit is not written by converting the whole
new Markdown. The top-level blocks of the original ADF and of the new Markdown
are aligned with :mod:`difflib`. Every block whose Markdown did not change keeps
its original ADF node untouched, and only changed or new blocks are converted.
"""

from __future__ import annotations

import copy
import difflib
import logging
from typing import Any, Protocol

from writeback.errors import ContentNotWritable

log = logging.getLogger(__name__)

Node = dict[str, Any]


class MarkdownCodec(Protocol):
    """The ADF and Markdown conversions the patch needs (:mod:`projections.adf` has them)."""

    def adf_to_markdown(self, doc: Node | None) -> str: ...

    def adf_block_to_markdown(self, node: Node) -> str: ...

    def markdown_to_adf(self, text: str) -> Node: ...

    def split_markdown_blocks(self, text: str) -> list[str]: ...


def default_codec() -> MarkdownCodec:
    """Return :mod:`projections.adf`, imported on first use."""
    import projections.adf

    return projections.adf


def markdown_key(markdown: str) -> str:
    """Return Markdown without trailing spaces and blank edge lines, for comparisons.

    Those carry no content, and editors add them.
    """
    return "\n".join(line.rstrip() for line in markdown.strip("\n").split("\n"))


def _empty_doc() -> Node:
    return {"version": 1, "type": "doc", "content": []}


def original_block_markdown(original_adf: Node | None, codec: MarkdownCodec) -> list[str]:
    """Render each top-level block of ``original_adf`` as Markdown, in order."""
    blocks = list((original_adf or {}).get("content") or [])
    return [codec.adf_block_to_markdown(block) for block in blocks]


def _convert(text: str, codec: MarkdownCodec) -> list[Node]:
    try:
        converted = codec.markdown_to_adf(text)
    except Exception as exc:
        # The converter raises its own error class; whatever it is, the edit
        # cannot be written and the user must hear why.
        raise ContentNotWritable(
            f"the edited description cannot be converted to Jira's format: {exc}; "
            "restore the kept blocks (marked <!--adf:...-->) unchanged and edit around them"
        ) from exc
    return list(converted.get("content") or [])


def split_text_newlines(node: Any) -> Any:
    """Return ``node`` with every text newline replaced by a ``hardBreak`` node.

    Jira rejects newlines in the text of paragraphs and headings. A code block is
    left as it is, because its text keeps its lines.
    """
    if not isinstance(node, dict) or node.get("type") == "codeBlock":
        return node
    content = node.get("content")
    if not isinstance(content, list):
        return node

    children: list[Any] = []
    for child in content:
        if (
            isinstance(child, dict)
            and child.get("type") == "text"
            and "\n" in child.get("text", "")
        ):
            pieces = child["text"].split("\n")
            for index, piece in enumerate(pieces):
                if index:
                    children.append({"type": "hardBreak"})
                if piece:
                    children.append({**child, "text": piece})
        else:
            children.append(split_text_newlines(child))
    return {**node, "content": children}


def patch_description(
    original_adf: Node | None,
    old_markdown: str,
    new_markdown: str,
    *,
    codec: MarkdownCodec | None = None,
) -> Node:
    """Return the ADF description that Jira should hold after a Markdown edit.

    ``old_markdown`` is the Markdown the edit was made on. When the edit changes
    nothing, the original ADF is returned as it was. Otherwise the original's
    blocks are aligned with the new Markdown's blocks, and a block that matches
    keeps its original node. Raises :class:`ContentNotWritable` when a changed
    block cannot be converted.
    """
    codec = codec or default_codec()
    original = copy.deepcopy(original_adf) if original_adf else _empty_doc()

    if markdown_key(old_markdown) == markdown_key(new_markdown) and original_adf is not None:
        return original
    if not new_markdown.strip():
        return _empty_doc()

    original_nodes: list[Node] = list(original.get("content") or [])
    original_keys = [markdown_key(text) for text in original_block_markdown(original, codec)]
    new_blocks = codec.split_markdown_blocks(new_markdown)
    new_keys = [markdown_key(text) for text in new_blocks]

    # Converting the whole new text at once keeps context between blocks (two
    # adjacent lists stay apart), and its blocks map one to one onto new_blocks.
    converted = _convert(new_markdown, codec)
    if len(converted) != len(new_blocks):
        log.debug(
            "markdown conversion gave %d blocks for %d Markdown blocks; converting changed runs",
            len(converted),
            len(new_blocks),
        )

    matcher = difflib.SequenceMatcher(a=original_keys, b=new_keys, autojunk=False)
    content: list[Any] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            content.extend(original_nodes[i1:i2])
            continue
        if tag == "delete":
            continue
        if len(converted) == len(new_blocks):
            changed = converted[j1:j2]
        else:
            changed = _convert("\n\n".join(new_blocks[j1:j2]), codec)
        content.extend(split_text_newlines(node) for node in changed)

    patched = {**original, "type": "doc", "version": original.get("version", 1)}
    patched["content"] = content
    return patched
