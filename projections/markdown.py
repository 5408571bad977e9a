"""Markdown (CommonMark with GFM tables and strikethrough) to ADF, with placeholders.

ADF content that Markdown cannot hold travels through Markdown as HTML that
carries the original node as JSON:

- an inline node (a mention, an emoji, a status, text with underline or a colour)
  is ``<span data-adf='{json}'>visible text</span>``;
- a block node without a Markdown form (a panel, media, an empty paragraph) is an
  HTML comment line ``<!--adf:{json}-->``;
- a block whose Markdown form does not convert back to the same ADF is
  ``<!--adf-begin:{json}-->``, its Markdown rendering for readers, then
  ``<!--adf-end-->``.

Parsing turns each placeholder back into its node. The JSON escapes ``< > & ' | ` ``
and ``--`` so that it can sit inside an HTML attribute, a comment and a table row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson
from markdown_it import MarkdownIt
from markdown_it.token import Token

from projections.errors import ConversionError

Node = dict[str, Any]

BLOCK_PREFIX = "<!--adf:"
BEGIN_PREFIX = "<!--adf-begin:"
END_COMMENT = "<!--adf-end-->"
LIST_SEPARATOR = "<!-- -->"
SPAN_PREFIX = "<span data-adf='"

# Marks in the order they nest in Markdown (outermost first); ADF from the parser and
# the normaliser lists marks in this order, unknown marks last.
MARK_RANK = {
    "link": 0,
    "strong": 1,
    "em": 2,
    "strike": 3,
    "code": 4,
    "underline": 5,
    "subsup": 6,
    "textColor": 7,
    "backgroundColor": 8,
}

_SPAN_RE = re.compile(r"^<span data-adf='([^']*)'>$")
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "'": "\\u0027",
    "|": "\\u007c",
    "`": "\\u0060",
}
_JSON_ESCAPE_RE = re.compile(r"[<>&'|`]")


def _new_parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    # ADF keeps link targets as written; percent-encoding them would change the href.
    parser.normalizeLink = lambda url: url  # type: ignore[method-assign]
    return parser


PARSER = _new_parser()


# ``json.dumps`` with options builds a new encoder per call; these are built once.
_SORTED_ENCODER = json.JSONEncoder(sort_keys=True)
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# A number in orjson output that Python's repr may write differently: one with an
# exponent, a small fraction, or a long run of digits. Compact JSON puts every
# number at the start or right after ":", "," or "[", so hex ids in strings rarely match.
# The pattern starts with the delimiter, so the regex engine can scan for it quickly.
# A document that is a bare number is checked apart.
_FLOAT_FORMS_RE = re.compile(rb"[:,\[]-?(?:\d+(?:\.\d+)?[eE]|0\.0000|\d{16})")
_BARE_NUMBER_START = frozenset(b"-0123456789")


def mark_key(mark: Node) -> tuple[int, str]:
    return (MARK_RANK.get(str(mark.get("type")), 99), _SORTED_ENCODER.encode(mark))


def sort_marks(marks: list[Node]) -> list[Node]:
    if len(marks) < 2:
        return list(marks)
    ranks = [MARK_RANK.get(str(mark.get("type")), 99) for mark in marks]
    if len(set(ranks)) == len(ranks):
        # Distinct ranks decide the order alone, so the JSON tie-breaker is not needed.
        return [mark for _, mark in sorted(zip(ranks, marks, strict=True), key=_first)]
    return sorted(marks, key=mark_key)


def _first(pair: tuple[int, Node]) -> int:
    return pair[0]


def _compact_json(node: Node) -> str:
    """Return ``json.dumps(node, ensure_ascii=False, separators=(",", ":"))``, faster.

    orjson writes the same text except for some floats that Python writes with an
    exponent, so output that could hold one goes through :mod:`json` instead.
    NOTE: NaN and infinities come out as ``null`` here but as ``NaN`` from
    :mod:`json`. ADF decoded from JSON (by orjson, as the codec does) never holds them.
    """
    try:
        encoded = orjson.dumps(node)
    except (orjson.JSONEncodeError, TypeError):
        return _LINE_ENCODER.encode(node)
    if encoded[0] in _BARE_NUMBER_START or _FLOAT_FORMS_RE.search(encoded) is not None:
        return _LINE_ENCODER.encode(node)
    return encoded.decode()


def encode_node(node: Node) -> str:
    """Serialise a node as one line of JSON that is safe inside HTML and table rows."""
    text = _compact_json(node)
    text = _JSON_ESCAPE_RE.sub(lambda match: _JSON_ESCAPES[match.group(0)], text)
    # "--" can only occur inside JSON strings, where "-\u002d" reads back the same.
    return text.replace("--", "-\\u002d")


def decode_node(text: str, where: str) -> Node:
    try:
        node = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConversionError(
            f"ADF placeholder in {where} holds invalid JSON ({exc}): {text[:80]!r}; "
            "keep the placeholder exactly as generated or delete it whole"
        ) from exc
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise ConversionError(
            f"ADF placeholder in {where} does not hold an ADF node: {text[:80]!r}; "
            "keep the placeholder exactly as generated or delete it whole"
        )
    return node


def block_placeholder(node: Node) -> str:
    return f"{BLOCK_PREFIX}{encode_node(node)}-->"


def inline_placeholder(node: Node, visible: str) -> str:
    return f"{SPAN_PREFIX}{encode_node(node)}'>{visible}</span>"


# --- inline tokens -------------------------------------------------------------------


def _text_node(text: str, marks: list[Node]) -> Node:
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = sort_marks(marks)
    return node


def _append_inline(nodes: list[Node], node: Node) -> None:
    # Markdown splits text at delimiters that turn out to be literal; ADF keeps one
    # text node per run of equal marks.
    if node.get("type") == "text":
        if not node.get("text"):
            return
        if (
            nodes
            and nodes[-1].get("type") == "text"
            and nodes[-1].get("marks") == node.get("marks")
        ):
            nodes[-1] = {**nodes[-1], "text": nodes[-1]["text"] + node["text"]}
            return
    nodes.append(node)


def _skip_span(children: list[Token], index: int) -> int:
    """Return the index just after the ``</span>`` that closes the span opened at ``index``."""
    depth = 0
    while index < len(children):
        token = children[index]
        if token.type == "html_inline":
            if token.content.startswith("<span"):
                depth += 1
            elif token.content.startswith("</span"):
                depth -= 1
                if depth == 0:
                    return index + 1
        index += 1
    return index


def inline_to_adf(children: list[Token]) -> list[Node]:
    """Convert the children of one markdown-it ``inline`` token to ADF inline nodes."""
    nodes: list[Node] = []
    marks: list[Node] = []
    index = 0

    while index < len(children):
        token = children[index]
        kind = token.type

        if kind == "text":
            _append_inline(nodes, _text_node(token.content, marks))
        elif kind == "code_inline":
            _append_inline(nodes, _text_node(token.content, [*marks, {"type": "code"}]))
        elif kind == "softbreak":
            # ADF text never holds a line break; a soft break reads as a space.
            _append_inline(nodes, _text_node(" ", marks))
        elif kind == "hardbreak":
            nodes.append({"type": "hardBreak"})
        elif kind in ("strong_open", "em_open", "s_open"):
            marks.append(
                {"type": {"strong_open": "strong", "em_open": "em", "s_open": "strike"}[kind]}
            )
        elif kind in ("strong_close", "em_close", "s_close", "link_close"):
            if marks:
                marks.pop()
        elif kind == "link_open":
            attrs: Node = {"href": str(token.attrGet("href") or "")}
            title = token.attrGet("title")
            if title:
                attrs["title"] = str(title)
            marks.append({"type": "link", "attrs": attrs})
        elif kind == "image":
            alt = token.content or str(token.attrGet("src") or "")
            _append_inline(
                nodes,
                _text_node(
                    alt,
                    [*marks, {"type": "link", "attrs": {"href": str(token.attrGet("src") or "")}}],
                ),
            )
        elif kind == "html_inline":
            match = _SPAN_RE.match(token.content)
            if match is not None:
                nodes.append(decode_node(match.group(1), "inline HTML"))
                index = _skip_span(children, index)
                continue
            _append_inline(nodes, _text_node(token.content, marks))
        else:
            _append_inline(nodes, _text_node(token.content, marks))
        index += 1

    return nodes


# --- block tokens --------------------------------------------------------------------


class _BlockReader:
    """Walks a markdown-it token stream and builds ADF block nodes."""

    def __init__(
        self, tokens: list[Token], lines: list[str], render_body: Callable[[Node], str] | None
    ) -> None:
        self.tokens = tokens
        self.lines = lines
        self.render_body = render_body
        self.index = 0

    def blocks_until(self, close_type: str | None) -> list[Node]:
        blocks: list[Node] = []
        while self.index < len(self.tokens):
            token = self.tokens[self.index]
            if close_type is not None and token.type == close_type:
                self.index += 1
                return blocks
            node = self.block()
            if node is not None:
                blocks.append(node)
        return blocks

    def _inline_of_next(self) -> list[Node]:
        token = self.tokens[self.index]
        self.index += 1
        return inline_to_adf(token.children or [])

    def block(self) -> Node | None:
        token = self.tokens[self.index]
        self.index += 1
        kind = token.type

        if kind == "paragraph_open":
            content = self._inline_of_next()
            self.index += 1
            return {"type": "paragraph", "content": content}
        if kind == "heading_open":
            content = self._inline_of_next()
            self.index += 1
            return {"type": "heading", "attrs": {"level": int(token.tag[1])}, "content": content}
        if kind == "bullet_list_open":
            return {"type": "bulletList", "content": self.blocks_until("bullet_list_close")}
        if kind == "ordered_list_open":
            node: Node = {"type": "orderedList"}
            start = token.attrGet("start")
            if start is not None:
                node["attrs"] = {"order": int(start)}
            node["content"] = self.blocks_until("ordered_list_close")
            return node
        if kind == "list_item_open":
            return {"type": "listItem", "content": self.blocks_until("list_item_close")}
        if kind == "blockquote_open":
            return {"type": "blockquote", "content": self.blocks_until("blockquote_close")}
        if kind in ("fence", "code_block"):
            return _code_block(token)
        if kind == "hr":
            return {"type": "rule"}
        if kind == "table_open":
            return self.table()
        if kind == "html_block":
            return self.html_block(token)
        if kind == "inline":
            return {"type": "paragraph", "content": inline_to_adf(token.children or [])}
        # Closing tokens of structures read elsewhere, and anything unknown, add nothing.
        return None

    def table(self) -> Node:
        rows: list[Node] = []
        cells: list[Node] = []
        while self.index < len(self.tokens):
            token = self.tokens[self.index]
            self.index += 1
            if token.type == "table_close":
                break
            if token.type == "tr_open":
                cells = []
            elif token.type == "tr_close":
                rows.append({"type": "tableRow", "content": cells})
            elif token.type in ("th_open", "td_open"):
                content = self._inline_of_next()
                cell_type = "tableHeader" if token.type == "th_open" else "tableCell"
                cells.append(
                    {"type": cell_type, "content": [{"type": "paragraph", "content": content}]}
                )
        return {"type": "table", "content": rows}

    def html_block(self, token: Token) -> Node | None:
        text = token.content.strip()

        if text.startswith(BLOCK_PREFIX) and text.endswith("-->") and "\n" not in text:
            return decode_node(text[len(BLOCK_PREFIX) : -3], "an HTML comment")

        if text.startswith(BEGIN_PREFIX) and text.endswith("-->") and "\n" not in text:
            node = decode_node(text[len(BEGIN_PREFIX) : -3], "an HTML comment")
            return self.block_with_body(node, token)

        if text in (END_COMMENT, LIST_SEPARATOR):
            return None
        return {"type": "paragraph", "content": [{"type": "text", "text": text}]} if text else None

    def block_with_body(self, node: Node, begin: Token) -> Node:
        """Read the Markdown between a begin and an end comment; return the kept node."""
        body_start = begin.map[1] if begin.map else 0
        depth = 1
        body_end = body_start
        body_tokens: list[Token] = []
        while self.index < len(self.tokens):
            token = self.tokens[self.index]
            self.index += 1
            if token.type == "html_block" and token.level == begin.level:
                text = token.content.strip()
                if text.startswith(BEGIN_PREFIX):
                    depth += 1
                elif text == END_COMMENT:
                    depth -= 1
                    if depth == 0:
                        body_end = token.map[0] if token.map else body_start
                        break
            body_tokens.append(token)

        body = "\n".join(self.lines[body_start:body_end]).strip("\n")
        if self.render_body is None or body.strip() == self.render_body(node).strip():
            return node
        edited = _BlockReader(body_tokens, self.lines, self.render_body).blocks_until(None)
        return merge_edited_body(node, edited)


CONTAINERS = frozenset({"panel", "expand", "nestedExpand", "blockquote", "listItem"})


def merge_edited_body(node: Node, edited: list[Node]) -> Node:
    """Apply an edit of a kept block's Markdown body, or raise when it would lose content."""
    node_type = str(node.get("type"))
    if node_type in CONTAINERS:
        return {**node, "content": edited}
    if len(edited) == 1 and edited[0].get("type") == node_type:
        merged = dict(edited[0])
        if "attrs" in node:
            merged["attrs"] = {**node["attrs"], **merged.get("attrs", {})}
        return merged
    raise ConversionError(
        f"the Markdown of a kept {node_type} block was edited into "
        f"{[block.get('type') for block in edited]}, which cannot replace it without losing "
        "its ADF attributes; edit the block in Jira, or delete the whole block including "
        "its <!--adf-begin--> and <!--adf-end--> comments"
    )


