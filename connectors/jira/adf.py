"""Atlassian Document Format: reading its text, and building the few nodes pmsync writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Node = dict[str, Any]


# Inline nodes that stand for text the reader sees, and the attribute that holds it
# (Atlassian's ADF structure reference): a mention shows "@Name", an emoji its character
# (or ":shortName:" for a custom one), a smart link its URL, a status lozenge its label.
INLINE_TEXT = {
    "mention": ("text",),
    "emoji": ("text", "shortName"),
    "inlineCard": ("url",),
    "blockCard": ("url",),
    "embedCard": ("url",),
    "status": ("text",),
}
BLOCKS = {
    "paragraph",
    "heading",
    "listItem",
    "tableRow",
    "codeBlock",
    "blockCard",
    "embedCard",
    "rule",
}


def to_text(node: Any) -> str:
    """The plain text of an ADF document (or a plain string, as API v2 sends).

    Inline nodes read as a person sees them: `mention` its attrs.text ("@Ana"), `emoji`
    its attrs.text or shortName, `inlineCard` (and block/embed cards) its attrs.url,
    `status` its attrs.text, `date` its attrs.timestamp (epoch ms, a string in Jira's
    payloads) as an ISO date in UTC; `hardBreak` is a line break, `rule` an empty line.
    Nodes with no text of their own (media, placeholders) read as nothing."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "".join(to_text(child) for child in node)
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    raw_attrs = node.get("attrs")
    attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "date":
        return _date(attrs.get("timestamp"))
    if kind == "mention" and not attrs.get("text") and attrs.get("id"):
        inner = f"@{attrs['id']}"
    elif kind in INLINE_TEXT:
        inner = next((str(attrs[a]) for a in INLINE_TEXT[kind] if attrs.get(a)), "")
        if not inner and isinstance(attrs.get("data"), dict):  # a card given as JSON-LD
            inner = str(attrs["data"].get("url") or attrs["data"].get("name") or "")
    elif kind in ("placeholder", "media", "mediaInline"):
        inner = ""  # an editor's hint, an attachment: no text a reader sees
    else:
        inner = to_text(node.get("content", []))
    return inner + "\n" if kind in BLOCKS else inner


def _date(timestamp: Any) -> str:
    """An ADF date node's timestamp as YYYY-MM-DD (UTC). Jira's editor writes epoch
    milliseconds as a string; Atlassian's own node example holds seconds ("1582152559"),
    so a value too small to be milliseconds after 1973 is read as seconds."""
    try:
        value = int(str(timestamp))
        moment = datetime.fromtimestamp(value / 1000 if value > 10**11 else value, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return moment.date().isoformat()


def doc(*content: Node) -> Node:
    return {"type": "doc", "version": 1, "content": list(content)}


def text(value: str, *, bold: bool = False, link: str | None = None) -> Node:
    node: Node = {"type": "text", "text": value}
    marks: list[Node] = []
    if bold:
        marks.append({"type": "strong"})
    # A link only through a link mark, and only to a web address: a record URL that says
    # `javascript:` or `data:` shows as its text, never as something to click.
    if link and link.lower().startswith(("https://", "http://")):
        marks.append({"type": "link", "attrs": {"href": link}})
    if marks:
        node["marks"] = marks
    return node


def paragraph(*content: Node) -> Node:
    return {"type": "paragraph", "content": list(content)}


def heading(value: str, level: int = 3) -> Node:
    return {"type": "heading", "attrs": {"level": level}, "content": [text(value)]}


def table(header: list[str], rows: list[list[Node]]) -> Node:
    def cell(kind: str, content: Node) -> Node:
        return {"type": kind, "content": [paragraph(content)]}

    return {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": [
            {
                "type": "tableRow",
                "content": [cell("tableHeader", text(h, bold=True)) for h in header],
            },
            *({"type": "tableRow", "content": [cell("tableCell", c) for c in row]} for row in rows),
        ],
    }


def bullet_list(items: list[list[Node]]) -> Node:
    return {
        "type": "bulletList",
        "content": [{"type": "listItem", "content": [paragraph(*item)]} for item in items],
    }
