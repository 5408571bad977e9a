"""A fast, conservative test that a normalised ADF block's Markdown converts back unchanged.

:func:`projections.adf.adf_block_to_markdown` proves each rendered block by parsing it
back with markdown-it, which took about two thirds of the conversion time on
generated Jira descriptions. This module accepts, without parsing, only shapes whose
rendering cannot be misread:

- paragraphs, headings and table cells of plain text, single-mark text (strong, em,
  strike, code, or a link to an ``http(s)`` URL) and inline placeholders;
- bullet and ordered lists whose items are one such paragraph, optionally followed
  by one nested list;
- block quotes of such paragraphs, fenced code blocks and rules.

Marked text never starts or ends with a space. Strong, em and strike text starts and
ends with a letter, a digit or punctuation, and where it is punctuation, the
character outside the delimiter must be a space or punctuation too, so every
delimiter run opens and closes where it was written. Two adjacent runs never share
a delimiter character. Text contains no line breaks, tabs or whitespace other than
spaces, and no line after a break starts with a space. Anything else returns
``False`` and goes through the full check, so a ``False`` is never an error.

:func:`block_never_round_trips` is the converse: shapes no parse can produce.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any

Node = dict[str, Any]

_MARKDOWN_MARKS = frozenset({"link", "strong", "em", "strike", "code"})
_DELIMITED_MARKS = frozenset({"strong", "em", "strike"})
_ASCII_PUNCTUATION = frozenset(string.punctuation)
# The character each Markdown mark is written with.
_DELIMITERS = {"strong": "*", "em": "*", "strike": "~", "code": "`", "link": "["}

# Characters markdown-it reads as line structure or normalises away: control
# characters, DEL, and every whitespace character other than the space.
_UNSAFE_TEXT_RE = re.compile(
    r"[\x00-\x1f\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
# Hrefs markdown-it keeps as written: no backslash escapes, entities, spaces or brackets.
_SAFE_HREF_RE = re.compile(r"https?://[A-Za-z0-9._~:/?#@!$'*+,;=%-]+")
_SAFE_LANGUAGE_RE = re.compile(r"[A-Za-z0-9_+#.-]+")


# The keys of each block type as projections.markdown.parse_blocks builds it.
_PARSED_KEYS: dict[str, tuple[frozenset[str], ...]] = {
    "paragraph": (frozenset({"type", "content"}),),
    "heading": (frozenset({"type", "attrs", "content"}),),
    "bulletList": (frozenset({"type", "content"}),),
    "orderedList": (frozenset({"type", "content"}), frozenset({"type", "attrs", "content"})),
    "blockquote": (frozenset({"type", "content"}),),
    "codeBlock": (frozenset({"type", "content"}), frozenset({"type", "attrs", "content"})),
    "rule": (frozenset({"type"}),),
    "table": (frozenset({"type", "content"}),),
}


def block_never_round_trips(block: Any) -> bool:
    """Return ``True`` when no Markdown parse can yield the block, so checking is pointless.

    The parser builds each block type with fixed keys, records an ordered list's
    start only when it is not 1, and never ends a paragraph with a line break.
    """
    if not isinstance(block, dict):
        return True
    shapes = _PARSED_KEYS.get(block.get("type"))  # type: ignore[arg-type]
    if shapes is None or frozenset(block) not in shapes:
        return True
    if block["type"] in ("paragraph", "heading"):
        # A backslash that ends a paragraph is literal text, so a final line break
        # comes back as a "\\" text node.
        content = block.get("content")
        return bool(content) and isinstance(content, list) and content[-1] == {"type": "hardBreak"}
    if block["type"] == "orderedList" and "attrs" in block:
        attrs = block["attrs"]
        return not isinstance(attrs, dict) or attrs.get("order") == 1 or attrs.keys() != {"order"}
    return False


def block_round_trips(block: Any) -> bool:
    """Return ``True`` only when the block's Markdown surely parses back to the block."""
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "paragraph":
        return _paragraph(block, in_table=False)
    if kind == "heading":
        return _heading(block)
    if kind in ("bulletList", "orderedList"):
        return _list(block)
    if kind == "blockquote":
        content = block.get("content")
        return (
            block.keys() == {"type", "content"}
            and isinstance(content, list)
            and bool(content)
            and all(_paragraph(child, in_table=False) for child in content)
        )
    if kind == "codeBlock":
        return _code_block(block)
    if kind == "rule":
        return block.keys() == {"type"}
    if kind == "table":
        return _table(block)
    return False


