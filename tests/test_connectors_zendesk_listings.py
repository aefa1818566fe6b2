"""Zendesk: organisations and Jira links by cursor pagination, and listings between full
reads (the organisation export)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from builders import (
    ZENDESK,
    RecordedSleep,
    calls_to,
    cursor_page,
    export_page,
    freeze_now,
    query,
    sandbox_settings,
    script,
)
from zendesk_fixtures import (
    EXPORT,
    JIRA_LINKS,
    ORGANIZATION_EXPORT,
    ORGANIZATIONS,
    jira_link,
    organization,
    organization_export,
)

import connectors.zendesk.client
from connectors.base import DuplicatePageToken, ListingRead
from connectors.zendesk.client import TICKETS, ZendeskConnector

pytestmark = pytest.mark.mocked_site("zendesk_mock")


# -- organisations and Jira links: cursor pagination -----------------------------------------


LISTS = {
    "organizations": (ORGANIZATIONS, "organizations", "zendesk.organizations", organization),
    "jira_links": (
        JIRA_LINKS,
        "links",
        "zendesk.jira_links",
        lambda i: jira_link(i, 100 + i, "ANA-1"),
    ),
}
# Each list's `meta.after_cursor` for position n, and the `page[after]` sent back for it:
# organisations have opaque cursors; the Jira link list documents a URL whose page[after]
# is an integer, and that integer is what goes back.
CURSORS = {
    "organizations": lambda n: (f"a{n}", f"a{n}"),
    "jira_links": lambda n: (f"https://acme.zendesk.com/api/v2/jira/links?page[after]={n}", str(n)),
}


@pytest.mark.parametrize("stream", list(LISTS))
@pytest.mark.parametrize(
    ("pages", "afters"),
    [
        pytest.param([[1, 2]], [None], id="one-page"),
        pytest.param([[]], [None], id="nothing"),
        pytest.param([[1], [], [2, 3]], [1, 2, None], id="empty-page-with-has-more"),
    ],
)
def test_lists_follow_has_more_and_the_last_page_names_every_id(
    rsps, zendesk, stream, pages, afters
):
    """`meta.has_more` false is the end, not a short page; the last page's complete_ids is
    what the tool still has, so nothing it returned is pruned and nothing else survives."""
    url, key, stream_name, build = LISTS[stream]
    cursors = [None if n is None else CURSORS[stream](n) for n in afters]
    script(
        rsps,
        "GET",
        url,
        [
            cursor_page(key, [build(i) for i in ids], cursor and cursor[0])
            for ids, cursor in zip(pages, cursors, strict=True)
        ],
    )

    result = list(getattr(zendesk, stream)())

    assert [record.id for page in result for record in page.records] == [
        str(i) for ids in pages for i in ids
    ]
    assert all(page.stream == stream_name for page in result)
    assert all(page.complete_ids is None for page in result[:-1])
    assert result[-1].complete_ids == {str(i) for ids in pages for i in ids}
    requests = calls_to(rsps, url.removeprefix(ZENDESK))
    sent = [None] + [[cursor[1]] for cursor in cursors[:-1] if cursor]
    assert [query(r).get("page[after]") for r in requests] == sent
    largest = "100" if stream == "organizations" else "1000"  # each list's largest page
    assert all(query(r)["page[size]"] == [largest] for r in requests)


def test_organizations_keep_their_domains(rsps, zendesk):
    """Domains are how a Zendesk organisation meets its HubSpot company."""
    rsps.get(ORGANIZATIONS, json=cursor_page("organizations", [organization(1, "Acme.com ")], None))

    first, _ = list(zendesk.organizations())

    (account,) = first.records
    assert account.domains == ("acme.com",)
    assert account.name == "Org 1"


def test_jira_links_tie_a_ticket_to_an_issue_key(rsps, zendesk):
    """The Zendesk Jira app's own links are the strongest evidence a ticket asks for an issue."""
    rsps.get(JIRA_LINKS, json=cursor_page("links", [jira_link(5, 35436, "ANA-12")], None))

    first, _ = list(zendesk.jira_links())

    (link,) = first.records
    assert (link.id, link.record_id, link.issue_key) == ("5", "35436", "ANA-12")


