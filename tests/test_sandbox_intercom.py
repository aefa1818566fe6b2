"""Intercom contract: conversation search and its query rules, companies by page and by
scroll, contacts carrying their company, notes, deletes and the error shape."""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_session import ToolSession

from models import RecordKind
from sandbox.server import SandboxServer, start_sandbox
from sandbox.world import generate

CONVERSATIONS = len(generate(7).of_tool("intercom"))


class Client(ToolSession):
    def __init__(self, base: str) -> None:
        super().__init__(base, {"Authorization": "Bearer sandbox", "Intercom-Version": "2.11"})


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[Client]:
    with Client(server.url + "/intercom") as session:
        yield session


def since(stamp: int) -> dict[str, Any]:
    return {"operator": "AND", "value": [{"field": "updated_at", "operator": ">", "value": stamp}]}


def search_all(client: Client, query: dict[str, Any], per_page: int) -> list[dict[str, Any]]:
    """Follow `pages.next.starting_after` until a page comes without `next`."""
    found, paging, tokens = [], {"per_page": per_page}, set()
    while True:
        body = client.post(
            "/conversations/search", json={"query": query, "pagination": paging}
        ).json()
        assert body["type"] == "conversation.list" and body["pages"]["type"] == "pages"
        found += body["conversations"]
        following = body["pages"].get("next")
        if not following:
            return found
        assert following["starting_after"] not in tokens
        tokens.add(following["starting_after"])
        paging = {"per_page": per_page, "starting_after": following["starting_after"]}


