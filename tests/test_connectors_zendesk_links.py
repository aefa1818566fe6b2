"""Zendesk's Jira link list: documented "Allowed for Admins", so an agent's token is refused
(403) there and only there, which switches the links off and nothing else; its cursor is a
URL whose `page[after]` integer goes back; legacy rows without an issue key are skipped."""

from __future__ import annotations

import pytest
from builders import (
    ZENDESK,
    calls_to,
    cursor_page,
    export_page,
    query,
    sandbox_settings,
    script,
    script_replies,
    zendesk_ticket,
)
from zendesk_fixtures import EXPORT, JIRA_LINKS, ORGANIZATIONS, jira_link, organization

import connectors.zendesk.client
from connectors.base import DuplicatePageToken
from connectors.zendesk.client import TICKETS

pytestmark = pytest.mark.mocked_site("zendesk_mock")


FORBIDDEN = {
    "error": "Forbidden",
    "description": "You do not have access to this page. Please contact the account owner "
    "of this help desk for further help.",
}


def link_page(links: list[dict], after: int | None) -> dict:
    """A page of the Jira link list as documented: `meta.after_cursor` is a URL."""
    cursor = (
        None if after is None else f"https://acme.zendesk.com/api/v2/jira/links?page[after]={after}"
    )
    return {"links": links, "meta": {"has_more": after is not None, "after_cursor": cursor}}


def test_a_refused_link_list_leaves_tickets_and_organizations_flowing(rsps, zendesk):
    """An agent's token gets 403 on the admin-only Jira link list and nowhere else: the
    pull goes on with organisations and tickets, notes what to change, and neither prunes
    the stored links nor moves their cursor."""
    rsps.get(ORGANIZATIONS, json=cursor_page("organizations", [organization(1)], None))
    rsps.get(JIRA_LINKS, json=FORBIDDEN, status=403)
    rsps.get(EXPORT, json=export_page([zendesk_ticket(7)], "c1", end_of_stream=True))

    pages = list(zendesk.pull(lambda stream: None))

    assert [r.id for p in pages if p.stream == "zendesk.organizations" for r in p.records] == ["1"]
    assert [r.id for p in pages if p.stream == TICKETS for r in p.records] == ["7"]
    links = [p for p in pages if p.stream == "zendesk.jira_links"]
    assert links == [], "no page, so no complete_ids (nothing pruned) and no cursor moved"
    assert list(zendesk.missing) == ["jira_links"]
    assert "admin" in zendesk.missing["jira_links"]
    assert "PMSYNC_ZENDESK_API_TOKEN" in zendesk.missing["jira_links"]


def test_a_link_list_refused_after_its_first_page_prunes_nothing(rsps, zendesk):
    """Links read before the refusal are kept; the listing is not complete, so the store is
    not told that every other link is gone."""
    script_replies(
        rsps,
        "GET",
        JIRA_LINKS,
        [(200, {}, link_page([jira_link(5, 100, "ANA-1")], after=5)), (403, {}, FORBIDDEN)],
    )

    pages = list(zendesk.jira_links())

    assert [r.id for p in pages for r in p.records] == ["5"]
    assert all(p.complete_ids is None and p.cursor is None for p in pages)
    assert "jira_links" in zendesk.missing


def test_other_link_list_failures_still_fail_the_pull(rsps, zendesk):
    """Only a refusal switches the links off; a bad request is a bug to see."""
    rsps.get(JIRA_LINKS, json={"error": "InvalidPaginationParameter"}, status=400)

    with pytest.raises(connectors.zendesk.client.ApiError):
        list(zendesk.jira_links())
    assert not zendesk.missing


def test_the_link_list_cursor_url_sends_back_its_page_after_number(rsps, zendesk):
    """`meta.after_cursor` is a URL whose `page[after]` is an integer: sending the URL back
    made Zendesk refuse every account with more than one page of links."""
    script(
        rsps,
        "GET",
        JIRA_LINKS,
        [
            link_page([jira_link(5, 100, "ANA-1")], after=5000),
            link_page([jira_link(6, 101, "ANA-2")], after=None),
        ],
    )

    pages = list(zendesk.jira_links())

    assert [r.id for p in pages for r in p.records] == ["5", "6"]
    second = calls_to(rsps, "/jira/links")[1]
    assert query(second)["page[after]"] == ["5000"]
    assert pages[-1].complete_ids == {"5", "6"}


def test_a_cursor_without_a_page_after_cannot_move_on(rsps, zendesk):
    """has_more with a cursor that names no page would loop or guess: it raises."""
    rsps.get(
        JIRA_LINKS,
        json={
            "links": [jira_link(5, 100, "ANA-1")],
            "meta": {"has_more": True, "after_cursor": None},
        },
    )

    with pytest.raises(DuplicatePageToken):
        list(zendesk.jira_links())


def test_legacy_links_without_an_issue_key_are_skipped_not_dead_letters(rsps, zendesk):
    """Legacy rows carry `issue_key: null`: they name no issue, and a dead letter for each
    could never be replayed away. They still move the newest id seen."""
    keyless = {**jira_link(8, 102, "ANA-3"), "issue_key": None}
    rsps.get(JIRA_LINKS, json=link_page([jira_link(5, 100, "ANA-1"), keyless], after=None))

    first, last = list(zendesk.jira_links())

    assert [r.id for r in first.records] == ["5"]
    assert first.dead == []
    assert last.complete_ids == {"5"}
    assert last.cursor["after_id"] == 8


def test_a_tickets_links_are_read_with_the_documented_filter(rsps, zendesk):
    """One ticket's links, for a webhook: `filter[ticket_id]`, as documented; keyless rows
    skipped; each link's URL is its ticket's page, which a person can open."""
    keyless = {**jira_link(8, 35436, "ANA-3"), "issue_key": None}
    rsps.get(JIRA_LINKS, json=link_page([jira_link(5, 35436, "ANA-12"), keyless], after=None))

    links = zendesk.ticket_links("35436")

    assert [(link.id, link.issue_key) for link in links or []] == [("5", "ANA-12")]
    assert query(rsps.calls[0])["filter[ticket_id]"] == ["35436"]
    assert links and links[0].url == f"{ZENDESK}/agent/tickets/35436"


def test_a_refused_ticket_link_list_says_nothing_about_the_links(rsps, zendesk):
    """None (not an empty list): the caller keeps the links it has."""
    rsps.get(JIRA_LINKS, json=FORBIDDEN, status=403)

    assert zendesk.ticket_links("35436") is None
    assert "jira_links" in zendesk.missing


@pytest.mark.parametrize(
    ("status", "available", "says"),
    [(200, True, "read"), (403, False, "admin"), (404, False, "integration")],
)
def test_check_probes_the_link_list_with_one_cheap_call(rsps, status, available, says):
    """`pmsync check` shows the Jira links as available or missing, with what to change."""
    answer = link_page([], after=None) if status == 200 else {"error": "x", "description": "y"}
    rsps.get(JIRA_LINKS, json=answer, status=status)
    rsps.get(f"{ZENDESK}/api/v2/users/me.json", json={"user": {"id": 1, "role": "admin"}})

    capability, notes = connectors.zendesk.client.capabilities(sandbox_settings())

    assert (capability.tool, capability.name, capability.available) == (
        "zendesk",
        "jira_links",
        available,
    )
    assert says in capability.detail
    links = [c for c in rsps.calls if "jira/links" in c.request.url]
    assert len(links) == 1 and query(links[0])["page[size]"] == ["1"]
    assert (notes.name, notes.available) == ("closing_notes", True)