def test_a_repeated_list_cursor_raises(rsps, zendesk):
    """has_more with the same after_cursor again would loop forever."""
    script(
        rsps,
        "GET",
        ORGANIZATIONS,
        [
            cursor_page("organizations", [organization(1)], "a1"),
            cursor_page("organizations", [organization(2)], "a1"),
        ],
    )

    with pytest.raises(DuplicatePageToken):
        list(zendesk.organizations())


# -- listings between full reads: what changed only ------------------------------------------


NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def listing_cursor(since: datetime, full_at: datetime, **extra: object) -> dict:
    return {"since": since.isoformat(), "full_at": full_at.isoformat(), **extra}


def pull_listings(zendesk: ZendeskConnector, saved: dict, full: bool = False) -> list:
    """The listing pages of one pull (the ticket export is answered empty)."""
    pages = list(zendesk.pull(saved.get, full=full))
    return [page for page in pages if page.stream != TICKETS]


def test_listings_are_read_in_full_then_only_what_changed(rsps, monkeypatch):
    """The first pull reads both listings in full (so the store can drop what is gone);
    the next reads organisations changed since the cursor, less the lookback, and links
    after the newest id seen; neither then claims to be complete."""
    freeze_now(monkeypatch, connectors.zendesk.client, NOW)
    zendesk = ZendeskConnector(sandbox_settings(lookback_minutes=5), sleep=RecordedSleep())
    rsps.get(EXPORT, json=export_page([], "c1", end_of_stream=True))
    rsps.get(ORGANIZATIONS, json=cursor_page("organizations", [organization(1)], None))
    script(
        rsps,
        "GET",
        JIRA_LINKS,
        [
            cursor_page("links", [jira_link(7, 100, "ANA-1"), jira_link(9, 101, "ANA-2")], None),
            cursor_page("links", [jira_link(12, 102, "ANA-3")], None),
        ],
    )
    changed = int((NOW - timedelta(minutes=30)).timestamp())
    rsps.get(ORGANIZATION_EXPORT, json=organization_export([organization(2)], changed, True))
    saved: dict = {}

    first = pull_listings(zendesk, saved)
    for page in first:
        if page.cursor is not None:
            saved[page.stream] = page.cursor
    assert {p.stream: p.complete_ids for p in first if p.complete_ids is not None} == {
        "zendesk.organizations": {"1"},
        "zendesk.jira_links": {"7", "9"},
    }
    assert saved["zendesk.jira_links"]["after_id"] == 9
    assert [p.cursor is not None for p in first] == [False, True, False, True]

    later = NOW + timedelta(hours=2)
    freeze_now(monkeypatch, connectors.zendesk.client, later)
    second = pull_listings(zendesk, saved)

    (export,) = calls_to(rsps, "/incremental/organizations.json")
    assert query(export)["start_time"] == [str(int((NOW - timedelta(minutes=5)).timestamp()))]
    assert query(calls_to(rsps, "/jira/links")[-1])["page[after]"] == ["9"]
    assert [r.id for p in second for r in p.records] == ["2", "12"]
    assert all(p.complete_ids is None for p in second)
    organizations = next(p for p in second if p.stream == "zendesk.organizations")
    # Everything up to a minute before the request is in the export.
    assert organizations.cursor["since"] == (later - timedelta(seconds=60)).isoformat()
    assert organizations.cursor["full_at"] == NOW.isoformat()


