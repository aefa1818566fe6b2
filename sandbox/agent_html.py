"""The plain HTML of the agent pages the help desks' links open (Zendesk, Intercom,
Freshdesk): one layout, each tool's colours and header."""

from html import escape


def agent_style(text: str, ground: str, bar: str, muted: str, extra: str, width: int = 860) -> str:
    """The page's CSS: body text and ground, the header bar, muted meta lines, and the
    tool's own rules (`extra`, one rule a line)."""
    return f"""
body {{ font: 14px/1.5 -apple-system, "Segoe UI", Roboto, sans-serif; color: {text};
       margin: 0; background: {ground}; }}
header.bar {{ background: {bar}; color: #fff; padding: 10px 24px; }}
main {{ max-width: {width}px; margin: 0 auto; padding: 16px 24px; background: #fff; }}
.meta {{ color: {muted}; }}
{extra}"""


def agent_page(title: str, suffix: str, header: str, content: str, style: str) -> str:
    """A whole page; `suffix` follows the escaped title in the browser tab."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"{suffix}</title><style>{style}</style></head><body>"
        f'<header class="bar">{header}</header><main>{content}</main></body></html>'
    )


def company_html(name: str, meta: str) -> str:
    """A company page's content: its name as the heading, then one line about it (`meta`,
    HTML: what the caller puts in it is escaped by the caller)."""
    return f'<h1 id="name">{escape(name)}</h1><p class="meta">{meta}</p>'
