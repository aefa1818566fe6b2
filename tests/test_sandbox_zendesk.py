"""Zendesk contract: incremental cursor export, lists, ticket comments and Jira links."""

import time
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest
import requests
from sandbox_session import ToolSession, sandbox_session

from connectors.settings import Settings
from flows.check import run_checks
from flows.pipeline import pull_source
from models import RecordKind
from sandbox.world import generate
from store import Store

WORLD = generate(7)
TICKETS = len(WORLD.of_tool("zendesk"))  # the rest of the feedback is in Intercom, Freshdesk
ORGANIZATIONS = sum(a.zendesk_org_id is not None for a in WORLD.accounts)

AUTH = ("demo@example.com/token", "sandbox")
EXPORT = "/api/v2/incremental/tickets/cursor.json"


class Client(ToolSession):
    def __init__(self, base: str) -> None:
        super().__init__(base, auth=AUTH)


@pytest.fixture
def client() -> Iterator[Client]:
    with sandbox_session(Client, "zendesk") as session:
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
    # As documented, `after_cursor` is a URL whose `page[after]` is the integer to send.
    cursor = first["meta"]["after_cursor"]
    assert cursor.startswith(f"{client.base}/api/v2/jira/links?page[after]=")
    after = int(cursor.rpartition("page[after]=")[2])
    rest = client.get("/api/v2/jira/links", params={"page[after]": after}).json()["links"]
    assert first["links"] + rest == everything
    assert requests.get(cursor, auth=AUTH, timeout=30).json()["links"] == rest
    refused = client.get("/api/v2/jira/links", params={"page[after]": cursor})
    assert refused.status_code == 400, "the URL itself is no page[after]"
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


# -- tenants, auth, paths and the routes other clients read ----------------------------------


@pytest.fixture
def tenant_client(request: pytest.FixtureRequest) -> Iterator[Client]:
    with sandbox_session(Client, "zendesk", tenant=request.param) as session:
        yield session


@pytest.mark.parametrize("tenant_client", ["minimal"], indirect=True)
def test_an_agents_token_is_refused_the_link_list_and_nothing_else(tenant_client: Client) -> None:
    """The Jira link list is "Allowed for Admins": with the agent's token of the minimal
    tenant it answers Zendesk's 403, while tickets, users and organisations still answer."""
    refused = tenant_client.get("/api/v2/jira/links")
    assert refused.status_code == 403
    assert refused.json()["error"] == "Forbidden"
    assert tenant_client.get("/api/v2/jira/links.json").status_code == 403
    for path, params in (
        (EXPORT, {"start_time": 0}),
        ("/api/v2/incremental/users/cursor.json", {"start_time": 0}),
        ("/api/v2/organizations.json", {}),
        ("/api/v2/users.json", {}),
    ):
        assert tenant_client.get(path, params=params).status_code == 200, path


def test_paths_answer_with_and_without_json_and_oauth_tokens_are_accepted(client: Client) -> None:
    """Zendesk accepts `/tickets/1` and `/tickets/1.json`, and `Bearer` OAuth tokens beside
    `email/token` API tokens; an unknown path answers its JSON 404, not plain text."""
    with_json = client.get("/api/v2/organizations.json").json()
    assert client.get("/api/v2/organizations").json() == with_json
    org = with_json["organizations"][0]
    assert (
        client.get(f"/api/v2/organizations/{org['id']}").json()["organization"]["id"] == org["id"]
    )
    assert client.get("/api/v2/incremental/tickets/cursor", params={"start_time": 0}).ok
    bearer = requests.get(
        f"{client.base}/api/v2/users/me",
        headers={"Authorization": "Bearer sandbox"},
        timeout=30,
    )
    assert bearer.status_code == 200 and bearer.json()["user"]["role"] == "admin"
    users = requests.get(
        f"{client.base}/api/v2/users", headers={"Authorization": "Bearer sandbox"}, timeout=30
    )
    assert users.status_code == 200 and users.json()["users"]
    wrong = requests.get(
        f"{client.base}/api/v2/users", headers={"Authorization": "Bearer nope"}, timeout=30
    )
    assert wrong.status_code == 401
    unknown = client.get("/api/v2/no_such_thing.json")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "InvalidEndpoint", "description": "Not found"}
    assert client.get("/api/v2/account/settings").json()["settings"]["api"]["api_token_access"]


