"""Hostile text, and how a person would see a note body: shared by the escaping tests."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

# The node types a note body may hold: text, headings, tables and lists, nothing more.
ADF_NODES = {
    "doc",
    "heading",
    "paragraph",
    "text",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "bulletList",
    "listItem",
}

# What people type into issue summaries, customer names and quotes, that a careless writer
# turns into markup, a link, a broken page or a different text.
HOSTILE = [
    '<script>alert("pwned")</script>',
    'Ends a paragraph</p><p onclick="steal()">and opens one',
    "Already escaped: &amp; &lt;b&gt; &#39; &nbsp; &",
    "Quotes \"double\", 'single' and `back`",
    "javascript:alert(document.cookie)",
    "[click me](javascript:alert(1)) **bold** _it_ <https://evil.example>",
    "line one\nline two\r\nline three",
    "Ünïcødé – 東京 – 😀 – עברית",
    "<img src=x onerror=alert(1)>",
    "{key} {summary} {0} %s",
]

# One summary with all of it, for the end-to-end runs (one close of one issue).
HOSTILE_SUMMARY = (
    '<script>alert("x")</script></p><b>bold</b> &amp; R&D \'q\' "dq" '
    "javascript:alert(1) [x](javascript:alert(2)) **md**\nsecond line – Ünïcødé 東京 😀"
)

# What a note's HTML may hold: paragraphs and line breaks pmsync wrote, and the wrappers a
# tool adds around a body it stores (Zendesk's `<div class="zd-comment" dir="auto">`).
PLAIN_TAGS = {"p", "br", "div"}
WRAPPER_ATTRS = {("class", "zd-comment"), ("dir", "auto")}


class Rendered(HTMLParser):
    """An HTML body as a browser shows it: its text (a line per `<br>` and per paragraph
    after the first) and every element it would build."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))
        if tag == "br" or (tag == "p" and self.parts):
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def rendered(markup: str) -> tuple[str, list[Any]]:
    parser = Rendered()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts), parser.elements


def assert_shows_exactly(markup: str, expected: str) -> None:
    """The HTML shows `expected` letter for letter and builds no element but plain
    paragraphs and line breaks: no script, link, image, handler or stray paragraph."""
    text, elements = rendered(markup)
    foreign = [
        (tag, attrs)
        for tag, attrs in elements
        if tag not in PLAIN_TAGS or not set(attrs) <= WRAPPER_ATTRS
    ]
    assert foreign == [], f"markup from the text: {foreign} in {markup!r}"
    assert text == expected, f"shows {text!r}, not {expected!r}"
