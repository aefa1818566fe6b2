"""Zendesk's contract, from answers nobody on this project wrote (tests/contracts/zendesk,
each file's origin in its SOURCES.md): (a) every stream of the connector reads them into the
records a user relies on, and (b) the sandbox answers the same requests with the same keys
and types."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from builders import RecordedSleep, calls_to, query, sandbox_settings, script_replies

from connectors.base import ListingRead
from connectors.http import ApiError
from connectors.lookup import Lookup
from connectors.settings import Settings
from connectors.zendesk.client import TICKETS, ZendeskConnector
from flows.check import explain_failure
from sandbox.server import SandboxServer, start_sandbox
from tests.contracts.shapes import assert_same_shape, body, fixture

SITE = "https://acme.zendesk.com"
EXPORT = f"{SITE}/api/v2/incremental/tickets/cursor.json"
ORGANIZATIONS = f"{SITE}/api/v2/organizations.json"
ORGANIZATION_EXPORT = f"{SITE}/api/v2/incremental/organizations.json"
LINKS = f"{SITE}/api/v2/jira/links"


def zendesk_body(name: str) -> Any:
    return body("zendesk", name)


def reply(name: str) -> tuple[int, dict[str, str], Any]:
    """A fixture as a scripted reply: its recorded status and body."""
    found = fixture("zendesk", name)
    return found["status"], {}, found["body"]


@pytest.fixture
def settings() -> Settings:
    return sandbox_settings(zendesk_url=SITE)


@pytest.fixture
def zendesk(settings: Settings) -> ZendeskConnector:
    return ZendeskConnector(settings, sleep=RecordedSleep())


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- (a) the connector reads the vendor's answers ----------------------------------------------


def test_the_documented_ticket_export_reads_into_feedback(rsps, zendesk):
    """The reference example: one ticket, its times as aware UTC, the organisation as the
    account, the agent page as its URL, and the page's after_cursor to resume from."""
    script_replies(rsps, "GET", EXPORT, [reply("tickets_export_cursor")])

    (page,) = list(zendesk.tickets(None))

    (ticket,) = page.records
    assert (ticket.id, ticket.subject, ticket.body) == (
        "35436",
        "Help, my printer is on fire!",
        "The fire is very colorful.",
    )
    assert (ticket.status, ticket.tags, ticket.account_id) == (
        "open",
        ("enterprise", "other_tag"),
        "509974",
    )
    assert ticket.url == f"{SITE}/agent/tickets/35436"
    assert ticket.created_at == at("2009-07-20T22:55:29")
    assert ticket.updated_at == at("2011-05-05T10:38:52")
    assert ticket.requester_email is None  # no users sideloaded on this page
    assert page.cursor == "MTU3NjYxMzUzOS4wfHw0Njd8"
    assert page.dead == []


def test_a_two_page_export_with_real_accounts_edge_cases(rsps, zendesk):
    """Deleted tickets leave the store; a ticket by email from someone in no organization
    counts for no account but keeps its requester; an end user without email; null subject
    and description become empty text; non-ASCII and long text survive intact."""
    script_replies(
        rsps, "GET", EXPORT, [reply("tickets_export_page1"), reply("tickets_export_edge_cases")]
    )

    first, second = list(zendesk.tickets(None))

    assert [t.id for t in first.records] == ["35436"]
    assert second.deleted_ids == ["35437"]
    assert second.dead == []
    by_email, voice = second.records
    assert (by_email.id, by_email.account_id) == ("35438", None)
    assert (by_email.requester_email, by_email.requester_name) == (
        "integration-test+amberblanchard@airbyte.io",
        "AmberBlanchard",
    )
    assert (
        by_email.subject == "Impression en PDF : caractères accentués illisibles — 日本語も文字化け"
    )
    assert by_email.body.startswith("Bonjour,\n\nles PDF exportés remplacent « é »")
    assert len(by_email.body) > 9_000
    assert (voice.id, voice.subject, voice.body, voice.account_id) == ("35439", "", "", None)
    assert (voice.requester_email, voice.requester_name) == (None, "Zoë Ångström")
    assert voice.updated_at == at("2011-05-05T10:45:00")
    resumed = calls_to(rsps, "/cursor.json")[1]
    assert query(resumed)["cursor"] == ["MTU3NjYxMzUzOS4wfHw0Njd8"]
    assert [first.cursor, second.cursor] == [
        "MTU3NjYxMzUzOS4wfHw0Njd8",
        "MTMwNDU1MzkwMC4wfHwzNTQzOXw=",
    ]


