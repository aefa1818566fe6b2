"""Intercom and Freshdesk cannot list companies by change time: their listings are read in
full on the first pull, on --full and every PMSYNC_RECONCILE_HOURS, and not at all in
between; a company that pulled feedback names and the store lacks is read by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from builders import FRESHDESK, INTERCOM, calls_to, freeze_now, intercom_company, sandbox_settings

import connectors.freshdesk.client
import connectors.intercom.client
from connectors.freshdesk.client import FreshdeskConnector
from connectors.intercom.client import IntercomConnector
from connectors.settings import Settings
from flows.pipeline import pull_source
from models import RecordKind
from store import Store

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def freshdesk_company(company_id: int) -> dict[str, Any]:
    return {
        "id": company_id,
        "name": f"Co {company_id}",
        "domains": [f"co{company_id}.com"],
        "updated_at": "2024-05-01T10:00:00Z",
    }


def serve_listings(rsps: responses.RequestsMock) -> None:
    """Both tools with one company and no feedback changed."""
    scroll = f"{INTERCOM}/companies/scroll"
    company = intercom_company("c1", "Acme", "acme.com")
    rsps.get(scroll, json={"type": "list", "data": [company], "scroll_param": "s1"})
    rsps.get(scroll, json={"type": "list", "data": [], "scroll_param": "s1"})
    rsps.post(f"{INTERCOM}/conversations/search", json={"conversations": [], "pages": {}})
    rsps.get(f"{INTERCOM}/me", json={"type": "admin", "app": {"type": "app", "id_code": "a1"}})
    rsps.get(f"{FRESHDESK}/api/v2/companies", json=[freshdesk_company(1)])
    rsps.get(f"{FRESHDESK}/api/v2/tickets", json=[])


LISTINGS = {
    "intercom": (IntercomConnector, connectors.intercom.client, "/companies/scroll"),
    "freshdesk": (FreshdeskConnector, connectors.freshdesk.client, "/api/v2/companies"),
}


@pytest.mark.parametrize("tool", sorted(LISTINGS))
@pytest.mark.parametrize(
    ("full", "hours_since_full_read", "reads_in_full"),
    [
        pytest.param(False, None, True, id="first-pull"),
        pytest.param(False, 1, False, id="within-the-period"),
        pytest.param(False, 25, True, id="period-over"),
        pytest.param(True, 1, True, id="full-sync"),
    ],
)
def test_companies_are_listed_in_full_only_now_and_then(
    monkeypatch: pytest.MonkeyPatch,
    tool: str,
    full: bool,
    hours_since_full_read: int | None,
    reads_in_full: bool,
) -> None:
    """Reading every company on every sync was most of an incremental sync's requests;
    deletions, which only a full read shows, still leave the store within the period."""
    make, module, path = LISTINGS[tool]
    freeze_now(monkeypatch, module, NOW)
    saved: dict[str, Any] = {}
    if hours_since_full_read is not None:
        full_at = (NOW - timedelta(hours=hours_since_full_read)).isoformat()
        saved[f"{tool}.companies"] = {"since": full_at, "full_at": full_at}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        serve_listings(rsps)
        pages = list(make(sandbox_settings()).pull(saved.get, full=full))
        listed = bool(calls_to(rsps, path))

    assert listed == reads_in_full
    closing = [p for p in pages if p.complete_ids is not None and p.kind == "account"]
    if reads_in_full:
        (last,) = closing
        assert last.cursor["full_at"] == NOW.isoformat()  # saved with the page that ends it
    else:
        assert closing == []


def conversation_of_new_company(url: str, settings: Settings) -> str:
    """A conversation from a company Intercom just created; the company's id."""
    token = settings.intercom_access_token.get_secret_value()  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {token}"}
    found = requests.post(
        f"{url}/intercom/conversations/search",
        json={"query": {"field": "updated_at", "operator": ">", "value": 0}},
        headers=headers,
        timeout=30,
    ).json()["conversations"][0]
    company = {**intercom_company("9990001", "Brand New Ltd", "brandnew.example"), "updated_at": 1}
    inject(url, "intercom", "company", company)
    now = int(datetime.now(UTC).timestamp())
    conversation = {**found, "id": "8880001", "company_id": "9990001", "updated_at": now}
    inject(url, "intercom", "conversation", conversation)
    return "9990001"


