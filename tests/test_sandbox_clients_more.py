"""The vendors' own or long-maintained client packages for Intercom (`python-intercom`, the
official SDK generated from Intercom's API definition) and Freshdesk (`python-freshdesk`)
read every stream pmsync uses from the sandbox, unchanged: Intercom's conversations and
contacts (search), companies (scroll) and the admin behind the token; Freshdesk's tickets,
contacts, companies and each ticket's conversations.

`python-intercom` takes a base URL. `python-freshdesk` always speaks https to
`<domain>.freshdesk.com`, so a transport adapter on its session sends those URLs to the
plain-HTTP sandbox mount; paths and bodies are untouched."""

from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from sandbox.server import SandboxServer

intercom = pytest.importorskip("intercom", reason="python-intercom is a dev extra")
freshdesk_api = pytest.importorskip("freshdesk.v2.api", reason="python-freshdesk is a dev extra")


def _searched(search: Any, query: dict[str, Any]) -> list[Any]:
    """Every page of a search, following `pages.next.starting_after`. (The SDK's own
    iterator asks for the first page again: its generated `search` pager drops the cursor,
    so the pages are walked here with the SDK's calls.)"""
    found: list[Any] = []
    paging: dict[str, Any] = {"per_page": 20}
    for _ in range(100):
        page = search(query=query, pagination=paging)
        found += page.items or []
        following = page.response.pages.next if page.response.pages else None
        if following is None or not following.starting_after:
            return found
        paging = {"per_page": 20, "starting_after": following.starting_after}
    raise AssertionError("search paging did not end")


def test_python_intercom_reads_conversations_contacts_companies(server: SandboxServer) -> None:
    store = server.app.state.sandbox.intercom
    client = intercom.Intercom(token="sandbox", base_url=f"{server.url}/intercom")
    since = {"field": "updated_at", "operator": ">", "value": 0}
    conversations = _searched(client.conversations.search, since)
    assert sorted(c.id for c in conversations) == sorted(store.conversations)
    one = client.conversations.find(conversations[0].id)
    assert one.id == conversations[0].id and one.source is not None
    contacts = _searched(client.contacts.search, since)
    assert sorted(c.id for c in contacts) == sorted(store.contacts)
    assert client.contacts.find(contacts[0].id).id == contacts[0].id
    companies = list(client.companies.scroll())  # the SDK's pager: until an empty page
    assert sorted(c.id for c in companies) == sorted(store.companies)
    assert client.companies.find(companies[0].id).name == companies[0].name
    me = client.admins.identify()
    assert me is not None and me.app is not None and me.app.id_code
    assert {a.id for a in client.admins.list().admins or []} == set(store.admins)
    with pytest.raises(intercom.core.api_error.ApiError) as refused:
        intercom.Intercom(token="wrong", base_url=f"{server.url}/intercom").admins.identify()
    assert refused.value.status_code == 401


class ToSandbox(HTTPAdapter):
    """https://<domain>.freshdesk.com/... to the sandbox's /freshdesk mount."""

    def __init__(self, sandbox: str) -> None:
        super().__init__()
        self.sandbox = sandbox

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        host, _, path = str(request.url).removeprefix("https://").partition("/")
        assert host.endswith(".freshdesk.com")
        request.url = f"{self.sandbox}/freshdesk/{path}"
        return super().send(request, **kwargs)


def test_python_freshdesk_reads_tickets_contacts_companies_conversations(
    server: SandboxServer,
) -> None:
    store = server.app.state.sandbox.freshdesk
    api = freshdesk_api.API("sandbox.freshdesk.com", "sandbox")
    api._session.mount("https://", ToSandbox(server.url))
    tickets = api.tickets.list_tickets(filter_name=None, updated_since="2000-01-01T00:00:00Z")
    assert sorted(t.id for t in tickets) == sorted(store.tickets)
    assert api.tickets.get_ticket(tickets[0].id).subject == tickets[0].subject
    contacts = api.contacts.list_contacts()
    assert sorted(c.id for c in contacts) == sorted(store.contacts)
    companies = api.companies.list_companies()
    assert sorted(c.id for c in companies) == sorted(store.companies)
    assert api.companies.get_company(companies[0].id).name == companies[0].name
    note = api.comments.create_note(tickets[0].id, "Linked to ANA-1", private=True)
    assert note.body_text == "Linked to ANA-1" or "ANA-1" in note.body
    assert store.conversations  # the note at least: the seeded account has no replies
    read = {t: [c.id for c in api.comments.list_comments(t)] for t in store.conversations}
    assert read == {t: [c["id"] for c in cs] for t, cs in store.conversations.items()}
    wrong = freshdesk_api.API("sandbox.freshdesk.com", "wrong")
    wrong._session.mount("https://", ToSandbox(server.url))
    with pytest.raises(freshdesk_api.FreshdeskUnauthorized):
        wrong.contacts.list_contacts()
