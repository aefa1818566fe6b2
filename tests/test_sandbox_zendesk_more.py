"""Zendesk's account lists that schema-discovering clients read (tap-zendesk checks each
before it syncs): groups, memberships, tags, ticket fields and forms, the empty lists of an
account without macros or ratings, a ticket's audits, and search."""

import time
from collections import Counter
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer
from sandbox.zendesk_data import CATEGORY_FIELD, GROUP_ID

AUTH = ("demo@example.com/token", "sandbox")


def _every(server: SandboxServer, path: str, key: str, size: int = 3) -> list[dict[str, Any]]:
    url: str | None = f"{server.url}/zendesk{path}"
    params: dict[str, Any] | None = {"page[size]": size}
    found: list[dict[str, Any]] = []
    for _ in range(100):
        if url is None:
            return found
        body = requests.get(url, auth=AUTH, params=params, timeout=10).json()
        found += body[key]
        assert body["meta"]["has_more"] == (body["links"]["next"] is not None)
        url, params = body["links"]["next"], None
    raise AssertionError("paging did not end")


def test_groups_memberships_and_tags_match_the_tickets(server: SandboxServer) -> None:
    state = server.app.state.sandbox
    groups = _every(server, "/api/v2/groups", "groups")
    assert [g["id"] for g in groups] == [GROUP_ID]
    assert {t["group_id"] for t in state.zendesk.tickets.values()} == {GROUP_ID}
    members = _every(server, "/api/v2/group_memberships.json", "group_memberships")
    agents = {u for u, r in state.zendesk.users.items() if r["role"] in ("agent", "admin")}
    assert {m["user_id"] for m in members} == agents
    tags = _every(server, "/api/v2/tags", "tags", size=5)
    counts = Counter(tag for t in state.zendesk.tickets.values() for tag in t["tags"])
    assert {t["name"]: t["count"] for t in tags} == dict(counts)


def test_ticket_fields_name_the_category_field_and_its_values(server: SandboxServer) -> None:
    state = server.app.state.sandbox
    fields = _every(server, "/api/v2/ticket_fields.json", "ticket_fields")
    category = next(f for f in fields if f["id"] == CATEGORY_FIELD)
    values = {
        f["value"]
        for t in state.zendesk.tickets.values()
        for f in t["custom_fields"]
        if f["id"] == CATEGORY_FIELD
    }
    assert category["type"] == "tagger" and category["removable"]
    assert {o["value"] for o in category["custom_field_options"]} == values
    assert {"subject", "status", "priority"} <= {f["type"] for f in fields}
    forms = requests.get(f"{server.url}/zendesk/api/v2/ticket_forms", auth=AUTH).json()
    assert forms["ticket_forms"][0]["ticket_field_ids"] == [f["id"] for f in fields]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/v2/macros.json", "macros"),
        ("/api/v2/satisfaction_ratings", "satisfaction_ratings"),
        ("/api/v2/user_fields.json", "user_fields"),
        ("/api/v2/organization_fields", "organization_fields"),
        ("/api/v2/slas/policies.json", "sla_policies"),
        ("/api/v2/channels/voice/phone_numbers.json", "phone_numbers"),
    ],
)
def test_lists_the_account_has_nothing_in(server: SandboxServer, path: str, key: str) -> None:
    answer = requests.get(f"{server.url}/zendesk{path}", auth=AUTH, timeout=10)
    assert answer.status_code == 200 and answer.json()[key] == []
    assert requests.get(f"{server.url}/zendesk{path}", timeout=10).status_code == 401


def test_a_tickets_audits_carry_its_comments(server: SandboxServer) -> None:
    state = server.app.state.sandbox
    ticket = next(t for t, c in state.zendesk.comments.items() if c)
    reply = {"ticket": {"comment": {"body": "Linked to ANA-1", "public": False}}}
    put = requests.put(f"{server.url}/zendesk/api/v2/tickets/{ticket}.json", auth=AUTH, json=reply)
    assert put.status_code == 200 and len(state.zendesk.comments[ticket]) > 1
    audits = _every(server, f"/api/v2/tickets/{ticket}/audits.json", "audits", size=1)
    events = [e for a in audits for e in a["events"]]
    assert [e["id"] for e in events] == [c["id"] for c in state.zendesk.comments[ticket]]
    assert all(e["type"] == "Comment" and "body" in e for e in events)
    missing = requests.get(f"{server.url}/zendesk/api/v2/tickets/1/audits.json", auth=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "RecordNotFound"


def test_search_by_type_time_and_text(server: SandboxServer) -> None:
    state = server.app.state.sandbox
    url = f"{server.url}/zendesk/api/v2/search.json"
    nobody = requests.get(
        url,
        auth=AUTH,
        params={"query": "type:user updated>2000-01-01T00:00:00Z updated<2000-01-02T00:00:00Z"},
    ).json()
    assert nobody["results"] == [] and nobody["count"] == 0
    user = next(iter(state.zendesk.users.values()))
    found = requests.get(url, auth=AUTH, params={"query": f"type:user {user['email']}"}).json()[
        "results"
    ]
    assert [(r["id"], r["result_type"]) for r in found] == [(user["id"], "user")]
    wrong = requests.get(url, auth=AUTH, params={"query": "type:spaceship"})
    assert wrong.status_code == 400


def test_ticket_metric_events_take_a_start_time_of_now(server: SandboxServer) -> None:
    """Its reference states no one-minute rule (the record exports' 422), so tap-zendesk's
    probe with the current second is answered, in the time-based export's shape."""
    url = f"{server.url}/zendesk/api/v2/incremental/ticket_metric_events.json"
    now = int(time.time())
    body = requests.get(url, auth=AUTH, params={"start_time": now}, timeout=10).json()
    assert body == {"ticket_metric_events": [], "count": 0, "end_time": now, "next_page": None}
    tickets = f"{server.url}/zendesk/api/v2/incremental/tickets/cursor.json"
    assert requests.get(tickets, auth=AUTH, params={"start_time": now}).status_code == 422
    assert requests.get(url, auth=AUTH).status_code == 400