def test_the_user_exports_page_by_cursor_and_by_time(client: Client) -> None:
    """Cursor-based: `after_cursor` until `end_of_stream`; time-based: `end_time` as the next
    start_time until `end_of_stream` (that second's rows come again). Both name every user."""
    everyone = {
        u["id"] for u in client.get("/api/v2/users.json", params={"per_page": 100}).json()["users"]
    }
    assert len(everyone) < 100
    by_cursor: list[int] = []
    params: dict[str, Any] = {"start_time": 0, "per_page": 9}
    while True:
        page = client.get("/api/v2/incremental/users/cursor.json", params=params).json()
        by_cursor += [u["id"] for u in page["users"]]
        if page["end_of_stream"]:
            break
        params = {"cursor": page["after_cursor"], "per_page": 9}
    assert len(by_cursor) == len(set(by_cursor)) and set(by_cursor) == everyone
    by_time: set[int] = set()
    start = 0
    while True:
        page = client.get(
            "/api/v2/incremental/users.json", params={"start_time": start, "per_page": 9}
        ).json()
        by_time.update(u["id"] for u in page["users"])
        assert page["count"] == len(page["users"])
        if page["end_of_stream"]:
            break
        assert page["end_time"] > start
        start = page["end_time"]
    assert by_time == everyone
    assert client.get("/api/v2/incremental/users.json").status_code == 400


def test_the_agent_ticket_page_opens_in_a_browser(client: Client) -> None:
    """pmsync's quote links are `<account>/agent/tickets/<id>`: that page shows the ticket."""
    ticket = client.get(EXPORT, params={"start_time": 0}).json()["tickets"][0]
    page = requests.get(f"{client.base}/agent/tickets/{ticket['id']}", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert escape(ticket["subject"]) in page.text
    org = client.get("/api/v2/organizations.json").json()["organizations"][0]
    org_page = requests.get(f"{client.base}/agent/organizations/{org['id']}", timeout=30)
    assert org_page.status_code == 200 and escape(org["name"]) in org_page.text
    assert requests.get(f"{client.base}/agent/tickets/1", timeout=30).status_code == 404


@pytest.mark.parametrize("tenant_client", ["messy"], indirect=True)
def test_the_messy_tenant_serves_the_edge_cases_of_real_accounts(tenant_client: Client) -> None:
    """Tickets by email with no organization, an end user without email, null subject and
    description, non-ASCII and long text, and legacy Jira links without an issue key."""
    page = tenant_client.get(EXPORT, params={"start_time": 0, "include": "users"}).json()
    users = {u["id"]: u for u in page["users"]}
    tickets = page["tickets"]
    assert any(t["subject"] is None and t["description"] is None for t in tickets)
    by_email = [
        t for t in tickets if t["via"]["channel"] == "email" and t["organization_id"] is None
    ]
    assert by_email and all(users[t["requester_id"]]["email"] for t in by_email)
    assert any(users[t["requester_id"]]["email"] is None for t in tickets)
    assert any(not (t["subject"] or "").isascii() for t in tickets)
    assert max(len(t["description"] or "") for t in tickets) > 30_000
    links = tenant_client.get("/api/v2/jira/links").json()["links"]
    assert any(link["issue_key"] is None for link in links)
    assert any(link["issue_key"] for link in links)


@pytest.mark.parametrize("tenant_client", ["minimal"], indirect=True)
def test_an_agents_token_pulls_every_ticket_and_check_names_the_missing_links(
    tenant_client: Client, tmp_path: Path
) -> None:
    """With the minimal tenant's agent token a Zendesk pull stores every ticket and
    organisation and says, once, that the Jira links are off and what to change; `pmsync
    check` shows the tool as working and the links as a missing capability."""
    url = tenant_client.base.removesuffix("/zendesk")
    settings = Settings.for_sandbox(url, database_url=f"sqlite:///{tmp_path / 'pmsync.db'}")
    store = Store(settings.database_url, upgrade=True)

    outcome = pull_source(settings, store, "zendesk", full=True)

    assert set(outcome.missing) == {"jira_links"}
    assert "admin" in outcome.missing["jira_links"]
    live = [t for t in _export_all(tenant_client, start_time=0)[0] if t["status"] != "deleted"]
    assert {f.id for f in store.records.load(RecordKind.FEEDBACK, "zendesk")} == {
        str(t["id"]) for t in live
    }
    assert len(store.records.load(RecordKind.ACCOUNT, "zendesk")) == ORGANIZATIONS
    assert store.records.load(RecordKind.TOOL_LINK, "zendesk") == []
    checks = {c.name: c for c in run_checks(settings)}
    assert checks["zendesk"].ok
    links = checks["zendesk jira_links"]
    assert links.ok and links.missing and "admin" in links.detail
