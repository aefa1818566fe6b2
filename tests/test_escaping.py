"""Every text pmsync writes arrives as the literal text a person typed, never as markup:
each closing-loop note writer (as the tool renders its field) and the managed Jira comment
(ADF), driven with hostile summaries, names, quotes and URLs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import responses

from connectors.freshdesk.notes import FreshdeskNotes
from connectors.http import ApiClient, Calls
from connectors.hubspot.notes import HubSpotNotes
from connectors.intercom.notes import IntercomNotes
from connectors.jira import adf
from connectors.jira.comment import render_comment
from connectors.notes import NoteWriter, marker
from connectors.salesforce.notes import SalesforceNotes
from connectors.settings import Settings
from connectors.zendesk.notes import ZendeskNotes
from models import DemandSummary, Issue
from services.close_loop import notify
from tests.escaping import ADF_NODES, HOSTILE, assert_shows_exactly

BASE = "https://tool.example"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def api(tool: str) -> ApiClient:
    return ApiClient(
        tool, BASE, credential_settings="PMSYNC_TEST_TOKEN", calls=Calls(max_attempts=1)
    )


class Tool:
    """A tool's notes API on `responses`: it keeps what pmsync sent and answers reads with
    it, as the tool stores it, so `find` is tested on the real round trip."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock
        self.sent: list[dict[str, Any]] = []

    def json(self, request: Any) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(request.body)
        self.sent.append(body)
        return body

    def on(self, method: str, path: str, answer: Callable[[Any], Any], status: int = 200) -> None:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            return status, {"Content-Type": "application/json"}, json.dumps(answer(request))

        self.mock.add_callback(method, f"{BASE}{path}", callback=callback)


def zendesk(mock: responses.RequestsMock) -> tuple[NoteWriter, Tool]:
    tool = Tool(mock)
    tool.on("PUT", "/api/v2/tickets/1.json", lambda r: {"ticket": tool.json(r)["ticket"]})
    tool.on(
        "GET",
        "/api/v2/tickets/1/comments.json",
        lambda r: {
            "comments": [
                # Zendesk keeps html_body and gives its text as body (no entity in it).
                {"id": 9 + i, "html_body": s["ticket"]["comment"]["html_body"], "body": ""}
                for i, s in enumerate(tool.sent)
            ],
            "next_page": None,
        },
    )
    return ZendeskNotes(api("zendesk")), tool


def hubspot(mock: responses.RequestsMock) -> tuple[NoteWriter, Tool]:
    tool = Tool(mock)
    tool.on("POST", "/crm/v3/objects/notes", lambda r: {"id": str(900 + len([tool.json(r)]))}, 201)
    tool.on(
        "GET",
        "/crm/v4/objects/deals/1/associations/notes",
        lambda r: {"results": [{"toObjectId": 901 + i} for i in range(len(tool.sent))]},
    )
    tool.on(
        "GET",
        "/crm/v3/objects/notes/901",
        lambda r: {"id": "901", "properties": tool.sent[0]["properties"]},
    )
    return HubSpotNotes(api("hubspot")), tool


def intercom(mock: responses.RequestsMock) -> tuple[NoteWriter, Tool]:
    tool = Tool(mock)
    tool.on("GET", "/me", lambda r: {"type": "admin", "id": "77"})
    tool.on("POST", "/conversations/1/reply", lambda r: {"id": "1", **tool.json(r)})
    tool.on(
        "GET",
        "/conversations/1",
        lambda r: {
            "id": "1",
            "conversation_parts": {
                "conversation_parts": [
                    {"id": str(50 + i), "part_type": "note", "body": s["body"]}
                    for i, s in enumerate(tool.sent)
                ]
            },
        },
    )
    return IntercomNotes(api("intercom")), tool


def freshdesk(mock: responses.RequestsMock) -> tuple[NoteWriter, Tool]:
    tool = Tool(mock)
    tool.on("POST", "/api/v2/tickets/1/notes", lambda r: {"id": 70, **tool.json(r)}, 201)
    tool.on(
        "GET",
        "/api/v2/tickets/1/conversations",
        lambda r: [{"id": 70 + i, "body": s["body"]} for i, s in enumerate(tool.sent)],
    )
    return FreshdeskNotes(api("freshdesk")), tool