def ticket_of_new_company(url: str, settings: Settings) -> str:
    key = settings.freshdesk_api_key.get_secret_value()  # type: ignore[union-attr]
    found = requests.get(
        f"{url}/freshdesk/api/v2/tickets",
        params={"updated_since": "2000-01-01T00:00:00Z", "per_page": 1},
        auth=(key, "X"),
        timeout=30,
    ).json()[0]
    inject(url, "freshdesk", "company", freshdesk_company(777001))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    inject(
        url, "freshdesk", "ticket", {**found, "id": 888001, "company_id": 777001, "updated_at": now}
    )
    return "777001"


def inject(url: str, tool: str, kind: str, record: dict[str, Any]) -> None:
    body = {"tool": tool, "kind": kind, "record": record}
    requests.post(f"{url}/_sandbox/inject", json=body, timeout=30).raise_for_status()


def company_requests(url: str, tool: str) -> dict[str, int]:
    counts = requests.get(f"{url}/_sandbox/requests", timeout=30).json()[tool]["routes"]
    return {route: n for route, n in counts.items() if "/companies" in route}


@pytest.mark.parametrize(
    ("tool", "plant", "by_id"),
    [
        ("intercom", conversation_of_new_company, "GET /companies/{id}"),
        ("freshdesk", ticket_of_new_company, "GET /api/v2/companies/{id}"),
    ],
)
def test_a_company_new_to_the_store_is_read_by_itself_between_full_listings(
    sandbox_url: str, settings: Settings, store: Store, tool: str, plant: Any, by_id: str
) -> None:
    """The feedback of a customer who just arrived counts for that customer at once, and a
    sync that meets no new company asks for none."""
    pull_source(settings, store, tool, full=True)
    pull_source(settings, store, tool, full=False)
    requests.delete(f"{sandbox_url}/_sandbox/requests", timeout=30)
    assert company_requests(sandbox_url, tool) == {}

    company = plant(sandbox_url, settings)
    pull_source(settings, store, tool, full=False)

    assert company_requests(sandbox_url, tool) == {by_id: 1}, "one read, no listing"
    (account,) = [a for a in store.records.load(RecordKind.ACCOUNT, source=tool) if a.id == company]
    assert account.name in {"Brand New Ltd", "Co 777001"}
    requests.delete(f"{sandbox_url}/_sandbox/requests", timeout=30)
    pull_source(settings, store, tool, full=False)  # the same feedback again, inside the lookback
    assert company_requests(sandbox_url, tool) == {}


def test_a_new_company_that_does_not_validate_goes_to_the_dead_letters(
    sandbox_url: str, settings: Settings, store: Store
) -> None:
    pull_source(settings, store, "intercom", full=True)
    company = conversation_of_new_company(sandbox_url, settings)
    inject(sandbox_url, "intercom", "company", {"type": "company", "id": company, "name": "X"})

    pulled = pull_source(settings, store, "intercom", full=False)
    stored, dead = pulled.stored, pulled.dead

    assert dead == 1 and stored >= 1  # the conversation is stored all the same
    (letter,) = [d for d in store.dead_letters.all() if d["kind"] == "account"]
    assert (letter["record_id"], letter["payload"]["name"]) == (company, "X")
    assert "updated_at" in letter["reason"]


def test_a_webhook_for_a_new_customers_conversation_reads_its_company(
    sandbox_url: str, settings: Settings, store: Store
) -> None:
    """The event path stores the conversation and its company as a sync would, so the
    issue it asks for counts the right customer within seconds."""
    from flows.events import handle
    from store.inbox import Delivery

    pull_source(settings, store, "intercom", full=True)
    company = conversation_of_new_company(sandbox_url, settings)
    event = {
        "topic": "conversation.user.created",
        "data": {"item": {"type": "conversation", "id": "8880001"}},
    }
    store.inbox.add("intercom", [Delivery("d-1", event)])
    (pending,) = store.inbox.claim()

    handle(settings, store, [pending.id])

    assert [f.account_id for f in store.records.load(RecordKind.FEEDBACK) if f.id == "8880001"] == [
        company
    ]
    assert [
        a.name for a in store.records.load(RecordKind.ACCOUNT, source="intercom") if a.id == company
    ] == ["Brand New Ltd"]
