"""ADF to Jira wiki markup, the text form Jira puts in REST v2 and webhook payloads.

Jira Cloud stores rich text as ADF and renders it to wiki markup whenever it speaks
API v2, which includes every webhook body. Nodes with a wiki equivalent become markup
(`h1.`, `*bold*`, `{code:lang}`, `||head||`, `[~accountid:...]`, `{panel}`); nodes
without one (expand, media, status lozenges, dates, JSON-LD cards) are embedded as
`{adf:display=block}<json>{adf}` or `{adf:display=inline}<json>{adf}` so no content is
lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["adf_to_wiki"]

Node = dict[str, Any]

# Background colours Jira Cloud uses when it renders a panel type as a wiki {panel}.
PANEL_COLOURS: dict[str, str] = {
    "info": "#deebff",
    "note": "#eae6ff",
    "success": "#e3fcef",
    "warning": "#fffae6",
    "error": "#ffebe6",
}

# Wiki wrappers for the simple text marks, as (opening, closing).
SIMPLE_MARKS: dict[str, tuple[str, str]] = {
    "strong": ("*", "*"),
    "em": ("_", "_"),
    "underline": ("+", "+"),
    "strike": ("-", "-"),
    "code": ("{{", "}}"),
}


def adf_to_wiki(adf: dict[str, Any] | None) -> str | None:
    """Render an ADF document as the wiki-markup string Jira sends in v2 payloads.

    Returns None for a missing document and for one that renders to no text, because
    Jira sends `"description": null` for an empty description.
    """
    if adf is None:
        return None

    text = _render_blocks(adf.get("content") or [], list_prefix="")
    text = text.rstrip("\n")
    if text == "":
        return None
    return text


def _render_blocks(blocks: list[Node], *, list_prefix: str) -> str:
    # Jira separates top-level blocks with one empty line, so an empty paragraph
    # between two blocks shows up as two extra newlines.
    rendered = [_render_block(block, list_prefix=list_prefix) for block in blocks]
    return "\n\n".join(rendered)


def _render_block(node: Node, *, list_prefix: str) -> str:
    node_type = node.get("type")
    attrs = node.get("attrs") or {}
    content: list[Node] = node.get("content") or []

    if node_type == "paragraph":
        return _render_inlines(content)

    if node_type == "heading":
        level = attrs.get("level", 1)
        return f"h{level}. {_render_inlines(content)}"

    if node_type in ("bulletList", "orderedList"):
        return _render_list(node, list_prefix=list_prefix)

    if node_type == "codeBlock":
        code = "".join(child.get("text", "") for child in content)
        language = attrs.get("language")
        if language:
            return f"{{code:{language}}}{code}{{code}}"
        return f"{{noformat}}{code}{{noformat}}"

    if node_type == "rule":
        return "----"

    if node_type == "blockquote":
        return f"{{quote}}{_render_blocks(content, list_prefix='')}{{quote}}"

    if node_type == "panel":
        colour = PANEL_COLOURS.get(str(attrs.get("panelType", "info")))
        if colour is None:
            return _embed_adf(node, display="block")
        body = _render_blocks(content, list_prefix="")
        return f"{{panel:bgColor={colour}}}{body}{{panel}}"

    if node_type == "table":
        return _render_table(content)

    return _embed_adf(node, display="block")


def _render_list(node: Node, *, list_prefix: str) -> str:
    marker = "*" if node.get("type") == "bulletList" else "#"
    prefix = list_prefix + marker
    lines: list[str] = []

    for item in node.get("content") or []:
        item_lines: list[str] = []
        for child in item.get("content") or []:
            if child.get("type") in ("bulletList", "orderedList"):
                item_lines.append(_render_list(child, list_prefix=prefix))
            elif not item_lines:
                item_lines.append(f"{prefix} {_render_block(child, list_prefix=prefix)}")
            else:
                # A second paragraph in one list item continues the item on a new line.
                item_lines.append(_render_block(child, list_prefix=prefix))
        if not item_lines:
            item_lines.append(f"{prefix} ")
        lines.extend(item_lines)

    return "\n".join(lines)


def _render_table(rows: list[Node]) -> str:
    lines: list[str] = []

    for row in rows:
        parts: list[str] = []
        for cell in row.get("content") or []:
            separator = "||" if cell.get("type") == "tableHeader" else "|"
            cell_text = _render_cell(cell.get("content") or [])
            parts.append(f"{separator}{cell_text}")
        closing = "||" if parts and parts[-1].startswith("||") else "|"
        lines.append("".join(parts) + closing)

    return "\n".join(lines)


def _render_cell(blocks: list[Node]) -> str:
    # Wiki table cells hold one line per block; an empty cell needs a space so the
    # separators do not merge into a header marker.
    text = "\n".join(_render_block(block, list_prefix="") for block in blocks)
    return text if text else " "


def _render_inlines(nodes: list[Node]) -> str:
    return "".join(_render_inline(node) for node in nodes)


def _render_inline(node: Node) -> str:
    node_type = node.get("type")
    attrs = node.get("attrs") or {}

    if node_type == "text":
        return _apply_marks(str(node.get("text", "")), node.get("marks") or [])

    if node_type == "hardBreak":
        return "\n"

    if node_type == "mention":
        return f"[~accountid:{attrs.get('id', '')}]"

    if node_type == "emoji":
        # Jira writes the emoji character itself and falls back to the short name.
        return str(attrs.get("text") or attrs.get("shortName", ""))

    if node_type == "inlineCard" and attrs.get("url"):
        url = attrs["url"]
        return f"[{url}|{url}|smart-link]"

    return _embed_adf(node, display="inline")


def _apply_marks(text: str, marks: list[Node]) -> str:
    link_href: str | None = None

    for mark in marks:
        mark_type = mark.get("type")
        attrs = mark.get("attrs") or {}
        wrapper = _MARK_RENDERERS.get(str(mark_type))
        if mark_type == "link":
            link_href = str(attrs.get("href", ""))
        elif wrapper is not None:
            text = wrapper(text, attrs)

    # The link wraps every other mark, so `[*bold*|href]` keeps its formatting.
    if link_href is not None:
        text = f"[{text}|{link_href}]"
    return text


def _wrap_outside_whitespace(text: str, opening: str, closing: str) -> str:
    # Wiki markers only work against non-space characters, so `_lorem _` would not
    # render as emphasis. Whitespace at either end moves outside the markers.
    core = text.strip()
    if core == "":
        return text
    leading = text[: len(text) - len(text.lstrip())]
    trailing = text[len(text.rstrip()) :]
    return f"{leading}{opening}{core}{closing}{trailing}"


def _wrap_simple(mark_type: str) -> Callable[[str, dict[str, Any]], str]:
    opening, closing = SIMPLE_MARKS[mark_type]

    def wrap(text: str, attrs: dict[str, Any]) -> str:
        return _wrap_outside_whitespace(text, opening, closing)

    return wrap


def _wrap_subsup(text: str, attrs: dict[str, Any]) -> str:
    marker = "~" if attrs.get("type") == "sub" else "^"
    return _wrap_outside_whitespace(text, marker, marker)


def _wrap_colour(text: str, attrs: dict[str, Any]) -> str:
    return f"{{color:{attrs.get('color', '')}}}{text}{{color}}"


def _keep_text(text: str, attrs: dict[str, Any]) -> str:
    # Wiki markup has no background colour, so Jira drops the mark and keeps the text.
    return text


_MARK_RENDERERS: dict[str, Callable[[str, dict[str, Any]], str]] = {
    **{mark_type: _wrap_simple(mark_type) for mark_type in SIMPLE_MARKS},
    "subsup": _wrap_subsup,
    "textColor": _wrap_colour,
    "backgroundColor": _keep_text,
}


def _embed_adf(node: Node, *, display: str) -> str:
    payload = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    return f"{{adf:display={display}}}{payload}{{adf}}"