class SalesforceDouble:
    def __init__(self, tool: Tool) -> None:
        self.api = api("salesforce")
        self.tool = tool

    def query(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        yield [{"Id": f"00T{i}", **task} for i, task in enumerate(self.tool.sent)]


def salesforce(mock: responses.RequestsMock) -> tuple[NoteWriter, Tool]:
    tool = Tool(mock)
    tool.on("POST", "/services/data/v60.0/sobjects/Task", lambda r: {"id": "00T0", **tool.json(r)})
    return SalesforceNotes(SalesforceDouble(tool)), tool


def shown(source: str, sent: dict[str, Any]) -> tuple[str, str]:
    """What the tool shows of the note pmsync sent, and how: ("html", markup) or
    ("text", text)."""
    if source == "zendesk":
        # `body` renders Markdown in Zendesk: only `html_body` shows text as it is.
        assert "body" not in sent["ticket"]["comment"], "Zendesk would render Markdown"
        assert sent["ticket"]["comment"]["public"] is False
        return "html", sent["ticket"]["comment"]["html_body"]
    if source == "hubspot":
        return "html", sent["properties"]["hs_note_body"]
    if source in ("intercom", "freshdesk"):
        return "html", sent["body"]
    assert "\n" not in sent["Subject"] and len(sent["Subject"]) <= 255
    return "text", sent["Description"]


WRITERS = {
    "zendesk": zendesk,
    "hubspot": hubspot,
    "intercom": intercom,
    "freshdesk": freshdesk,
    "salesforce": salesforce,
}


def issue(summary: str) -> Issue:
    return Issue(
        source="jira",
        id="10001",
        key="ANA-1",
        url="https://jira.example/browse/ANA-1",
        project="ANA",
        summary=summary,
        status="Done",
        status_category="done",
        updated_at=NOW,
    )


def expected_note(settings: Settings, summary: str, transition: str) -> str:
    text = settings.close_loop_note.format(
        key="ANA-1",
        summary=summary,
        status="Done" if transition == "done" else transition,
        url="https://jira.example/browse/ANA-1",
    )
    return (f"{text}\n{marker('ANA-1', transition)}").replace("\r\n", "\n")


@pytest.mark.parametrize("source", list(WRITERS))
@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_summary_arrives_as_the_text_typed(source: str, hostile: str) -> None:
    """Each note writer puts the summary into its tool's field so that the tool shows it
    letter for letter: in an HTML field escaped (no element, handler or link built from it),
    in a plain one as it is."""
    settings = Settings(close_loop=True)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        writer, tool = WRITERS[source](mock)
        notify(writer, issue(hostile), "done", "1", settings)
    [sent] = tool.sent
    kind, body = shown(source, sent)
    expected = expected_note(settings, hostile, "done")
    if kind == "html":
        assert_shows_exactly(body, expected)
    else:
        assert body == expected


@pytest.mark.parametrize("source", list(WRITERS))
def test_a_note_whose_marker_has_markup_characters_is_found_not_written_twice(
    source: str,
) -> None:
    """A fix version named `R&D "1.0" <beta>` puts `&`, quotes and `<` in the marker; an HTML
    field gives them back escaped, and the note must still be found: a second run writes
    nothing."""
    settings = Settings(close_loop=True)
    transition = 'released R&D "1.0" <beta>'
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        writer, tool = WRITERS[source](mock)
        first = notify(writer, issue("Export"), transition, "1", settings)
        again = notify(writer, issue("Export"), transition, "1", settings)
    assert len(tool.sent) == 1
    assert again == first


# -- the managed Jira comment (ADF) ----------------------------------------------------------


def summary_with(name: str, quote: str, url: str) -> DemandSummary:
    return DemandSummary.model_validate(
        {
            "issue_key": "ANA-1",
            "requests": 2,
            "customers": 1,
            "revenue": Decimal(1200),
            "open_pipeline": Decimal(0),
            "top_customers": [
                {
                    "account": "acme",
                    "name": name,
                    "requests": 2,
                    "revenue": "1200",
                    "open_pipeline": "0",
                }
            ],
            "quotes": [
                {"text": quote, "customer": name, "source": "zendesk", "record_id": "7", "url": url}
            ],
        }
    )


def text_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "text":
            yield node
        for child in node.get("content") or []:
            yield from text_nodes(child)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_jira_comment_carries_hostile_names_and_quotes_as_text(hostile: str) -> None:
    """ADF text nodes hold text as data: a customer's name or a quote with markup, `&amp;`,
    quotes or line breaks is in a text node unchanged (Jira shows it as typed), no node or
    mark comes from it, and the body is valid JSON however the text is made."""
    body = render_comment(
        summary_with(hostile, hostile, "https://tool.example/agent/tickets/7"), None, NOW
    )
    body = json.loads(json.dumps(body, ensure_ascii=False))  # as Jira receives it
    texts = [node["text"] for node in text_nodes(body)]
    assert hostile in texts, "the customer's name, unchanged, in its table cell"
    assert f"“{hostile}” " in texts, "the quote, unchanged"
    kinds = {n.get("type") for n in _all_nodes(body)}
    assert kinds <= ADF_NODES
    links = [
        m["attrs"]["href"]
        for n in text_nodes(body)
        for m in n.get("marks", [])
        if m["type"] == "link"
    ]
    assert links == ["https://tool.example/agent/tickets/7"]
    assert hostile in adf.to_text(body)


def _all_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.get("content") or []:
            yield from _all_nodes(child)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>x</script>"])
def test_a_quote_link_that_is_not_a_web_address_is_no_link(url: str) -> None:
    """Links go only through a link mark, and only to http(s) addresses: a record URL that
    says `javascript:` is shown as no link at all."""
    body = render_comment(summary_with("Acme", "Please", url), None, NOW)
    hrefs = [
        m["attrs"]["href"]
        for n in text_nodes(body)
        for m in n.get("marks", [])
        if m["type"] == "link"
    ]
    assert hrefs == []
    assert "Acme, zendesk #7" in [n["text"] for n in text_nodes(body)]
