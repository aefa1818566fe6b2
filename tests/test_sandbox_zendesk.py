"""Zendesk contract: incremental cursor export, lists, ticket comments and Jira links."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.server import start_sandbox
from sandbox.world import generate

WORLD = generate(7)
TICKETS = len(WORLD.of_tool("zendesk"))  # the rest of the feedback is in Intercom, Freshdesk
ORGANIZATIONS = sum(a.zendesk_org_id is not None for a in WORLD.accounts)

AUTH = ("demo@example.com/token", "sandbox")
EXPORT = "/api/v2/incremental/tickets/cursor.json"


class Client(requests.Session):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base, self.auth = base, AUTH

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        return super().request(method, f"{self.base}{url!s}", *args, **kwargs)


@pytest.fixture
def client() -> Iterator[Client]:
    with start_sandbox(seed=7) as server, Client(server.url + "/zendesk") as session:
        yield session


def _export_all(client: Client, **params: Any) -> tuple[list[dict[str, Any]], str]:
    tickets: list[dict[str, Any]] = []
    cursors: set[str] = set()
    while True:
        page = client.get(EXPORT, params=params).json()
        tickets += page["tickets"]
        assert page["after_cursor"] and page["after_cursor"] not in cursors
        cursors.add(page["after_cursor"])
        if page["end_of_stream"]:
            return tickets, page["after_cursor"]
        params = {"cursor": page["after_cursor"], "per_page": params.get("per_page", 1000)}


def test_export_pages_until_end_of_stream_and_resumes(client: Client) -> None:
    tickets, cursor = _export_all(client, start_time=0, per_page=35)
    assert len(tickets) == len({t["id"] for t in tickets}) == TICKETS
    assert tickets[0]["url"].endswith(f"/zendesk/api/v2/tickets/{tickets[0]['id']}.json")
    quiet = client.get(EXPORT, params={"cursor": cursor}).json()
    assert quiet["tickets"] == [] and quiet["end_of_stream"] is True
    assert quiet["after_cursor"] == cursor
    open_ticket = next(t for t in tickets if t["status"] != "closed")
    update = client.put(
        f"/api/v2/tickets/{open_ticket['id']}.json",
        json={"ticket": {"comment": {"body": "ANA-3 shipped in 2025.2", "public": False}}},
    )
    assert update.status_code == 200
    assert update.json()["ticket"]["updated_at"] >= open_ticket["updated_at"]
    resumed = client.get(EXPORT, params={"cursor": cursor}).json()
    assert [t["id"] for t in resumed["tickets"]] == [open_ticket["id"]]
    assert resumed["end_of_stream"] is True and resumed["after_cursor"] != cursor
    comments = client.get(f"/api/v2/tickets/{open_ticket['id']}/comments.json").json()
    assert comments["comments"][-1]["public"] is False
    assert comments["comments"][-1]["body"] == "ANA-3 shipped in 2025.2"


def test_export_sideloads_and_rejects_recent_start(client: Client) -> None:
    params: dict[str, Any] = {"start_time": 0, "include": "users,organizations", "per_page": 50}
    page = client.get(EXPORT, params=params).json()
    users = {u["id"] for u in page["users"]}
    assert all(t["requester_id"] in users for t in page["tickets"])
    assert {o["id"] for o in page["organizations"]} >= {
        t["organization_id"] for t in page["tickets"] if t["organization_id"]
    }
    recent = client.get(EXPORT, params={"start_time": int(time.time()) - 10})
    assert recent.status_code == 422
    assert recent.json()["error"] == "InvalidValue"


def test_closed_tickets_refuse_updates(client: Client) -> None:
    tickets, _ = _export_all(client, start_time=0)
    closed = next(t for t in tickets if t["status"] == "closed")
    response = client.put(
        f"/api/v2/tickets/{closed['id']}.json",
        json={"ticket": {"comment": {"body": "Shipped", "public": False}}},
    )
    assert response.status_code == 422
    assert client.get("/api/v2/tickets/1.json").json() == {
        "error": "RecordNotFound",
        "description": "Not found",
    }


def test_users_and_organizations_cursor_pagination(client: Client) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"page[size]": 10}
    while True:
        page = client.get("/api/v2/users.json", params=params).json()
        seen += [u["id"] for u in page["users"]]
        if not page["meta"]["has_more"]:
            break
        params = {"page[size]": 10, "page[after]": page["meta"]["after_cursor"]}
    assert len(seen) == len(set(seen)) > 30
    orgs = client.get("/api/v2/organizations.json").json()
    assert orgs["count"] == ORGANIZATIONS and orgs["next_page"] is None
    org = orgs["organizations"][0]
    assert org["domain_names"]
    one = client.get(f"/api/v2/organizations/{org['id']}.json").json()
    assert one["organization"]["name"] == org["name"]


def test_jira_links_filter_and_page(client: Client) -> None:
    everything = client.get("/api/v2/jira/links").json()["links"]
    assert everything and set(everything[0]) == {
        "id",
        "ticket_id",
        "issue_id",
        "issue_key",
        "created_at",
        "updated_at",
    }
    first = client.get("/api/v2/jira/links", params={"page[size]": 2}).json()
    assert first["meta"]["has_more"] is True and len(first["links"]) == 2
    rest = client.get(
        "/api/v2/jira/links", params={"page[after]": first["meta"]["after_cursor"]}
    ).json()["links"]
    assert first["links"] + rest == everything
    ticket_id = everything[0]["ticket_id"]
    only = client.get("/api/v2/jira/links", params={"ticket_id": ticket_id}).json()
    assert {x["ticket_id"] for x in only["links"]} == {ticket_id}


def test_wrong_credentials_are_refused(client: Client) -> None:
    response = client.get("/api/v2/users.json", auth=("demo@example.com", "sandbox"))
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


ORGANIZATION_EXPORT = "/api/v2/incremental/organizations.json"


def test_the_organization_export_pages_by_end_time_until_end_of_stream(client: Client) -> None:
    """The time-based export: from start_time, oldest change first; each page's end_time
    is where the next starts (that second's rows come again); end_of_stream ends it; a
    start_time inside the last minute is refused, as Zendesk does."""
    seen: dict[int, dict[str, Any]] = {}
    start, pages = 0, 0
    while True:
        page = client.get(ORGANIZATION_EXPORT, params={"start_time": start, "per_page": 7}).json()
        pages += 1
        stamps = [o["updated_at"] for o in page["organizations"]]
        assert stamps == sorted(stamps)
        seen.update((o["id"], o) for o in page["organizations"])
        assert page["count"] == len(page["organizations"])
        if page["end_of_stream"]:
            break
        assert page["end_time"] > start, "a page that does not move on would loop"
        start = page["end_time"]
    assert len(seen) == ORGANIZATIONS and pages > 1
    latest = max(o["updated_at"] for o in seen.values())
    later = client.get(ORGANIZATION_EXPORT, params={"start_time": page["end_time"]}).json()
    assert [o["updated_at"] for o in later["organizations"]] == [latest] * later["count"]
    too_recent = client.get(ORGANIZATION_EXPORT, params={"start_time": int(time.time())})
    assert too_recent.status_code == 422
    assert client.get(ORGANIZATION_EXPORT).status_code == 400
