"""ADF (Atlassian Document Format) to Markdown and back, without losing content.

Markdown holds headings, paragraphs, strong, emphasis, strike-through, inline code,
links, lists, code blocks, GFM tables, block quotes, rules and hard breaks. Every
other node or mark travels as a placeholder that carries the original node (see
:mod:`projections.markdown`), so ``markdown_to_adf(adf_to_markdown(doc))`` equals
``normalise(doc)``. Each top-level block is checked when rendered: a block whose
Markdown would not convert back to the same ADF is kept whole in a placeholder,
with its Markdown rendering shown for readers.

The blocks of ``adf_to_markdown(doc)`` are ``adf_block_to_markdown(block)`` for
each top-level block, joined by blank lines, and ``split_markdown_blocks`` returns
them again, one string per ADF block. Two adjacent lists of the same kind are
separated by an empty comment (``LIST_SEPARATOR``), which belongs to no block,
because Markdown would otherwise join them into one list.
"""

from __future__ import annotations

import re
from typing import Any

from projections.adf_safe import block_never_round_trips, block_round_trips
from projections.markdown import (
    BEGIN_PREFIX,
    BLOCK_PREFIX,
    CONTAINERS,
    END_COMMENT,
    LIST_SEPARATOR,
    MARK_RANK,
    Node,
    block_line_ranges,
    block_placeholder,
    encode_node,
    inline_placeholder,
    parse_blocks,
    sort_marks,
)

# Marks that Markdown can write; text with any other mark becomes a placeholder.
_MARKDOWN_MARKS = frozenset({"link", "strong", "em", "strike", "code"})
_DELIMITERS = {"strong": "**", "em": "*", "strike": "~~"}
# Each Markdown punctuation character that could start a construct gets a backslash.
_ESCAPES = str.maketrans({char: "\\" + char for char in "\\`*_[]<>|~&"})
_TEXT_KEYS = frozenset({"type", "text", "marks"})
_LINE_START_RE = re.compile(r"^(#|>|-|\+|=|(\d+)([.)]))")


# --- normalisation --------------------------------------------------------------------


def normalise(doc: Node) -> Node:
    """Return ``doc`` with marks in a fixed order, empty text dropped and equal runs merged.

    These are the only differences a Markdown round trip introduces. Nodes that need
    no change are shared with ``doc``, not copied, so treat both as immutable.
    """
    return _normalise_node(doc)


def _normalise_node(node: Node) -> Node:
    marks = node.get("marks") if node.get("type") == "text" else None
    sorted_marks = sort_marks(list(marks)) if marks and len(marks) > 1 else marks
    content = node.get("content")
    children = _normalise_children(content) if isinstance(content, list) else content
    if sorted_marks == marks and children is content:
        return node

    result = dict(node)
    if marks:
        result["marks"] = sorted_marks
    if isinstance(content, list):
        result["content"] = children
    return result


def _normalise_children(children: list[Any]) -> list[Any]:
    """Return the normalised children, or ``children`` itself when none changed."""
    merged: list[Any] = []
    changed = False
    for child in children:
        if not isinstance(child, dict):
            merged.append(child)
            continue
        content = child.get("content")
        if content is None and (child.get("type") != "text" or len(child.get("marks") or ()) < 2):
            # A leaf with at most one mark is already normal.
            node = child
        else:
            node = _normalise_node(child)
            changed = changed or node is not child
        if node.get("type") == "text" and node.keys() <= _TEXT_KEYS:
            if not node.get("text"):
                changed = True
                continue
            previous = merged[-1] if merged else None
            if (
                isinstance(previous, dict)
                and previous.get("type") == "text"
                and previous.keys() <= _TEXT_KEYS
                and previous.get("marks") == node.get("marks")
            ):
                merged[-1] = {**previous, "text": previous["text"] + node["text"]}
                changed = True
                continue
        merged.append(node)
    return merged if changed else children


# --- inline rendering -----------------------------------------------------------------


def _escape(text: str, at_line_start: bool) -> str:
    escaped = text.translate(_ESCAPES)
    if at_line_start:
        match = _LINE_START_RE.match(escaped)
        if match is not None:
            if match.group(2) is not None:
                escaped = f"{match.group(2)}\\{escaped[len(match.group(2)) :]}"
            else:
                escaped = "\\" + escaped
    return escaped


def _code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith(("`", " ")) or text.endswith(("`", " ")):
        return f"{fence} {text} {fence}"
    return f"{fence}{text}{fence}"


def visible_text(node: Node) -> str:
    attrs = node.get("attrs") or {}
    node_type = node.get("type")
    if node_type == "text":
        return str(node.get("text", ""))
    if node_type == "mention":
        text = str(attrs.get("text") or attrs.get("id") or "")
        return text if text.startswith("@") else f"@{text}"
    if node_type == "emoji":
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if node_type == "status":
        return f"[{attrs.get('text', '')}]"
    if node_type == "date":
        return _date_text(attrs.get("timestamp"))
    if node_type == "inlineCard":
        return str(attrs.get("url") or "")
    return str(attrs.get("text") or "")