def _paragraph(node: Any, *, in_table: bool) -> bool:
    return (
        isinstance(node, dict)
        and node.get("type") == "paragraph"
        and node.keys() == {"type", "content"}
        and _inline(node["content"], in_table=in_table, in_heading=False)
    )


def _heading(block: Node) -> bool:
    attrs = block.get("attrs")
    if block.keys() != {"type", "attrs", "content"} or not isinstance(attrs, dict):
        return False
    level = attrs.get("level")
    if attrs.keys() != {"level"} or type(level) is not int or not 1 <= level <= 6:
        return False
    content = block["content"]
    if not _inline(content, in_table=False, in_heading=True):
        return False

    # A trailing run of "#" would read as the heading's closing sequence.
    last = content[-1]
    return not (last.get("type") == "text" and str(last.get("text", "")).endswith("#"))


def _list(block: Node) -> bool:
    items = block.get("content")
    if not isinstance(items, list) or not items:
        return False
    if block.keys() == {"type", "attrs", "content"} and block["type"] == "orderedList":
        # markdown-it records a start only when it is not 1.
        attrs = block["attrs"]
        order = attrs.get("order") if isinstance(attrs, dict) else None
        if attrs.keys() != {"order"} or type(order) is not int or order == 1:
            return False
        if not 0 <= order < 10**8 or len(items) > 10**8:
            return False
    elif block.keys() != {"type", "content"}:
        return False
    return all(_list_item(item) for item in items)


def _list_item(item: Any) -> bool:
    """Accept an item of one paragraph, optionally followed by one nested list."""
    if not isinstance(item, dict) or item.get("type") != "listItem":
        return False
    content = item.get("content")
    if item.keys() != {"type", "content"} or not isinstance(content, list):
        return False
    if not 1 <= len(content) <= 2 or not _paragraph(content[0], in_table=False):
        return False
    if len(content) == 2:
        nested = content[1]
        return (
            isinstance(nested, dict)
            and nested.get("type") in ("bulletList", "orderedList")
            and _list(nested)
        )
    return True


def _code_block(block: Node) -> bool:
    if block.keys() == {"type", "attrs", "content"}:
        attrs = block["attrs"]
        language = attrs.get("language") if isinstance(attrs, dict) else None
        if attrs.keys() != {"language"} or not isinstance(language, str):
            return False
        if _SAFE_LANGUAGE_RE.fullmatch(language) is None:
            return False
    elif block.keys() != {"type", "content"}:
        return False
    content = block["content"]
    if not isinstance(content, list) or len(content) != 1:
        return False
    text_node = content[0]
    if not isinstance(text_node, dict) or text_node.keys() != {"type", "text"}:
        return False
    text = text_node["text"]
    return (
        text_node["type"] == "text"
        and isinstance(text, str)
        and bool(text)
        and "\r" not in text
        and "\x00" not in text
    )


def _table(block: Node) -> bool:
    rows = block.get("content")
    if block.keys() != {"type", "content"} or not isinstance(rows, list) or not rows:
        return False
    width = None
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or row.keys() != {"type", "content"}:
            return False
        cells = row["content"]
        if row["type"] != "tableRow" or not isinstance(cells, list) or not cells:
            return False
        width = len(cells) if width is None else width
        if len(cells) != width:
            return False
        expected = "tableHeader" if index == 0 else "tableCell"
        for cell in cells:
            if not isinstance(cell, dict) or cell.keys() != {"type", "content"}:
                return False
            content = cell["content"]
            if cell["type"] != expected or not isinstance(content, list) or len(content) != 1:
                return False
            if not _paragraph(content[0], in_table=True):
                return False
    return True


