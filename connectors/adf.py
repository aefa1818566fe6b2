"""Atlassian Document Format: reading its text, and building the few nodes pmsync writes."""

from __future__ import annotations

from typing import Any

Node = dict[str, Any]


def to_text(node: Any) -> str:
    """The plain text of an ADF document (or a plain string, as API v2 sends)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "".join(to_text(child) for child in node)
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    inner = to_text(node.get("content", []))
    block = node.get("type") in {"paragraph", "heading", "listItem", "tableRow", "codeBlock"}
    return inner + "\n" if block else inner


def doc(*content: Node) -> Node:
    return {"type": "doc", "version": 1, "content": list(content)}


def text(value: str, *, bold: bool = False, link: str | None = None) -> Node:
    node: Node = {"type": "text", "text": value}
    marks: list[Node] = []
    if bold:
        marks.append({"type": "strong"})
    if link:
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