def test_search_pages_until_next_is_absent(client: Client) -> None:
    """The stream ends on the missing `pages.next`, never on a short page."""
    found = search_all(client, since(0), per_page=25)
    assert len(found) == len({c["id"] for c in found}) == CONVERSATIONS
    first = client.post(
        "/conversations/search", json={"query": since(0), "pagination": {"per_page": 25}}
    ).json()
    assert first["total_count"] == CONVERSATIONS
    assert first["pages"]["total_pages"] == -(-CONVERSATIONS // 25)
    assert first["pages"]["next"]["page"] == 2
    conversation = found[0]
    assert conversation["type"] == "conversation" and isinstance(conversation["updated_at"], int)
    assert conversation["source"]["body"].startswith("<p>")
    assert conversation["source"]["author"]["email"]
    assert conversation["state"] in ("open", "closed", "snoozed")
    assert "conversation_parts" not in conversation


def test_exclusive_bound_and_or_nesting(client: Client) -> None:
    """There is no `>=`: `> last - 1` finds the records at `last`; OR/AND nest two deep."""
    stamps = sorted(c["updated_at"] for c in search_all(client, since(0), per_page=150))
    middle = stamps[len(stamps) // 2]
    after = search_all(client, since(middle - 1), per_page=150)
    assert len(after) == sum(s >= middle for s in stamps)
    compound = {
        "operator": "OR",
        "value": [
            {"field": "updated_at", "operator": ">", "value": middle},
            {
                "operator": "AND",
                "value": [
                    {"field": "updated_at", "operator": "=", "value": middle},
                    {"field": "state", "operator": "!=", "value": "nonsense"},
                ],
            },
        ],
    }
    assert len(search_all(client, compound, per_page=10)) == len(after)


@pytest.mark.parametrize(
    ("query", "per_page"),
    [
        ({"field": "updated_at", "operator": ">=", "value": 0}, 10),  # no >= in Intercom
        ({"field": "id", "operator": ">", "value": "1"}, 10),  # ids are strings
        ({"field": "updated_at", "operator": ">", "value": "yesterday"}, 10),  # wrong type
        ({"field": "colour", "operator": "=", "value": "red"}, 10),  # unknown field
        (
            {  # three levels of AND/OR: Intercom allows two
                "operator": "AND",
                "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [since(0)]}]}],
            },
            10,
        ),
        (since(0), 151),  # per_page above 150
    ],
)
def test_queries_intercom_refuses(client: Client, query: dict[str, Any], per_page: int) -> None:
    response = client.post(
        "/conversations/search", json={"query": query, "pagination": {"per_page": per_page}}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error.list" and body["errors"][0]["code"] == "parameter_invalid"


def test_contact_carries_the_company(client: Client) -> None:
    found = search_all(client, since(0), per_page=150)
    with_company = []
    for conversation in found[:20]:
        contact = client.get(f"/contacts/{conversation['source']['author']['id']}").json()
        assert contact["type"] == "contact" and contact["email"]
        with_company += contact["companies"]["data"]
    company = client.get(f"/companies/{with_company[0]['id']}").json()
    assert company["type"] == "company" and company["website"].startswith("https://")
    assert set(company) >= {"id", "company_id", "name", "website", "updated_at"}
    assert client.get("/companies", params={"company_id": company["company_id"]}).json() == company


def test_companies_by_page_and_by_scroll(client: Client) -> None:
    """Pages end without `pages.next`; the scroll ends on an empty `data`."""
    paged, page = [], 1
    while True:
        body = client.get("/companies", params={"per_page": 4, "page": page}).json()
        assert body["type"] == "list"
        paged += body["data"]
        if "next" not in body["pages"]:
            break
        page += 1
    assert len(paged) == len({c["id"] for c in paged}) == body["total_count"] > 4
    assert client.get("/companies", params={"per_page": 61}).status_code == 400
    scrolled, params = [], {}
    while True:
        body = client.get("/companies/scroll", params=params).json()
        if not body["data"]:
            break
        scrolled += body["data"]
        params = {"scroll_param": body["scroll_param"]}
    assert {c["id"] for c in scrolled} == {c["id"] for c in paged}


def test_note_is_a_part_and_bumps_updated_at(client: Client) -> None:
    conversation = search_all(client, since(0), per_page=150)[0]
    me = client.get("/me").json()
    note = {"message_type": "note", "type": "admin", "admin_id": me["id"], "body": "<p>Shipped</p>"}
    answer = client.post(f"/conversations/{conversation['id']}/reply", json=note)
    assert answer.status_code == 200
    parts = answer.json()["conversation_parts"]["conversation_parts"]
    assert [(p["part_type"], p["body"]) for p in parts] == [("note", "<p>Shipped</p>")]
    assert answer.json()["updated_at"] >= conversation["updated_at"]
    stranger = client.post(
        f"/conversations/{conversation['id']}/reply", json={**note, "admin_id": "1"}
    )
    assert stranger.status_code == 404


def test_deleted_conversation_vanishes(server: SandboxServer, client: Client) -> None:
    """Intercom signals no delete in search: the conversation is simply gone."""
    victim = search_all(client, since(0), per_page=150)[0]["id"]
    gone = requests.post(
        f"{server.url}/_sandbox/delete",
        json={"tool": "intercom", "kind": "conversation", "id": victim},
    )
    assert gone.status_code == 200
    assert client.get(f"/conversations/{victim}").status_code == 404
    assert victim not in {c["id"] for c in search_all(client, since(0), per_page=150)}


def test_wrong_token_answers_error_list(client: Client) -> None:
    response = client.get("/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["errors"] == [
        {"code": "unauthorized", "message": "Access Token Invalid"}
    ]


def test_sort_orders_pages_either_way(client: Client) -> None:
    """Ascending by default; `sort` descending pages newest first, still without gaps."""
    oldest = search_all(client, since(0), per_page=40)
    stamps = [c["updated_at"] for c in oldest]
    assert stamps == sorted(stamps)
    newest = []
    paging: dict[str, Any] = {"per_page": 40}
    while True:
        body = client.post(
            "/conversations/search",
            json={
                "query": since(0),
                "pagination": paging,
                "sort": {"field": "updated_at", "order": "descending"},
            },
        ).json()
        newest += body["conversations"]
        if "next" not in body["pages"]:
            break
        paging = {"per_page": 40, "starting_after": body["pages"]["next"]["starting_after"]}
    assert [c["id"] for c in newest] == [c["id"] for c in reversed(oldest)]
    wrong = client.post(
        "/conversations/search", json={"query": since(0), "sort": {"field": "title"}}
    )
    assert wrong.status_code == 400


def test_tags_list_every_tag_conversations_carry(client: Client) -> None:
    """`GET /tags` names each tag once, with the ids conversations carry."""
    body = client.get("/tags").json()
    assert body["type"] == "list"
    listed = {t["id"]: t["name"] for t in body["data"]}
    assert len(listed) == len(body["data"]) and all(t["type"] == "tag" for t in body["data"])
    everything = search_all(client, since(0), per_page=150)
    carried = {t["id"]: t["name"] for c in everything for t in c["tags"]["tags"]}
    assert carried and carried == listed


def test_me_names_the_app_and_its_id_code(client: Client) -> None:
    me = client.get("/me").json()
    assert me["type"] == "admin" and me["app"]["type"] == "app"
    assert me["app"]["id_code"] and me["app"]["name"] and me["avatar"]["type"] == "avatar"


def test_emailed_conversations_are_untitled_with_the_subject_in_source(client: Client) -> None:
    """Intercom leaves `title` null on an emailed conversation: its subject is in
    `source.subject`, and the body opens like any email ("Hi team," / "Bonjour,")."""
    everything = search_all(client, since(0), per_page=150)
    emailed = [c for c in everything if c["source"]["type"] == "email"]
    assert emailed and all(c["title"] is None and c["source"]["subject"] for c in emailed)
    chats = [c for c in everything if c["source"]["type"] != "email"]
    assert all(c["title"] is None and c["source"]["subject"] == "" for c in chats)


@pytest.mark.parametrize(
    ("operator", "picks"),
    [(">", lambda stamp, mid: stamp > mid), ("<", lambda stamp, mid: stamp < mid)],
)
def test_contacts_search_takes_date_operators(client: Client, operator: str, picks: Any) -> None:
    """Dates are unix seconds compared with `>` and `<` (and `=`); clients that list
    contacts changed since a time send exactly this."""
    everyone = client.post(
        "/contacts/search",
        json={
            "query": {"field": "role", "operator": "=", "value": "user"},
            "pagination": {"per_page": 150},
        },
    ).json()["data"]
    stamps = sorted(c["updated_at"] for c in everyone)
    middle = stamps[len(stamps) // 2]
    query = {"field": "updated_at", "operator": operator, "value": middle}
    found = client.post("/contacts/search", json={"query": query, "pagination": {"per_page": 150}})
    assert found.status_code == 200
    expected = {c["id"] for c in everyone if picks(c["updated_at"], middle)}
    assert {c["id"] for c in found.json()["data"]} == expected and expected
    exact = {"field": "created_at", "operator": "=", "value": everyone[0]["created_at"]}
    hits = client.post("/contacts/search", json={"query": exact}).json()["data"]
    assert everyone[0]["id"] in {c["id"] for c in hits}
    bad = {"field": "updated_at", "operator": "~", "value": middle}
    assert client.post("/contacts/search", json={"query": bad}).status_code == 400


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_routes_answer_the_error_list(client: Client, method: str) -> None:
    """Clients parse Intercom's error list; a plain-text 404 breaks them."""
    response = client.request(method, "/no/such/thing")
    assert response.status_code == 404
    body = response.json()
    assert body["type"] == "error.list" and body["errors"][0]["code"] == "not_found"


def test_the_inbox_page_of_a_conversation_opens(server: SandboxServer, client: Client) -> None:
    """The link pmsync writes into Jira opens the conversation, as Intercom's inbox does."""
    app = client.get("/me").json()["app"]["id_code"]
    conversation = search_all(client, since(0), per_page=150)[0]
    page = requests.get(
        f"{server.url}/intercom/a/inbox/{app}/inbox/conversation/{conversation['id']}", timeout=10
    )
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert conversation["source"]["subject"] or conversation["id"] in page.text
    missing = requests.get(f"{server.url}/intercom/a/inbox/{app}/inbox/conversation/0", timeout=10)
    assert missing.status_code == 404


def test_messy_tenant_has_leads_admins_and_bots_as_authors() -> None:
    """The `messy` profile: leads without email start conversations, teammates and bots
    start others (the customer then only in `contacts`), subjects come as HTML, companies
    lack websites; who the customer is stays readable through `contacts`."""
    with (
        start_sandbox(seed=7, tenant="messy") as running,
        Client(running.url + "/intercom") as client,
    ):
        everything = search_all(client, since(0), per_page=150)
        authors = {c["source"]["author"]["type"] for c in everything}
        assert {"user", "lead", "admin", "bot"} <= authors
        for conversation in everything:
            if conversation["source"]["author"]["type"] in ("admin", "bot"):
                (customer,) = conversation["contacts"]["contacts"]
                assert client.get(f"/contacts/{customer['id']}").status_code == 200
        leads = [c for c in everything if c["source"]["author"]["type"] == "lead"]
        assert all("email" not in c["source"]["author"] for c in leads)
        lead = client.get(f"/contacts/{leads[0]['source']['author']['id']}").json()
        assert lead["role"] == "lead" and lead["email"] is None
        emailed = [c for c in everything if c["source"]["type"] == "email"]
        assert all(c["source"]["subject"].startswith("<p>") for c in emailed)
        companies = client.get("/companies/scroll").json()["data"]
        assert any(c.get("website") is None for c in companies)
        names = [
            client.get(f"/contacts/{c['contacts']['contacts'][0]['id']}").json()["name"]
            for c in everything
        ]
        assert any(name and not name.isascii() for name in names)


def test_a_conversation_deleted_in_intercom_leaves_the_store(tmp_path) -> None:
    """Deleted in Intercom: a full sync drops it from the store, and re-reading it by id
    (what a `conversation.deleted` webhook starts) reads it as gone."""
    from connectors.lookup import Lookup
    from connectors.settings import Settings
    from flows.pipeline import pull_source
    from store import Store

    with start_sandbox(seed=7) as running, Client(running.url + "/intercom") as client:
        settings = Settings.for_sandbox(
            running.url, database_url=f"sqlite:///{tmp_path / 'pmsync.db'}", sources=["intercom"]
        )
        store = Store(settings.database_url, upgrade=True)
        pull_source(settings, store, "intercom", full=False)
        stored = {r.id for r in store.records.load(RecordKind.FEEDBACK, "intercom")}
        gone = sorted(stored)[0]
        assert client.delete(f"/conversations/{gone}").status_code == 200

        pull_source(settings, store, "intercom", full=False)
        assert gone in {r.id for r in store.records.load(RecordKind.FEEDBACK, "intercom")}, (
            "no listing of deletes"
        )
        pull_source(settings, store, "intercom", full=True)

        assert {r.id for r in store.records.load(RecordKind.FEEDBACK, "intercom")} == stored - {
            gone
        }
        assert Lookup(settings).fetch("intercom", "conversation", gone) is None