def test_organizations_read_in_full_become_accounts(rsps, zendesk):
    """The organisation list: names, domains (how tickets meet CRM companies), the agent
    page, and on the last page every id (what is not named is gone)."""
    script_replies(rsps, "GET", ORGANIZATIONS, [reply("organizations_list_cursor")])

    first, last = list(zendesk.organizations())

    groablet, wonka = first.records
    assert (groablet.id, groablet.name, groablet.domains) == (
        "4112492",
        "Groablet Enterprises",
        ("remain.com",),
    )
    assert groablet.url == f"{SITE}/agent/organizations/4112492"
    assert groablet.updated_at == at("2018-11-14T00:54:22")
    assert (wonka.id, wonka.domains) == ("1873", ("test.com",))
    assert last.complete_ids == {"4112492", "1873"}


def test_changed_organizations_come_from_the_documented_export(rsps, zendesk):
    """Between full reads, the time-based export: its end_of_stream page ends the read and
    sets the cursor."""
    script_replies(rsps, "GET", ORGANIZATION_EXPORT, [reply("organizations_export")])
    since = datetime(2018, 11, 1, tzinfo=UTC)

    (page,) = list(zendesk.organizations(ListingRead(since, since)))

    (account,) = page.records
    assert (account.id, account.name, account.domains) == (
        "4112492",
        "Groablet Enterprises",
        ("remain.com",),
    )
    assert page.cursor is not None and page.complete_ids is None


def test_jira_links_follow_the_documented_cursor_and_skip_legacy_rows(rsps, zendesk):
    """`meta.after_cursor` is a URL whose page[after] (5000) is what goes back; the legacy
    row without an issue key is skipped, not a dead letter; each link opens its ticket."""
    script_replies(rsps, "GET", LINKS, [reply("jira_links"), reply("jira_links_legacy_rows")])

    first, second, last = list(zendesk.jira_links())

    (documented,) = first.records
    assert (documented.id, documented.record_id, documented.issue_key) == (
        "1234",
        "5000",
        "153425890A",
    )
    assert documented.url == f"{SITE}/agent/tickets/5000"
    assert documented.updated_at == at("2017-01-01T09:30:00")
    assert [(x.id, x.issue_key) for x in second.records] == [("5002", "TEST-5462")]
    assert first.dead == second.dead == []
    assert query(calls_to(rsps, "/jira/links")[1])["page[after]"] == ["5000"]
    assert last.complete_ids == {"1234", "5002"}
    assert last.cursor["after_id"] == 5002


def test_a_refused_link_list_leaves_the_rest_of_the_pull(rsps, zendesk):
    """Zendesk's 403 for an agent's token on the admin-only link list: organisations and
    tickets still arrive, and the run says what to change."""
    script_replies(rsps, "GET", ORGANIZATIONS, [reply("organizations_list_cursor")])
    script_replies(rsps, "GET", LINKS, [reply("error_forbidden")])
    script_replies(rsps, "GET", EXPORT, [reply("tickets_export_cursor")])

    pages = list(zendesk.pull(lambda stream: None))

    assert [r.id for p in pages if p.stream == TICKETS for r in p.records] == ["35436"]
    assert len([r for p in pages if p.stream == "zendesk.organizations" for r in p.records]) == 2
    assert not [p for p in pages if p.stream == "zendesk.jira_links"]
    assert "admin" in zendesk.missing["jira_links"]


def test_a_webhooks_ticket_is_read_back_with_its_requester(rsps, settings):
    """The recorded single-ticket answer carries no sideload: the requester is read from
    the user endpoint (recorded with `details`/`notes`/`alias` null)."""
    script_replies(rsps, "GET", f"{SITE}/api/v2/tickets/2251.json", [reply("ticket_show")])
    script_replies(rsps, "GET", f"{SITE}/api/v2/users/21311632247.json", [reply("user_show")])

    ticket = Lookup(settings).fetch("zendesk", "ticket", "2251")

    assert ticket is not None
    assert (ticket.id, ticket.subject, ticket.body, ticket.account_id) == (
        "2251",
        "subject",
        "show",
        "16180288347",
    )
    assert (ticket.requester_email, ticket.requester_name) == (
        "stupiddumb@facetoe.com.au",
        "Facetoe",
    )
    assert ticket.url == f"{SITE}/agent/tickets/2251"


