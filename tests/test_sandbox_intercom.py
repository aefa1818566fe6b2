"""Intercom contract: conversation search and its query rules, companies by page and by
scroll, contacts carrying their company, notes, deletes and the error shape."""

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer, start_sandbox
from sandbox.world import generate

CONVERSATIONS = len(generate(7).of_tool("intercom"))


class Client(requests.Session):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.headers.update({"Authorization": "Bearer sandbox", "Intercom-Version": "2.11"})

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        return super().request(method, f"{self.base}{url!s}", *args, **kwargs)


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