@pytest.mark.parametrize(
    ("full", "full_at_hours_ago", "reads_in_full"),
    [
        pytest.param(False, 1, False, id="within-the-period"),
        pytest.param(False, 25, True, id="period-over"),
        pytest.param(True, 1, True, id="full-sync"),
    ],
)
def test_listings_are_read_in_full_again_after_the_reconcile_period_or_on_full(
    rsps, monkeypatch, full, full_at_hours_ago, reads_in_full
):
    """Deletions show only in a full read: one comes every PMSYNC_RECONCILE_HOURS (24)
    and on --full, whatever the cursor says."""
    freeze_now(monkeypatch, connectors.zendesk.client, NOW)
    zendesk = ZendeskConnector(sandbox_settings(), sleep=RecordedSleep())
    rsps.assert_all_requests_are_fired = False  # a full read or a read of changes: not both
    rsps.get(EXPORT, json=export_page([], "c1", end_of_stream=True))
    rsps.get(ORGANIZATIONS, json=cursor_page("organizations", [organization(1)], None))
    rsps.get(ORGANIZATION_EXPORT, json=organization_export([], 0, end_of_stream=True))
    rsps.get(JIRA_LINKS, json=cursor_page("links", [], None))
    full_at = NOW - timedelta(hours=full_at_hours_ago)
    saved = {
        "zendesk.organizations": listing_cursor(NOW - timedelta(minutes=10), full_at),
        "zendesk.jira_links": listing_cursor(full_at, full_at, after_id=9),
    }

    pages = pull_listings(zendesk, saved, full=full)

    assert bool(calls_to(rsps, "/api/v2/organizations.json")) == reads_in_full
    assert bool(calls_to(rsps, "/incremental/organizations.json")) != reads_in_full
    links = calls_to(rsps, "/jira/links")
    assert ("page[after]" in query(links[0])) != reads_in_full
    complete = [p.stream for p in pages if p.complete_ids is not None]
    assert complete == (["zendesk.organizations", "zendesk.jira_links"] if reads_in_full else [])
    if reads_in_full:
        assert all(p.cursor["full_at"] == NOW.isoformat() for p in pages if p.cursor)


@pytest.mark.parametrize(
    ("answers", "expected_ids", "expected_starts"),
    [
        pytest.param([([1, 2], 500, True)], ["1", "2"], ["400"], id="one-page"),
        pytest.param([([], 400, True)], [], ["400"], id="nothing-changed"),
        pytest.param(
            [([1], 450, False), ([], 450, True)], ["1"], ["400", "450"],
            id="empty-last-page-at-the-same-time",
        ),
        pytest.param(
            [([1, 2], 450, False), ([2, 3], 470, True)], ["1", "2", "2", "3"], ["400", "450"],
            id="the-boundary-second-comes-twice",
        ),
    ],
)  # fmt: skip
def test_only_end_of_stream_ends_the_organization_export(
    rsps, zendesk, answers, expected_ids, expected_starts
):
    """The time-based export restarts each page at the last one's end_time (rows of that
    second come again, and the store's upsert makes that harmless); a short or empty page
    does not end it, only `end_of_stream` does."""
    script(
        rsps,
        "GET",
        ORGANIZATION_EXPORT,
        [
            organization_export([organization(i) for i in ids], end, eos)
            for ids, end, eos in answers
        ],
    )
    since = datetime.fromtimestamp(400, UTC)

    pages = list(zendesk.organizations(ListingRead(since, since)))

    assert [r.id for p in pages for r in p.records] == expected_ids
    starts = [query(c)["start_time"][0] for c in calls_to(rsps, "/incremental/organizations.json")]
    assert starts == expected_starts
    assert [p.cursor is not None for p in pages] == [False] * (len(pages) - 1) + [True]


def test_an_organization_export_that_cannot_move_on_raises(rsps, zendesk):
    """A page that is not the last but ends where it started (a full page of one second)
    would be served again and again."""
    script(
        rsps,
        "GET",
        ORGANIZATION_EXPORT,
        [organization_export([organization(1)], 400, end_of_stream=False)],
    )
    since = datetime.fromtimestamp(400, UTC)

    with pytest.raises(DuplicatePageToken):
        list(zendesk.organizations(ListingRead(since, since)))