def _date_text(timestamp: Any) -> str:
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(int(timestamp) / 1000, UTC).date().isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return str(timestamp)


def _link_close(mark: Node) -> str:
    attrs = mark.get("attrs") or {}
    href = str(attrs.get("href", ""))
    if not href or re.search(r"[\s()<>]", href):
        href = f"<{href}>"
    title = attrs.get("title")
    if title:
        escaped_title = str(title).replace("\\", "\\\\").replace('"', '\\"')
        return f']({href} "{escaped_title}")'
    return f"]({href})"


def _close(mark: Node) -> str:
    if mark.get("type") == "link":
        return _link_close(mark)
    return _DELIMITERS[str(mark["type"])]


def _open(mark: Node) -> str:
    if mark.get("type") == "link":
        return "["
    return _DELIMITERS[str(mark["type"])]


def render_inline(nodes: list[Any]) -> str:
    """Render ADF inline nodes as Markdown inline text."""
    parts: list[str] = []
    open_marks: list[Node] = []
    at_line_start = True

    def close_from(depth: int) -> None:
        while len(open_marks) > depth:
            parts.append(_close(open_marks.pop()))

    for node in nodes:
        node_type = node.get("type") if isinstance(node, dict) else None
        marks = node.get("marks") or [] if isinstance(node, dict) else []
        plain = (
            node_type == "text"
            and node.keys() <= _TEXT_KEYS
            and all(mark.get("type") in _MARKDOWN_MARKS for mark in marks)
        )

        if plain and not marks:
            # Unmarked text, the common case: the general path below reduces to this.
            close_from(0)
            parts.append(_escape(str(node.get("text", "")), at_line_start))
            at_line_start = False
            continue

        if node_type == "hardBreak" and node.keys() == {"type"}:
            close_from(0)
            parts.append("\\\n")
            at_line_start = True
            continue

        if not plain:
            close_from(0)
            visible = _escape(visible_text(node) if isinstance(node, dict) else "", False)
            parts.append(inline_placeholder(node, visible))
            at_line_start = False
            continue

        ordered = sort_marks(list(marks))
        wanted = [mark for mark in ordered if mark.get("type") != "code"]
        depth = 0
        while (
            depth < len(open_marks) and depth < len(wanted) and open_marks[depth] == wanted[depth]
        ):
            depth += 1
        close_from(depth)
        for mark in wanted[depth:]:
            parts.append(_open(mark))
            open_marks.append(mark)

        text = str(node.get("text", ""))
        if any(mark.get("type") == "code" for mark in ordered):
            parts.append(_code_span(text))
        else:
            parts.append(_escape(text, at_line_start and not open_marks))
        at_line_start = False

    close_from(0)
    return _protect_edge_spaces("".join(parts))


def _protect_edge_spaces(text: str) -> str:
    # Markdown strips spaces at both ends of a paragraph, a heading and a table cell;
    # a character reference keeps them.
    if not text.startswith(" ") and not text.endswith(" "):
        return text
    stripped = text.strip(" ")
    if not stripped:
        return "&#32;" * len(text)
    leading = len(text) - len(text.lstrip(" "))
    trailing = len(text) - len(text.rstrip(" "))
    return "&#32;" * leading + stripped + "&#32;" * trailing


# --- block rendering -------------------------------------------------------------------


def _indent(text: str, prefix: str, first: str) -> str:
    lines = text.split("\n")
    out = [first + lines[0]]
    out.extend(prefix + line if line else "" for line in lines[1:])
    return "\n".join(out)


def _join_blocks(blocks: list[Any], rendered: list[str]) -> str:
    parts: list[str] = []
    previous_type: object = None
    for block, text in zip(blocks, rendered, strict=True):
        block_type = block.get("type") if isinstance(block, dict) else None
        if block_type in ("bulletList", "orderedList") and block_type == previous_type:
            parts.append(LIST_SEPARATOR)
        parts.append(text)
        previous_type = block_type
    return "\n\n".join(parts)


def _render_children(blocks: list[Any]) -> str:
    return _join_blocks(blocks, [render_block(block) for block in blocks])


def _render_list(node: Node) -> str:
    ordered = node.get("type") == "orderedList"
    start = int((node.get("attrs") or {}).get("order", 1)) if ordered else 0
    items = node.get("content") or []
    loose = any(len(item.get("content") or []) > 1 for item in items if isinstance(item, dict))

    rendered: list[str] = []
    for number, item in enumerate(items, start=start):
        marker = f"{number}. " if ordered else "- "
        if (
            not isinstance(item, dict)
            or item.get("type") != "listItem"
            or set(item) - {"type", "content"}
        ):
            body = block_placeholder(item) if isinstance(item, dict) else ""
        else:
            body = _render_children(item.get("content") or [])
        rendered.append(
            _indent(body, " " * len(marker), marker).rstrip() if body else marker.rstrip()
        )
    return ("\n\n" if loose else "\n").join(rendered)