def _inline(nodes: Any, *, in_table: bool, in_heading: bool) -> bool:
    """Check a run of inline nodes that forms one paragraph, heading or table cell."""
    if not isinstance(nodes, list) or not nodes:
        return False
    kinds: list[str] = []
    for node in nodes:
        kind = _inline_kind(node, in_table=in_table)
        if kind is None:
            return False
        kinds.append(kind)
    if (in_table or in_heading) and "break" in kinds:
        return False

    for index, kind in enumerate(kinds):
        before = kinds[index - 1] if index > 0 else "edge"
        after = kinds[index + 1] if index + 1 < len(kinds) else "edge"
        node = nodes[index]
        if kind == "break" and "edge" in (before, after):
            # A backslash at the end of a paragraph is literal text, not a line break.
            return False
        if (
            kind == "marked"
            and after == "marked"
            and _delimiter(node) == _delimiter(nodes[index + 1])
        ):
            # Two runs such as "**a**" and "*b*" would merge into one delimiter run.
            return False
        if kind in ("plain", "marked") and before == "break" and node["text"][0] == " ":
            # Markdown strips the spaces that start a line.
            return False
        if kind == "marked" and not _delimiters_flank(nodes, index, before, after):
            return False
        # "!" before "[" would turn the link into an image.
        if (
            kind == "marked"
            and before == "plain"
            and _is_link(node)
            and nodes[index - 1]["text"].endswith("!")
        ):
            return False
    return True


def _char_class(char: str) -> str:
    """Classify a character the way CommonMark's delimiter rules do."""
    if char.isalnum():
        return "alnum"
    if char == " ":
        return "space"
    if char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P"):
        return "punct"
    return "other"


def _delimiters_flank(nodes: list[Any], index: int, before: str, after: str) -> bool:
    """Check that ``**``, ``*`` or ``~~`` around a run open and close where written.

    An opener followed by punctuation opens only after a space, punctuation or a
    line start, and a closer after punctuation closes only before the same.
    """
    node = nodes[index]
    if node["marks"][0].get("type") not in _DELIMITED_MARKS:
        return True
    text = node["text"]
    loose = ("space", "punct")
    if (
        _char_class(text[0]) == "punct"
        and before == "plain"
        and _char_class(nodes[index - 1]["text"][-1]) not in loose
    ):
        return False
    return not (
        _char_class(text[-1]) == "punct"
        and after == "plain"
        and _char_class(nodes[index + 1]["text"][0]) not in loose
    )


def _delimiter(node: Node) -> str:
    return _DELIMITERS[node["marks"][0]["type"]]


def _is_link(node: Node) -> bool:
    return bool(node["marks"][0].get("type") == "link")


def _inline_kind(node: Any, *, in_table: bool) -> str | None:
    """Return ``plain``, ``marked``, ``break`` or ``placeholder``, or ``None`` when unsafe."""
    if not isinstance(node, dict):
        return None
    node_type = node.get("type")
    if node_type == "hardBreak":
        return "break" if node.keys() == {"type"} else None
    if node_type != "text" or not node.keys() <= {"type", "text", "marks"}:
        return _placeholder_kind(node)

    marks = node.get("marks") or []
    if not all(isinstance(mark, dict) for mark in marks):
        return None
    if not all(mark.get("type") in _MARKDOWN_MARKS for mark in marks):
        return _placeholder_kind(node)
    text = node.get("text")
    if not isinstance(text, str) or not text or _UNSAFE_TEXT_RE.search(text):
        return None
    if not marks:
        return "plain"
    if len(marks) != 1:
        return None

    mark = marks[0]
    mark_type = mark.get("type")
    if mark_type in _DELIMITED_MARKS:
        if mark.keys() != {"type"}:
            return None
        edges = (_char_class(text[0]), _char_class(text[-1]))
        return None if "space" in edges or "other" in edges else "marked"
    if mark_type == "code":
        if mark.keys() != {"type"} or "`" in text or "|" in text:
            return None
        return "marked" if text[0] != " " and text[-1] != " " else None
    attrs = mark.get("attrs")
    if mark.keys() != {"type", "attrs"} or not isinstance(attrs, dict) or attrs.keys() != {"href"}:
        return None
    href = attrs["href"]
    if not isinstance(href, str) or _SAFE_HREF_RE.fullmatch(href) is None:
        return None
    if in_table and "|" in href:
        return None
    return "marked" if text[0] != " " and text[-1] != " " else None


def _placeholder_kind(node: Node) -> str | None:
    """Inline placeholders carry their node as escaped JSON, which parses back exactly."""
    if not isinstance(node.get("type"), str):
        return None
    # Imported here because projections.adf imports this module.
    from projections.adf import visible_text

    visible = visible_text(node)
    return None if _UNSAFE_TEXT_RE.search(visible) else "placeholder"
