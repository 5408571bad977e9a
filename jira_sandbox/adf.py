"""Atlassian Document Format: seeded document builder and small helpers.

The builder produces editor-like documents (headings, marked text, lists,
tables, code blocks, panels, mentions, media, status lozenges, emoji, dates,
inline cards, empty paragraphs) from an integer seed, so a generated site
stores one integer per description and builds the document on first read.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

Node = dict[str, Any]

MAX_DOCUMENT_BYTES = 10_000

_WORDS_EN = [
    "order",
    "flow",
    "checkout",
    "retry",
    "payment",
    "gateway",
    "timeout",
    "cache",
    "invalidation",
    "queue",
    "consumer",
    "deploy",
    "rollback",
    "migration",
    "schema",
    "index",
    "latency",
    "dashboard",
    "alert",
    "metric",
    "export",
    "import",
    "token",
    "refresh",
    "session",
    "login",
    "webhook",
    "sync",
    "conflict",
    "backlog",
    "estimate",
    "review",
    "release",
]
_WORDS_RU = [
    "заказ",
    "оплата",
    "ошибка",
    "сервер",
    "очередь",
    "релиз",
    "проверка",
    "данные",
    "отчёт",
    "задача",
]
_WORDS_CJK = ["注文", "決済", "エラー", "再試行", "同期", "数据", "服务器", "发布", "测试", "队列"]
_EMOJI = (
    (":smile:", "1f604", "😄"),
    (":rocket:", "1f680", "🚀"),
    (":warning:", "26a0", "⚠️"),
    (":white_check_mark:", "2705", "✅"),
    (":bug:", "1f41b", "🐛"),
)
_PANEL_TYPES = ("info", "note", "warning", "success", "error")
_STATUS_COLORS = ("neutral", "purple", "blue", "red", "yellow", "green")
_CODE_LANGUAGES = ("python", "java", "sql", "json", "bash")
_TEXT_COLORS = ("#ff5630", "#36b37e", "#0052cc", "#6554c0")


def text(value: str, marks: list[Node] | None = None) -> Node:
    node: Node = {"type": "text", "text": value}
    if marks:
        node["marks"] = marks
    return node


def paragraph(*inline: Node) -> Node:
    return {"type": "paragraph", "content": list(inline)}


def doc(*blocks: Node) -> Node:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def from_plain_text(value: str) -> Node | None:
    """Build a document with one paragraph per line, or None for empty text.

    Hard line breaks become separate paragraphs because a text node never
    contains a newline in editor output.
    """
    if not value.strip():
        return None

    blocks = [paragraph(text(line)) if line else paragraph() for line in value.split("\n")]
    return doc(*blocks)


def plain_text(node: Node | None) -> str:
    """Return the text content of a document, blocks separated by newlines."""
    if node is None:
        return ""

    parts: list[str] = []
    _collect_text(node, parts)
    return "".join(parts).strip("\n")


def _collect_text(node: Node, parts: list[str]) -> None:
    node_type = node.get("type")
    if node_type == "text":
        parts.append(str(node.get("text", "")))
        return
    if node_type == "hardBreak":
        parts.append("\n")
        return
    if node_type == "mention":
        parts.append(str(node.get("attrs", {}).get("text", "")))
        return
    if node_type == "emoji":
        parts.append(str(node.get("attrs", {}).get("text", "")))
        return

    for child in node.get("content", []) or []:
        _collect_text(child, parts)
    if node_type in {"paragraph", "heading", "codeBlock", "listItem", "tableRow"}:
        parts.append("\n")


def is_document(value: object) -> bool:
    """Return True when `value` looks like an ADF document root."""
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


class DocumentBuilder:
    """Seeded builder of realistic issue descriptions (about 2 to 10 KB of JSON)."""

    def __init__(
        self,
        seed: int,
        *,
        site_url: str,
        mentionable: Sequence[tuple[str, str]],
        base_ms: int,
    ) -> None:
        self._rng = random.Random(seed)
        self._site_url = site_url
        self._mentionable = mentionable
        self._base_ms = base_ms

    def build(self) -> Node:
        """Build a document whose compact JSON is between about 2 and 10 KB."""
        rng = self._rng
        target_bytes = rng.randint(2_000, 9_000)
        blocks: list[Node] = [self._heading(1)]
        size = len(orjson.dumps(blocks[0])) + 40
        makers = (
            self._marked_paragraph,
            self._marked_paragraph,
            self._marked_paragraph,
            self._bullet_list,
            self._ordered_list,
            self._table,
            self._code_block,
            self._panel,
            self._media,
            self._heading_any,
            self._empty_paragraph,
            self._rule,
            self._blockquote,
        )
        while size < target_bytes:
            block = rng.choice(makers)()
            block_size = len(orjson.dumps(block)) + 1
            if size + block_size > MAX_DOCUMENT_BYTES:
                break
            blocks.append(block)
            size += block_size
        return doc(*blocks)

    def _sentence(self) -> str:
        rng = self._rng
        pool = rng.choice((_WORDS_EN, _WORDS_EN, _WORDS_EN, _WORDS_RU, _WORDS_CJK))
        words = [rng.choice(pool) for _ in range(rng.randint(5, 16))]
        sentence = " ".join(words)
        return sentence[0].upper() + sentence[1:] + "."

    def _heading(self, level: int) -> Node:
        return {
            "type": "heading",
            "attrs": {"level": level},
            "content": [text(self._sentence().rstrip("."))],
        }

    def _heading_any(self) -> Node:
        return self._heading(self._rng.randint(2, 6))

    def _inline(self) -> Node:
        rng = self._rng
        choice = rng.randrange(14)
        if choice == 0:
            return text(self._sentence(), [{"type": "strong"}])
        if choice == 1:
            return text(self._sentence(), [{"type": "em"}, {"type": "underline"}])
        if choice == 2:
            return text(rng.choice(_WORDS_EN), [{"type": "code"}])
        if choice == 3:
            return text(self._sentence(), [{"type": "strike"}])
        if choice == 4:
            return text(
                self._sentence(),
                [{"type": "textColor", "attrs": {"color": rng.choice(_TEXT_COLORS)}}],
            )
        if choice == 5:
            return text("2", [{"type": "subsup", "attrs": {"type": rng.choice(("sub", "sup"))}}])
        if choice == 6:
            href = f"https://example.com/{rng.choice(_WORDS_EN)}/{rng.randint(1, 999)}"
            return text("link", [{"type": "link", "attrs": {"href": href}}])
        if choice == 7 and self._mentionable:
            account_id, name = rng.choice(self._mentionable)
            return {
                "type": "mention",
                "attrs": {"id": account_id, "text": "@" + name, "accessLevel": ""},
            }
        if choice == 8:
            short_name, emoji_id, emoji_text = rng.choice(_EMOJI)
            return {
                "type": "emoji",
                "attrs": {"shortName": short_name, "id": emoji_id, "text": emoji_text},
            }
        if choice == 9:
            return {
                "type": "status",
                "attrs": {
                    "text": rng.choice(("IN PROGRESS", "BLOCKED", "DONE", "TODO")),
                    "color": rng.choice(_STATUS_COLORS),
                    "localId": self._local_id(),
                    "style": "",
                },
            }
        if choice == 10:
            timestamp = self._base_ms + rng.randint(-90, 90) * 86_400_000
            return {"type": "date", "attrs": {"timestamp": str(timestamp - timestamp % 86_400_000)}}
        if choice == 11:
            return {
                "type": "inlineCard",
                "attrs": {"url": f"{self._site_url}/browse/PROJ-{rng.randint(1, 500)}"},
            }
        if choice == 12:
            return {"type": "hardBreak"}
        return text(self._sentence() + " ")

    def _marked_paragraph(self) -> Node:
        inline = [text(self._sentence() + " ")]
        inline.extend(self._inline() for _ in range(self._rng.randint(1, 6)))
        return paragraph(*inline)

    def _empty_paragraph(self) -> Node:
        return {"type": "paragraph", "content": []}

    def _list_items(self, depth: int) -> list[Node]:
        items = []
        for _ in range(self._rng.randint(2, 5)):
            content: list[Node] = [paragraph(text(self._sentence()))]
            if depth == 0 and self._rng.random() < 0.2:
                content.append({"type": "bulletList", "content": self._list_items(depth + 1)})
            items.append({"type": "listItem", "content": content})
        return items

    def _bullet_list(self) -> Node:
        return {"type": "bulletList", "content": self._list_items(0)}

    def _ordered_list(self) -> Node:
        return {"type": "orderedList", "attrs": {"order": 1}, "content": self._list_items(0)}

    def _table(self) -> Node:
        rng = self._rng
        columns = rng.randint(2, 4)
        header = {
            "type": "tableRow",
            "content": [
                {
                    "type": "tableHeader",
                    "attrs": {},
                    "content": [paragraph(text(rng.choice(_WORDS_EN)))],
                }
                for _ in range(columns)
            ],
        }
        rows = [header]
        for _ in range(rng.randint(1, 4)):
            rows.append(
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableCell", "attrs": {}, "content": [paragraph(self._inline())]}
                        for _ in range(columns)
                    ],
                }
            )
        return {
            "type": "table",
            "attrs": {
                "isNumberColumnEnabled": False,
                "layout": "default",
                "localId": self._local_id(),
            },
            "content": rows,
        }

    def _code_block(self) -> Node:
        rng = self._rng
        lines = [
            f"{rng.choice(_WORDS_EN)}_{i} = {rng.randint(0, 9999)}"
            for i in range(rng.randint(2, 8))
        ]
        return {
            "type": "codeBlock",
            "attrs": {"language": rng.choice(_CODE_LANGUAGES)},
            "content": [text("\n".join(lines))],
        }

    def _panel(self) -> Node:
        return {
            "type": "panel",
            "attrs": {"panelType": self._rng.choice(_PANEL_TYPES)},
            "content": [paragraph(text(self._sentence()))],
        }

    def _media(self) -> Node:
        rng = self._rng
        return {
            "type": "mediaSingle",
            "attrs": {"layout": "center"},
            "content": [
                {
                    "type": "media",
                    "attrs": {
                        "id": str(uuid.UUID(int=rng.getrandbits(128))),
                        "type": "file",
                        "collection": rng.choice(("", "jira-10050-field-description")),
                        "width": rng.choice((640, 800, 1200)),
                        "height": rng.choice((360, 480, 600)),
                    },
                }
            ],
        }

    def _rule(self) -> Node:
        return {"type": "rule"}

    def _blockquote(self) -> Node:
        return {"type": "blockquote", "content": [paragraph(text(self._sentence()))]}

    def _local_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128)))