def test_one_tickets_links_skip_the_legacy_row(rsps, zendesk):
    """A webhook's re-read of one ticket's links: the keyless row names no issue."""
    script_replies(rsps, "GET", LINKS, [reply("jira_links_legacy_rows")])

    links = zendesk.ticket_links("5001")

    assert [(x.id, x.issue_key) for x in links or []] == [("5002", "TEST-5462")]
    assert query(rsps.calls[0])["filter[ticket_id]"] == ["5001"]


def test_an_unknown_endpoint_says_which_setting_to_check(rsps, zendesk):
    """Zendesk's JSON 404 for a path it does not have (a wrong PMSYNC_ZENDESK_URL)."""
    script_replies(rsps, "GET", EXPORT, [reply("error_invalid_endpoint")])

    with pytest.raises(ApiError) as refused:
        list(zendesk.tickets(None))

    assert refused.value.status == 404
    assert "PMSYNC_ZENDESK_URL" in explain_failure("zendesk", refused.value)


# -- (b) the sandbox answers as the vendor does ------------------------------------------------

# fixture -> (tenant, params for the sandbox where the recorded ones name the vendor's data)
SANDBOX_ASKS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "tickets_export_cursor": ("full", None),
    "tickets_export_page1": ("full", None),
    "tickets_export_edge_cases": ("messy", {"start_time": 0, "include": "users"}),
    "users_export_cursor": ("full", None),
    "users_export_time": ("full", None),
    "users_export_end_user": ("messy", None),
    "organizations_export": ("full", None),
    "organizations_list": ("full", None),
    "organizations_list_cursor": ("full", None),
    "ticket_show": ("full", None),
    "user_show": ("full", None),
    "jira_links": ("full", None),
    "jira_links_legacy_rows": ("messy", {"page[after]": 0}),
    "error_invalid_endpoint": ("full", None),
    "error_forbidden": ("minimal", None),
}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, SandboxServer]]:
    started: dict[str, SandboxServer] = {}
    try:
        for tenant in ("full", "messy", "minimal"):
            started[tenant] = start_sandbox(seed=7, tenant=tenant)
        yield started
    finally:
        for server in started.values():
            server.stop()


def _sandbox_path(path: str, base: str) -> str:
    """The recorded path with the vendor's record ids swapped for the sandbox's own."""
    auth = ("demo@example.com/token", "sandbox")
    if path.startswith("/api/v2/tickets/"):
        export = requests.get(
            f"{base}/api/v2/incremental/tickets/cursor.json",
            params={"start_time": 0},
            auth=auth,
            timeout=30,
        ).json()
        live = next(t for t in export["tickets"] if t["status"] != "deleted")
        return f"/api/v2/tickets/{live['id']}.json"
    if path.startswith("/api/v2/users/"):
        users = requests.get(f"{base}/api/v2/users.json", auth=auth, timeout=30).json()
        return f"/api/v2/users/{users['users'][0]['id']}.json"
    return path


CUSTOM_FIELDS = ("organization_fields", "user_fields")


def _without_custom_field_names(value: Any) -> Any:
    """Custom field keys are each account's own (`org_field_1`, `user_date`): the sandbox
    must have the objects, not the documented account's field names."""
    if isinstance(value, list):
        return [_without_custom_field_names(item) for item in value]
    if isinstance(value, dict):
        return {
            k: {} if k in CUSTOM_FIELDS and isinstance(v, dict) else _without_custom_field_names(v)
            for k, v in value.items()
        }
    return value


@pytest.mark.parametrize("name", list(SANDBOX_ASKS))
def test_the_sandbox_answers_with_the_recorded_keys_and_types(name, sandboxes):
    recorded = fixture("zendesk", name)
    tenant, params = SANDBOX_ASKS[name]
    base = f"{sandboxes[tenant].url}/zendesk"
    ask = recorded["request"]
    served = requests.request(
        ask["method"],
        f"{base}{_sandbox_path(ask['path'], base)}",
        params=ask.get("params") if params is None else params,
        auth=("demo@example.com/token", "sandbox"),
        timeout=30,
    )
    assert served.status_code == recorded["status"]
    assert_same_shape(_without_custom_field_names(recorded["body"]), served.json())
