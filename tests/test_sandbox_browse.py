"""/jira/browse/KEY: the issue as a person sees it, fields by name and comments' ADF as
HTML, with issue text unable to inject markup."""

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
import requests

from sandbox.server import SandboxServer, start_sandbox

JIRA = ("demo@example.com", "sandbox")


def text(content: str) -> str:
    return {"type": "text", "text": content}  # type: ignore[return-value]


def cell(kind: str, content: str) -> dict[str, object]:
    return {"type": kind, "content": [{"type": "paragraph", "content": [text(content)]}]}


COMMENT = {
    "type": "doc",
    "version": 1,
    "content": [
        {"type": "heading", "attrs": {"level": 3}, "content": [text("pmsync demand summary")]},
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "13 requests", "marks": [{"type": "strong"}]},
                text(" from 9 customers. "),
                {
                    "type": "text",
                    "text": "ticket",
                    "marks": [{"type": "link", "attrs": {"href": "https://example.zendesk.com/1"}}],
                },
                {
                    "type": "text",
                    "text": "sneaky",
                    "marks": [{"type": "link", "attrs": {"href": "javascript:alert(1)"}}],
                },
            ],
        },
        {
            "type": "bulletList",
            "content": [
                {
                    "type": "listItem",
                    "content": [{"type": "paragraph", "content": [text("<b>quoted</b>")]}],
                }
            ],
        },
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [cell("tableHeader", "Customer"), cell("tableHeader", "Revenue")],
                },
                {
                    "type": "tableRow",
                    "content": [
                        cell("tableCell", "Northwind Logistics"),
                        cell("tableCell", "$1.2M"),
                    ],
                },
            ],
        },
    ],
}


class Cells(HTMLParser):
    """The text of every table cell, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("td", "th"):
            self.cells.append("")
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.cells[-1] += data


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7) as running:
        yield running


def test_browse_shows_fields_labels_and_a_comment_with_a_table(server: SandboxServer) -> None:
    api = f"{server.url}/jira/rest/api/3/issue/ANA-1"
    requests.put(
        api,
        auth=JIRA,
        json={
            "fields": {
                "customfield_10050": 13,
                "customfield_10051": 1200000.0,
                "labels": ["demand-high"],
            }
        },
    ).raise_for_status()
    requests.post(f"{api}/comment", auth=JIRA, json={"body": COMMENT}).raise_for_status()
    page = requests.get(f"{server.url}/jira/browse/ANA-1")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    summary = requests.get(api, auth=JIRA).json()["fields"]["summary"]
    assert f'<h1 id="summary">{summary}</h1>' in html
    assert 'Customer Requests:</span> <span class="value">13</span>' in html
    assert 'Customer Revenue:</span> <span class="value">1200000</span>' in html
    assert '<span class="label">demand-high</span>' in html
    assert "<h3>pmsync demand summary</h3>" in html and "<strong>13 requests</strong>" in html
    assert '<a href="https://example.zendesk.com/1" rel="nofollow noopener">ticket</a>' in html
    assert "javascript:" not in html and "sneaky" in html
    assert "<li><p>&lt;b&gt;quoted&lt;/b&gt;</p></li>" in html
    cells = Cells()
    cells.feed(html)
    assert cells.cells == ["Customer", "Revenue", "Northwind Logistics", "$1.2M"]


def test_issue_text_cannot_inject_markup(server: SandboxServer) -> None:
    nasty = '<script>alert("x")</script>'
    requests.put(
        f"{server.url}/jira/rest/api/3/issue/ANA-2",
        auth=JIRA,
        json={"fields": {"summary": f"Export {nasty}", "labels": ['"><img']}},
    ).raise_for_status()
    html = requests.get(f"{server.url}/jira/browse/ana-2").text
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)" in html
    assert '"><img' not in html
    missing = requests.get(f"{server.url}/jira/browse/ANA-999")
    assert missing.status_code == 404
