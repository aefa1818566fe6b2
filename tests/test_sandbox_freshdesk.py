"""Freshdesk contract: ticket pages linked by `Link: rel="next"`, the 300-page cap, the
30-day default window, includes, deleted tickets under filter=deleted, notes, companies."""

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from models import RecordKind
from sandbox.server import SandboxServer, start_sandbox
from sandbox.world import generate

TICKETS = len(generate(7).of_tool("freshdesk"))
SINCE = "2000-01-01T00:00:00Z"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = ("sandbox", "X")
        yield session


def pages(client: requests.Session, url: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page, following the Link header until it is absent."""
    found, next_url, seen = [], url, set()
    query: dict[str, Any] | None = params
    while next_url:
        response = client.get(next_url, params=query)
        assert response.status_code == 200, response.text
        found.append(response.json())
        next_url = response.links.get("next", {}).get("url")
        assert next_url not in seen
        seen.add(next_url)
        query = None  # the link carries every parameter
    return found


def test_tickets_page_until_the_link_header_is_gone(
    server: SandboxServer, client: requests.Session
) -> None:
    url = f"{server.url}/freshdesk/api/v2/tickets"
    chunks = pages(
        client, url, updated_since=SINCE, order_by="updated_at", order_type="asc", per_page=30
    )
    tickets = [t for chunk in chunks for t in chunk]
    assert len(tickets) == len({t["id"] for t in tickets}) == TICKETS
    assert len(chunks) == -(-TICKETS // 30)
    stamps = [t["updated_at"] for t in tickets]
    assert stamps == sorted(stamps)
    assert {t["status"] for t in tickets} <= {2, 3, 4, 5}
    assert "description" not in tickets[0] and "requester" not in tickets[0]
    assert all(t["requester_id"] and "deleted" not in t for t in tickets)


def test_includes_and_the_thirty_day_default(
    server: SandboxServer, client: requests.Session
) -> None:
    url = f"{server.url}/freshdesk/api/v2/tickets"
    with_more = client.get(
        url, params={"updated_since": SINCE, "include": "requester,description", "per_page": 5}
    ).json()
    ticket = with_more[0]
    assert ticket["description_text"] and ticket["description"].startswith("<p>")
    assert set(ticket["requester"]) == {"id", "name", "email", "mobile", "phone"}
    assert ticket["requester"]["id"] == ticket["requester_id"]
    recent = [t for chunk in pages(client, url, per_page=100) for t in chunk]
    assert 0 < len(recent) < TICKETS  # without updated_since: created in the last 30 days
    one = client.get(f"{url}/{ticket['id']}").json()
    assert one["description_text"] == ticket["description_text"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 301}, "page"),
        ({"per_page": 101}, "per_page"),
        ({"order_by": "subject"}, "order_by"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"filter": "everything"}, "filter"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_validation_errors(
    server: SandboxServer, client: requests.Session, params: dict[str, Any], field: str
) -> None:
    response = client.get(f"{server.url}/freshdesk/api/v2/tickets", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["description"] == "Validation failed" and body["errors"][0]["field"] == field
    if field == "page":
        assert body["errors"][0] == {
            "field": "page",
            "message": "You cannot access tickets beyond the 300th page. "
            "Please provide a smaller page number.",
            "code": "invalid_value",
        }


def test_deleted_tickets_are_listed_under_their_own_filter(
    server: SandboxServer, client: requests.Session
) -> None:
    url = f"{server.url}/freshdesk/api/v2/tickets"
    first, second = client.get(url, params={"updated_since": SINCE, "per_page": 2}).json()
    assert client.delete(f"{url}/{first['id']}").status_code == 204
    requests.post(
        f"{server.url}/_sandbox/delete",
        json={"tool": "freshdesk", "kind": "ticket", "id": second["id"]},
    ).raise_for_status()
    live = [t["id"] for c in pages(client, url, updated_since=SINCE, per_page=100) for t in c]
    assert first["id"] not in live and second["id"] not in live and len(live) == TICKETS - 2
    deleted = client.get(url, params={"filter": "deleted", "updated_since": SINCE}).json()
    assert {t["id"] for t in deleted} == {first["id"], second["id"]}
    assert all(t["deleted"] is True and t["updated_at"] > first["updated_at"] for t in deleted)


def test_private_note(server: SandboxServer, client: requests.Session) -> None:
    url = f"{server.url}/freshdesk/api/v2/tickets"
    ticket = client.get(url, params={"updated_since": SINCE, "per_page": 1}).json()[0]
    note = client.post(
        f"{url}/{ticket['id']}/notes", json={"body": "ANA-3 shipped", "private": True}
    )
    assert note.status_code == 201
    assert note.json()["private"] is True and note.json()["ticket_id"] == ticket["id"]
    listed = client.get(f"{url}/{ticket['id']}/conversations").json()
    assert [n["body"] for n in listed] == ["ANA-3 shipped"]
    assert client.get(f"{url}/{ticket['id']}").json()["updated_at"] >= ticket["updated_at"]
    blank = client.post(f"{url}/{ticket['id']}/notes", json={"body": " "})
    assert blank.status_code == 400 and blank.json()["errors"][0]["code"] == "missing_field"
    assert client.post(f"{url}/1/notes", json={"body": "x"}).status_code == 404


def test_companies_and_contacts(server: SandboxServer, client: requests.Session) -> None:
    base = f"{server.url}/freshdesk/api/v2"
    companies = [c for chunk in pages(client, f"{base}/companies", per_page=5) for c in chunk]
    assert len(companies) == len({c["id"] for c in companies}) > 5
    assert all(c["domains"] for c in companies)
    ticket = client.get(f"{base}/tickets", params={"updated_since": SINCE, "per_page": 100}).json()
    owned = next(t for t in ticket if t["company_id"])
    contact = client.get(f"{base}/contacts/{owned['requester_id']}").json()
    assert contact["company_id"] == owned["company_id"] and "@" in contact["email"]


def test_wrong_key_is_refused(server: SandboxServer) -> None:
    response = requests.get(f"{server.url}/freshdesk/api/v2/tickets", auth=("nope", "X"))
    assert response.status_code == 401
    assert response.json() == {
        "code": "invalid_credentials",
        "message": "You have to be logged in to perform this action.",
    }


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_routes_answer_a_json_error(
    client: requests.Session, server: SandboxServer, method: str
) -> None:
    """Clients parse Freshdesk's JSON error body; a plain-text 404 breaks them."""
    response = client.request(method, f"{server.url}/freshdesk/api/v2/no_such_thing")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message"}


def test_the_ticket_page_pmsync_links_to_opens(
    client: requests.Session, server: SandboxServer
) -> None:
    """`<site>/a/tickets/<id>`, the agent's ticket page, is where quote links point."""
    ticket = client.get(
        f"{server.url}/freshdesk/api/v2/tickets", params={"updated_since": SINCE, "per_page": 1}
    ).json()[0]
    page = requests.get(f"{server.url}/freshdesk/a/tickets/{ticket['id']}", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert ticket["subject"] in page.text
    company = client.get(f"{server.url}/freshdesk/api/v2/companies").json()[0]
    assert requests.get(f"{server.url}/freshdesk/a/companies/{company['id']}", timeout=10).ok
    assert requests.get(f"{server.url}/freshdesk/a/tickets/1", timeout=10).status_code == 404


def test_messy_tenant_has_requesters_without_email_and_spam() -> None:
    """The `messy` profile: requesters without email, tickets with nulls, spam kept out of
    the ordinary listing, companies without domains; the company a ticket counts for stays."""
    with start_sandbox(seed=7, tenant="messy") as running, requests.Session() as session:
        session.auth = ("sandbox", "X")
        url = f"{running.url}/freshdesk/api/v2/tickets"
        listed = [
            t
            for page in pages(session, url, updated_since=SINCE, per_page=100, include="requester")
            for t in page
        ]
        spam = [t for page in pages(session, url, updated_since=SINCE, filter="spam") for t in page]
        assert spam and not {t["id"] for t in spam} & {t["id"] for t in listed}
        assert len(listed) + len(spam) == TICKETS
        assert any(t["requester"]["email"] is None for t in listed)
        assert any(t["type"] is None for t in listed)
        companies = session.get(
            f"{running.url}/freshdesk/api/v2/companies", params={"per_page": 100}
        ).json()
        assert any(c["domains"] == [] for c in companies)


@pytest.mark.parametrize("tool", ["intercom", "freshdesk"])
def test_every_record_link_pmsync_stores_opens_its_page(tmp_path, tool: str) -> None:
    """The links a product manager clicks in Jira's comment (a quote's conversation or
    ticket, an account) open the record's page in the tool, here the sandbox's."""
    from connectors.settings import Settings
    from flows.pipeline import pull_source
    from store import Store

    with start_sandbox(seed=7, tenant="messy") as running:
        settings = Settings.for_sandbox(
            running.url, database_url=f"sqlite:///{tmp_path / 'pmsync.db'}", sources=[tool]
        )
        store = Store(settings.database_url, upgrade=True)
        pull_source(settings, store, tool, full=True)
        records = store.records.load(RecordKind.FEEDBACK, tool) + store.records.load(
            RecordKind.ACCOUNT, tool
        )
        assert len(records) > 20
        for record in records:
            assert record.url.startswith(f"{running.url}/{tool}/a/"), record.url
            page = requests.get(record.url, timeout=10)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"], (
                record.url
            )