def _code_block(token: Token) -> Node:
    node: Node = {"type": "codeBlock"}
    language = token.info.strip() if token.type == "fence" else ""
    if language:
        node["attrs"] = {"language": language}
    code = token.content[:-1] if token.content.endswith("\n") else token.content
    node["content"] = [{"type": "text", "text": code}] if code else []
    return node


def parse_blocks(text: str, render_body: Callable[[Node], str] | None = None) -> list[Node]:
    """Parse Markdown into ADF block nodes.

    ``render_body`` renders a kept block's Markdown body; when the body between its
    begin and end comments differs from that rendering, the edit is applied to the
    block (see :func:`merge_edited_body`). Without it, bodies are ignored.
    """
    tokens = PARSER.parse(text)
    return _BlockReader(tokens, text.split("\n"), render_body).blocks_until(None)


def block_line_ranges(text: str) -> list[tuple[int, int]]:
    """Return the ``[start, end)`` line range of each top-level block of ``text``."""
    ranges: list[tuple[int, int]] = []
    tokens = PARSER.parse(text)
    index = 0

    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.level != 0 or token.nesting == -1 or token.map is None:
            continue
        if token.type == "html_block" and token.content.strip() == LIST_SEPARATOR:
            continue
        start, end = token.map

        if token.type == "html_block" and token.content.strip().startswith(BEGIN_PREFIX):
            depth = 1
            while index < len(tokens) and depth:
                inner = tokens[index]
                index += 1
                if inner.type != "html_block" or inner.level != 0:
                    continue
                content = inner.content.strip()
                if content.startswith(BEGIN_PREFIX):
                    depth += 1
                elif content == END_COMMENT:
                    depth -= 1
                    if depth == 0 and inner.map is not None:
                        end = inner.map[1]

        ranges.append((start, end))
    return ranges