def _render_code(node: Node) -> str:
    text = "".join(str(child.get("text", "")) for child in node.get("content") or [])
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    language = str((node.get("attrs") or {}).get("language") or "")
    return f"{fence}{language}\n{text}\n{fence}" if text else f"{fence}{language}\n{fence}"


def _table_cell_text(cell: Any) -> str | None:
    if not isinstance(cell, dict) or cell.get("attrs"):
        return None
    content = cell.get("content") or []
    if len(content) != 1 or content[0].get("type") != "paragraph":
        return None
    return render_inline(content[0].get("content") or [])


def _render_table(node: Node) -> str | None:
    rows = node.get("content") or []
    if not rows:
        return None
    lines: list[str] = []
    width = 0
    for index, row in enumerate(rows):
        cells = row.get("content") or [] if isinstance(row, dict) else []
        expected = "tableHeader" if index == 0 else "tableCell"
        if not cells or any(cell.get("type") != expected for cell in cells):
            return None
        texts = [_table_cell_text(cell) for cell in cells]
        if any(text is None for text in texts) or any("\n" in str(text) for text in texts):
            return None
        if index == 0:
            width = len(cells)
        elif len(cells) != width:
            return None
        lines.append("| " + " | ".join(str(text) for text in texts) + " |")
        if index == 0:
            lines.append("|" + " --- |" * width)
    return "\n".join(lines)


def render_block(node: Any) -> str:
    """Render one ADF block as Markdown, with placeholders but without the round-trip check."""
    if not isinstance(node, dict):
        return block_placeholder({"type": "unknown", "value": node})
    rendered = _markdown_form(node)
    return block_placeholder(node) if rendered is None else rendered


def _markdown_form(node: Node) -> str | None:
    """Render a block that has a Markdown form; return ``None`` for one that needs a placeholder."""
    node_type = node.get("type")
    attrs: dict[str, Any] = node.get("attrs") or {}
    content = node.get("content")

    if node_type == "paragraph" and not attrs and content:
        return render_inline(content)
    if node_type == "heading" and content and set(attrs) == {"level"}:
        return "#" * int(attrs["level"]) + " " + render_inline(content)
    if node_type in ("bulletList", "orderedList") and content:
        return _render_list(node)
    if node_type == "codeBlock":
        return _render_code(node)
    if node_type == "blockquote" and content:
        return _indent(_render_children(content), "> ", "> ").replace("\n\n", "\n>\n")
    if node_type == "rule" and not attrs:
        return "---"
    if node_type == "table":
        return _render_table(node)
    return None


def _body_of(node: Node) -> str:
    """Return the Markdown shown for readers inside a kept block."""
    node_type = node.get("type")
    if node_type in CONTAINERS:
        return _render_children(node.get("content") or [])
    rendered = render_block(node)
    return "" if rendered.startswith("<!--adf") else rendered


def adf_block_to_markdown(node: Node) -> str:
    """Render one top-level ADF block as Markdown that converts back to the same block."""
    return _normalised_block_to_markdown(_normalise_node(node))


def _normalised_block_to_markdown(block: Node) -> str:
    rendered = _markdown_form(block)
    if rendered is not None and (
        block_round_trips(block)
        or (not block_never_round_trips(block) and parse_blocks(rendered) == [block])
    ):
        return rendered

    # The same body as _body_of(block), reusing the rendering made above.
    if block.get("type") in CONTAINERS:
        body = _render_children(block.get("content") or [])
    else:
        body = rendered or ""
    encoded = encode_node(block)
    if not body:
        return f"{BLOCK_PREFIX}{encoded}-->"
    return f"{BEGIN_PREFIX}{encoded}-->\n\n{body}\n\n{END_COMMENT}"


def adf_to_markdown(doc: Node | None) -> str:
    """Render an ADF document as Markdown; ``None`` or an empty document gives ``""``."""
    if not doc:
        return ""
    # Normalising twice changes nothing, so the blocks are rendered as normalised here.
    blocks = _normalise_children(list(doc.get("content") or []))
    return _join_blocks(blocks, [_normalised_block_to_markdown(block) for block in blocks])


def markdown_to_adf(text: str) -> Node:
    """Parse Markdown into an ADF document, restoring every placeholder's node.

    Raises :class:`projections.errors.ConversionError` when a placeholder is damaged
    or a kept block's Markdown was edited in a way its ADF cannot take.
    """
    return {"version": 1, "type": "doc", "content": parse_blocks(text, _body_of)}


def split_markdown_blocks(text: str) -> list[str]:
    """Split Markdown into its top-level blocks, a kept block with its body as one."""
    lines = text.split("\n")
    blocks: list[str] = []
    for start, end in block_line_ranges(text):
        block_lines = lines[start:end]
        while block_lines and not block_lines[-1].strip():
            block_lines.pop()
        blocks.append("\n".join(block_lines))
    return blocks


__all__ = [
    "MARK_RANK",
    "adf_block_to_markdown",
    "adf_to_markdown",
    "markdown_to_adf",
    "normalise",
    "split_markdown_blocks",
]
