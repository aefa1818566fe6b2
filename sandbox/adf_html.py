"""Atlassian Document Format to HTML, as Jira's issue view renders it. Every piece of text is
escaped and links keep only http(s) and mailto targets, so issue content cannot inject
markup or script into the page."""

from html import escape
from typing import Any
from urllib.parse import urlparse

BLOCKS = {
    "paragraph": "p",
    "bulletList": "ul",
    "listItem": "li",
    "blockquote": "blockquote",
    "table": "table",
    "tableRow": "tr",
    "tableHeader": "th",
    "tableCell": "td",
}
MARKS = {"strong": "strong", "em": "em", "code": "code", "strike": "s", "underline": "u"}


def safe_url(url: Any) -> str | None:
    if not isinstance(url, str) or urlparse(url.strip()).scheme.lower() not in (
        "http",
        "https",
        "mailto",
    ):
        return None
    return url.strip()


def _text(node: dict[str, Any]) -> str:
    out = escape(str(node.get("text", "")))
    for mark in node.get("marks") or []:
        if not isinstance(mark, dict):
            continue
        kind, attrs = mark.get("type"), mark.get("attrs") or {}
        if kind in MARKS:
            out = f"<{MARKS[kind]}>{out}</{MARKS[kind]}>"
        elif kind == "link" and safe_url(attrs.get("href")):
            href = escape(str(safe_url(attrs.get("href"))))
            out = f'<a href="{href}" rel="nofollow noopener">{out}</a>'
        elif kind == "subsup" and attrs.get("type") in ("sub", "sup"):
            out = f"<{attrs['type']}>{out}</{attrs['type']}>"
    return out


def _inline_atom(kind: str, attrs: dict[str, Any]) -> str | None:
    if kind == "hardBreak":
        return "<br>"
    if kind == "rule":
        return "<hr>"
    if kind == "mention":
        return f'<span class="mention">{escape(str(attrs.get("text") or "@someone"))}</span>'
    if kind == "emoji":
        return escape(str(attrs.get("text") or attrs.get("shortName") or ""))
    if kind == "status":
        return f'<span class="lozenge">{escape(str(attrs.get("text", "")))}</span>'
    if kind in ("inlineCard", "blockCard", "embedCard"):
        url = safe_url(attrs.get("url"))
        return f'<a href="{escape(url)}">{escape(url)}</a>' if url else ""
    if kind in ("media", "mediaInline"):
        return '<span class="media">[attachment]</span>'
    return None


def render(node: Any) -> str:
    """HTML for an ADF node (a whole document or any part of one); unknown nodes render
    their children, so content is never silently dropped."""
    if isinstance(node, list):
        return "".join(render(child) for child in node)
    if not isinstance(node, dict):
        return escape(node) if isinstance(node, str) else ""
    kind, attrs = node.get("type"), node.get("attrs") or {}
    attrs = attrs if isinstance(attrs, dict) else {}
    if kind == "text":
        return _text(node)
    atom = _inline_atom(str(kind), attrs)
    if atom is not None:
        return atom
    inner = render(node.get("content") or [])
    if kind == "heading":
        level = attrs.get("level") if attrs.get("level") in range(1, 7) else 3
        return f"<h{level}>{inner}</h{level}>"
    if kind == "orderedList":
        start = attrs.get("order")
        first = f' start="{start}"' if isinstance(start, int) and start > 1 else ""
        return f"<ol{first}>{inner}</ol>"
    if kind == "codeBlock":
        return f"<pre><code>{inner}</code></pre>"
    if kind == "panel":
        tone = str(attrs.get("panelType", "info"))
        return f'<div class="panel panel-{escape(tone)}">{inner}</div>'
    if kind == "expand":
        title = escape(str(attrs.get("title") or ""))
        return f"<details open><summary>{title}</summary>{inner}</details>"
    if kind in ("tableHeader", "tableCell"):
        span = "".join(
            f' {name}="{attrs[name]}"'
            for name in ("colspan", "rowspan")
            if isinstance(attrs.get(name), int) and attrs[name] > 1
        )
        tag = BLOCKS[str(kind)]
        return f"<{tag}{span}>{inner}</{tag}>"
    if kind == "table":
        return f'<table class="adf-table"><tbody>{inner}</tbody></table>'
    if kind in BLOCKS:
        return f"<{BLOCKS[str(kind)]}>{inner}</{BLOCKS[str(kind)]}>"
    return inner
