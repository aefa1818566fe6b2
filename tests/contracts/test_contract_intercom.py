"""Intercom's contract, from answers nobody here wrote (tests/contracts/intercom/SOURCES.md).

(a) The connector reads every stream it pulls (conversation search pages, the contacts it
looks requesters up in, the companies scroll, `/me` for the inbox links, one conversation by
id) from these answers, and the records it makes are asserted field by field.
(b) The sandbox, asked the same requests, answers with the recorded keys and types."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses
from builders import INTERCOM, RecordedSleep, sandbox_settings
from shapes import assert_same_shape, body, fixture, recorded_answer

from connectors.intercom.client import IntercomConnector, capabilities
from connectors.lookup import Lookup
from models import Account, Feedback
from sandbox.server import SandboxServer, start_sandbox

SEARCH = f"{INTERCOM}/conversations/search"
ME = body("intercom", "me")
ID_CODE = ME["app"]["id_code"]
# A non-Intercom host (a proxy, the sandbox) serves the app's pages beside its API.
INBOX = f"{INTERCOM}/a/inbox/{ID_CODE}/inbox/conversation"
COMPANY_PAGES = f"{INTERCOM}/a/apps/{ID_CODE}/companies"


def at(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def answer(name: str) -> tuple[int, dict[str, str], str]:
    return recorded_answer("intercom", name)


@pytest.fixture
def recorded(rsps: responses.RequestsMock) -> responses.RequestsMock:
    """Every route the connector reads, answered with the recorded and documented bodies:
    the search in two pages (only the second lacks `pages.next`), contacts by id, the scroll
    until its empty `data`, `/me`."""
    pages = [answer("conversations_search_page1"), answer("conversations_search_page2")]
    scroll = [
        answer(n) for n in ("companies_scroll", "companies_scroll_page2", "companies_scroll_end")
    ]
    contacts = {
        c["id"]: c
        for c in (body("intercom", "contact"), body("intercom", "contact_lead_without_email"))
    }

    def contact(request: Any) -> tuple[int, dict[str, str], str]:
        wanted = urlsplit(request.url).path.rsplit("/", 1)[-1]
        if wanted in contacts:
            return 200, {"Content-Type": "application/json"}, json.dumps(contacts[wanted])
        return answer("error_not_found")

    rsps.add_callback("POST", SEARCH, callback=lambda request: pages.pop(0))
    rsps.add_callback("GET", f"{INTERCOM}/companies/scroll", callback=lambda request: scroll.pop(0))
    rsps.add_callback("GET", re.compile(rf"{re.escape(INTERCOM)}/contacts/[^/]+"), callback=contact)
    rsps.add_callback("GET", f"{INTERCOM}/me", callback=lambda request: answer("me"))
    return rsps


def connector() -> IntercomConnector:
    return IntercomConnector(sandbox_settings(), sleep=RecordedSleep())


def test_conversations_from_the_documented_search_pages(recorded: responses.RequestsMock) -> None:
    """Both pages are read (the first names `pages.next.starting_after`, which goes back in
    the next request), the second ends the search; each conversation becomes the feedback a
    person would recognise: the emailed one titled by its subject, not by "Bonjour,"."""
    reader = connector()
    pages = list(reader.conversations(None))

    sent = [json.loads(c.request.body) for c in recorded.calls if c.request.url == SEARCH]
    assert [s["pagination"].get("starting_after") for s in sent] == [
        None,
        body("intercom", "conversations_search_page1")["pages"]["next"]["starting_after"],
    ]
    records = {r.id: r for page in pages for r in page.records}
    assert sorted(records) == ["379", "380"] and not [d for p in pages for d in p.dead]
    asked = records["379"]
    assert isinstance(asked, Feedback)
    assert asked.subject == "Export to CSV"
    assert asked.body == "Can we export reports to CSV? See PROJ-12"
    assert asked.url == f"{INBOX}/379"
    assert asked.requester_email == "joe@bloggs.com" and asked.requester_name == "Joe Bloggs"
    assert asked.tags == ("Manual tag",)
    assert asked.status == "open"
    assert asked.updated_at == at(1719492800) and asked.created_at == at(1719492700)
    assert asked.account_id is None  # the user's contact names no company

    emailed = records["380"]
    assert emailed.subject == "Demande : export planifié des rapports"
    assert emailed.body.splitlines()[0] == "Bonjour,"
    assert "Zoë Ångström" in emailed.body
    assert emailed.url == f"{INBOX}/380"
    # A lead without email: who asked comes from its contact, its company too.
    assert emailed.requester_email is None
    assert emailed.account_id == "667d60938a68186f43bafd91"
    assert not reader.missing


def test_an_admin_started_conversation_counts_for_its_contact_not_the_admin(
    rsps: responses.RequestsMock, recorded: responses.RequestsMock
) -> None:
    """The documented search answer: an admin wrote first; the customer is the contact."""
    rsps.replace(responses.POST, SEARCH, json=body("intercom", "conversations_search"))
    (page,) = list(connector().conversations(None))

    (item,) = page.records
    assert isinstance(item, Feedback)
    assert item.id == "378" and item.status == "closed"
    assert item.requester_email != "admin180@email.com" and item.requester_name != "Ciaran180 Lee"
    assert item.subject == "this is the message body"  # no title, no subject: the first line


def test_a_bot_started_conversation_read_by_id_counts_for_its_contact(
    rsps: responses.RequestsMock, recorded: responses.RequestsMock
) -> None:
    """Targeted reads (webhooks, re-reads) take the same path: a bot is not the customer."""
    bot = body("intercom", "conversation_bot")
    rsps.add("GET", f"{INTERCOM}/conversations/381", json=bot)

    found = Lookup(sandbox_settings()).fetch("intercom", "conversation", "381")

    assert isinstance(found, Feedback)
    assert found.requester_email == "joe@bloggs.com" and found.requester_name == "Joe Bloggs"
    assert found.url == f"{INBOX}/381"


def test_a_conversation_gone_from_intercom_reads_as_gone(
    rsps: responses.RequestsMock, recorded: responses.RequestsMock
) -> None:
    status, headers, text = answer("error_not_found")
    rsps.add("GET", f"{INTERCOM}/conversations/0", status=status, body=text, headers=headers)

    assert Lookup(sandbox_settings()).fetch("intercom", "conversation", "0") is None


def test_companies_from_the_documented_scroll(recorded: responses.RequestsMock) -> None:
    """Two pages, then the empty `data` that ends a scroll: every company, its website's
    domain, its link into the app, and the closing page naming them all."""
    pages = list(connector().companies())

    accounts = {r.id: r for page in pages for r in page.records}
    assert sorted(accounts) == ["667d608b8a68186f43bafd67", "667d60938a68186f43bafd91"]
    qa = accounts["667d608b8a68186f43bafd67"]
    assert isinstance(qa, Account)
    assert qa.name == "IntercomQATest1" and qa.domains == ()
    assert qa.updated_at == at(1719492747)
    assert qa.url == f"{COMPANY_PAGES}/667d608b8a68186f43bafd67"
    etudes = accounts["667d60938a68186f43bafd91"]
    assert etudes.name == "Société Générale d’Études" and etudes.domains == ("etudes-generales.fr",)
    assert pages[-1].complete_ids == set(accounts)


def test_a_token_refused_me_leaves_links_empty_and_says_so(
    rsps: responses.RequestsMock, recorded: responses.RequestsMock
) -> None:
    """`/me` refused: the conversations still arrive, without links, and the run names the
    missing feature once."""
    status, headers, text = answer("error_unauthorized")
    rsps.replace(responses.GET, f"{INTERCOM}/me", status=403, body=text, headers=headers)
    reader = connector()

    records = [r for page in reader.conversations(None) for r in page.records]

    assert [r.id for r in records] == ["379", "380"] and {r.url for r in records} == {""}
    assert list(reader.missing) == ["inbox_urls"] and "403" in reader.missing["inbox_urls"]


def test_capabilities_name_each_optional_read(recorded: responses.RequestsMock) -> None:
    recorded.add("GET", f"{INTERCOM}/companies", json=body("intercom", "companies_scroll"))
    recorded.add("POST", f"{INTERCOM}/contacts/search", json=body("intercom", "contacts_search"))
    status, headers, text = answer("error_unauthorized")
    recorded.add("GET", f"{INTERCOM}/tags", status=403, body=text, headers=headers)

    found = {c.name: c for c in capabilities(sandbox_settings())}

    assert {n for n, c in found.items() if c.available} == {
        "inbox_urls",
        "companies",
        "requester_companies",
        "closing_notes",
    }
    assert not found["tags"].available and "403" in found["tags"].detail


# -- (b) the sandbox answers with the recorded keys and types --------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7, tenant="messy") as running:
        yield running


def ask(server: SandboxServer, method: str, path: str, token: str = "sandbox", **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Intercom-Version": "2.11"}
    return requests.request(
        method, f"{server.url}/intercom{path}", headers=headers, timeout=30, **kw
    )


def served_search(server: SandboxServer, per_page: int = 1) -> dict[str, Any]:
    query = {"field": "updated_at", "operator": ">", "value": 0}
    reply = ask(
        server,
        "POST",
        "/conversations/search",
        json={"query": query, "pagination": {"per_page": per_page}},
    )
    assert reply.status_code == 200
    return reply.json()


@pytest.mark.parametrize(
    "name", ["conversations_search", "conversations_search_page1", "conversations_search_page2"]
)
def test_sandbox_search_pages_have_the_recorded_shape(sandbox: SandboxServer, name: str) -> None:
    assert_same_shape(body("intercom", name), served_search(sandbox))


def test_sandbox_last_search_page_has_no_next(sandbox: SandboxServer) -> None:
    served = served_search(sandbox, per_page=150)
    assert "next" not in served["pages"] or served["pages"]["next"] is None
    assert_same_shape(body("intercom", "conversations_search_page2"), served)


def test_sandbox_emailed_conversation_is_untitled_with_its_subject(sandbox: SandboxServer) -> None:
    emailed = [
        c
        for c in served_search(sandbox, per_page=150)["conversations"]
        if c["source"]["type"] == "email"
    ]
    assert emailed and all(c["title"] is None and c["source"]["subject"] for c in emailed)
    assert_same_shape(
        body("intercom", "conversations_search_page2")["conversations"][0], emailed[0]
    )


def test_sandbox_conversation_by_id_has_the_recorded_shape(sandbox: SandboxServer) -> None:
    first = served_search(sandbox)["conversations"][0]
    reply = ask(sandbox, "GET", f"/conversations/{first['id']}")
    assert_same_shape(body("intercom", "conversation_bot"), reply.json())


@pytest.mark.parametrize("name", ["contact", "contact_lead_without_email"])
def test_sandbox_contact_has_the_recorded_shape(sandbox: SandboxServer, name: str) -> None:
    first = served_search(sandbox)["conversations"][0]
    contact_id = first["contacts"]["contacts"][0]["id"]
    assert_same_shape(body("intercom", name), ask(sandbox, "GET", f"/contacts/{contact_id}").json())


def test_sandbox_contacts_search_has_the_recorded_shape(sandbox: SandboxServer) -> None:
    query = {"field": "role", "operator": "=", "value": "user"}
    reply = ask(
        sandbox, "POST", "/contacts/search", json={"query": query, "pagination": {"per_page": 1}}
    )
    assert_same_shape(body("intercom", "contacts_search"), reply.json())


@pytest.mark.parametrize("name", ["companies_scroll", "companies_scroll_page2"])
def test_sandbox_companies_scroll_has_the_recorded_shape(sandbox: SandboxServer, name: str) -> None:
    assert_same_shape(body("intercom", name), ask(sandbox, "GET", "/companies/scroll").json())


@pytest.mark.parametrize("name", ["me", "tags"])
def test_sandbox_me_and_tags_have_the_recorded_shape(sandbox: SandboxServer, name: str) -> None:
    path = fixture("intercom", name)["request"]["path"]
    reply = ask(sandbox, "GET", path)
    assert reply.status_code == 200
    assert_same_shape(body("intercom", name), reply.json())


def test_sandbox_errors_are_the_documented_error_list(sandbox: SandboxServer) -> None:
    missing = ask(sandbox, "GET", "/conversations/0")
    assert missing.status_code == 404
    assert_same_shape(body("intercom", "error_not_found"), missing.json())
    refused = ask(sandbox, "GET", "/me", token="wrong")
    assert refused.status_code == 401
    assert_same_shape(body("intercom", "error_unauthorized"), refused.json())
    unknown = ask(sandbox, "GET", "/no/such/route")
    assert unknown.status_code == 404
    assert_same_shape(body("intercom", "error_not_found"), unknown.json())
