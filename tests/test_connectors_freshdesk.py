"""Freshdesk: tickets by `updated_since` with `Link` paging and the 300-page cap, deleted
tickets as deletes, companies as accounts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from builders import (
    FRESHDESK,
    RUN_START,
    RecordedSleep,
    calls_to,
    freeze_now,
    freshdesk_ticket,
    next_link,
    query,
    sandbox_settings,
    script_replies,
)

import connectors.freshdesk.client
from connectors.base import DuplicatePageToken
from connectors.freshdesk.client import TICKETS, FreshdeskConnector, PageCapError
from connectors.http import ApiError

TICKETS_URL = f"{FRESHDESK}/api/v2/tickets"
COMPANIES_URL = f"{FRESHDESK}/api/v2/companies"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def run_start(monkeypatch):
    freeze_now(monkeypatch, connectors.freshdesk.client, RUN_START)


def connector(**settings) -> FreshdeskConnector:
    return FreshdeskConnector(sandbox_settings(**settings), sleep=RecordedSleep())


def ids(pages) -> list[str]:
    return [item.id for page in pages for item in page.records]


def page_url(n: int, since: str = "x") -> str:
    return f"{TICKETS_URL}?updated_since={since}&page={n}"


def listing(*pages: list[dict], start: int = 1) -> list[tuple[int, dict, list]]:
    """Replies for one listing: every page but the last links to the next."""
    return [
        (200, next_link(page_url(start + i + 1) if i < len(pages) - 1 else None), tickets)
        for i, tickets in enumerate(pages)
    ]


# -- the ticket listing ----------------------------------------------------------------------


def test_the_listing_asks_oldest_change_first_since_the_cursor_in_iso_z(rsps):
    """ISO 8601 with Z (a bare date-time is read in the account's zone), minus the lookback;
    basic auth is the API key with the password X."""
    script_replies(rsps, "GET", TICKETS_URL, listing([]))

    rsps.get(COMPANIES_URL, json=[])
    script_replies(rsps, "GET", TICKETS_URL, listing([]))  # the deleted tickets' listing

    list(connector(lookback_minutes=5).pull(lambda stream: "2024-05-01T10:20:30+00:00"))

    first, _deleted = calls_to(rsps, "/api/v2/tickets")
    assert query(first) == {
        "updated_since": ["2024-05-01T10:15:30Z"],
        "order_by": ["updated_at"],
        "order_type": ["asc"],
        "per_page": ["100"],
        "include": ["requester,description"],
    }
    expected = "Basic " + base64.b64encode(b"sandbox:X").decode()
    assert first.request.headers["Authorization"] == expected


def test_a_full_pull_lists_from_the_epoch(rsps):
    """Without updated_since Freshdesk lists only the last 30 days: a full pull would
    silently miss every older ticket."""
    rsps.get(COMPANIES_URL, json=[])
    script_replies(rsps, "GET", TICKETS_URL, listing([]) + listing([]))

    list(connector().pull(lambda stream: "2024-05-01T10:20:30+00:00", full=True))

    assert [query(c)["updated_since"] for c in calls_to(rsps, "/api/v2/tickets")] == [
        ["1970-01-01T00:00:00Z"],
        ["1970-01-01T00:00:00Z"],
    ]


@pytest.mark.parametrize(
    ("pages", "expected_ids"),
    [
        pytest.param([[1, 2]], ["1", "2"], id="no-link-ends"),
        pytest.param([[]], [], id="nothing"),
        pytest.param([[], [3]], ["3"], id="empty-page-with-link"),
        pytest.param([[1], [2], []], ["1", "2"], id="short-pages-with-link"),
    ],
)
def test_only_the_absence_of_a_next_link_ends_the_listing(rsps, pages, expected_ids):
    """Freshdesk's next page is named only by `Link: <...>; rel="next"`: a short or empty
    page is not the end, and the link is followed exactly as given."""
    script_replies(
        rsps, "GET", TICKETS_URL, listing(*[[freshdesk_ticket(i) for i in p] for p in pages])
    )

    result = list(connector().tickets(None, EPOCH))

    assert ids(result) == expected_ids
    requested = [c.request.url for c in calls_to(rsps, "/api/v2/tickets")]
    assert requested[1:] == [page_url(n) for n in range(2, len(pages) + 1)]


def test_a_repeated_next_link_raises(rsps):
    """Following the same link again would read the same page forever."""
    script_replies(
        rsps,
        "GET",
        TICKETS_URL,
        [
            (200, next_link(page_url(2)), [freshdesk_ticket(1)]),
            (200, next_link(page_url(2)), [freshdesk_ticket(2)]),
        ],
    )

    with pytest.raises(DuplicatePageToken):
        list(connector().tickets(None, EPOCH))

    assert len(calls_to(rsps, "/api/v2/tickets")) == 2


@pytest.mark.parametrize(
    ("saved", "updates", "expected"),
    [
        pytest.param(
            None,
            [["2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"]],
            ["2024-05-01T10:00:00+00:00"],
            id="newest-seen",
        ),
        pytest.param(
            None, [["2024-05-01T13:00:00Z"]], [RUN_START.isoformat()], id="capped-at-run-start"
        ),
        pytest.param(
            "2024-05-01T08:00:00+00:00", [[], []], ["2024-05-01T08:00:00+00:00"] * 2, id="empty"
        ),
        pytest.param(None, [[]], [None], id="empty-first-run-saves-nothing"),
    ],
)
def test_each_page_carries_the_newest_update_capped_at_run_start(rsps, saved, updates, expected):
    """The cursor is committed with each page; it never moves past the run's start."""
    number, pages = 0, []
    for second in updates:
        tickets = []
        for updated in second:
            number += 1
            tickets.append(freshdesk_ticket(number, updated))
        pages.append(tickets)
    script_replies(rsps, "GET", TICKETS_URL, listing(*pages))

    result = list(connector().tickets(saved, EPOCH))

    assert [page.cursor for page in result] == expected
    assert all(page.stream == TICKETS for page in result)


# -- the 300-page cap ------------------------------------------------------------------------


@pytest.fixture
def small_cap(monkeypatch):
    """A cap of 2 pages: the same walk as 300, in a few requests."""
    monkeypatch.setattr(connectors.freshdesk.client, "PAGE_CAP", 2)


T1, T2, T3 = "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"


def test_at_the_page_cap_the_listing_restarts_at_the_newest_update_without_duplicates(
    rsps, small_cap
):
    """Freshdesk refuses page 301: with a next link still on page 300, list again from the
    newest updated_at read and drop the tickets already read at that second."""
    script_replies(
        rsps,
        "GET",
        TICKETS_URL,
        [
            (200, next_link(page_url(2)), [freshdesk_ticket(1, T1), freshdesk_ticket(2, T2)]),
            (200, next_link(page_url(3)), [freshdesk_ticket(3, T2)]),  # the cap, with a link
            (200, next_link(page_url(2)), [freshdesk_ticket(2, T2), freshdesk_ticket(3, T2)]),
            (200, {}, [freshdesk_ticket(4, T2), freshdesk_ticket(5, T3)]),
        ],
    )

    result = list(connector().tickets(None, EPOCH))

    assert ids(result) == ["1", "2", "3", "4", "5"]
    requests = calls_to(rsps, "/api/v2/tickets")
    assert query(requests[2])["updated_since"] == [T2]
    assert "page" not in query(requests[2])
    assert requests[3].request.url == page_url(2)
    assert result[-1].cursor == "2024-05-01T11:00:00+00:00"


def test_a_listing_that_ends_on_the_cap_page_does_not_restart(rsps, small_cap):
    """Page 300 without a next link is simply the end."""
    script_replies(
        rsps, "GET", TICKETS_URL, listing([freshdesk_ticket(1, T1)], [freshdesk_ticket(2, T1)])
    )

    result = list(connector().tickets(None, EPOCH))

    assert ids(result) == ["1", "2"]
    assert len(calls_to(rsps, "/api/v2/tickets")) == 2


def test_more_tickets_on_one_second_than_the_cap_holds_raises_instead_of_looping(rsps, small_cap):
    """Restarting at a second that fills every page again can never move past it: say so
    plainly rather than read the same 300 pages forever."""
    script_replies(
        rsps,
        "GET",
        TICKETS_URL,
        [
            (200, next_link(page_url(2)), [freshdesk_ticket(1, T1), freshdesk_ticket(2, T1)]),
            (200, next_link(page_url(3)), [freshdesk_ticket(3, T1), freshdesk_ticket(4, T1)]),
        ],
    )

    with pytest.raises(PageCapError, match="2024-05-01T09:00:00Z"):
        list(connector().tickets(None, EPOCH))

    assert len(calls_to(rsps, "/api/v2/tickets")) == 2


# -- what a ticket becomes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "word"),
    [(2, "open"), (3, "pending"), (4, "resolved"), (5, "closed"), (6, "6"), (None, "")],
)
def test_statuses_become_words(rsps, status, word):
    """Freshdesk sends status numbers; 6 and up are an account's own, kept as numbers."""
    script_replies(rsps, "GET", TICKETS_URL, listing([freshdesk_ticket(1, status=status)]))

    (page,) = list(connector().tickets(None, EPOCH))

    assert page.records[0].status == word


def test_a_ticket_becomes_feedback_with_its_requester_and_company(rsps):
    """The requester (include=requester) and company decide which customer asked."""
    script_replies(
        rsps,
        "GET",
        TICKETS_URL,
        listing(
            [
                freshdesk_ticket(1, company_id=42, tags=["enterprise"]),
                freshdesk_ticket(2, description_text=None, description="<p>See <b>ANA-3</b></p>"),
            ]
        ),
    )

    (page,) = list(connector().tickets(None, EPOCH))

    one, two = page.records
    assert (one.requester_email, one.requester_name, one.account_id) == (
        "ann@acme.com",
        "Ann",
        "42",
    )
    assert (one.subject, one.body, one.tags) == ("Ticket 1", "Please add SSO", ("enterprise",))
    assert one.url == f"{FRESHDESK}/a/tickets/1"
    assert two.body == "See ANA-3"
    assert two.account_id is None


def test_a_malformed_ticket_goes_to_dead_letters(rsps):
    """One unreadable ticket must neither stop the listing nor be lost."""
    bad = freshdesk_ticket(2, updated_at="2024-05-01T10:20:30")
    script_replies(rsps, "GET", TICKETS_URL, listing([freshdesk_ticket(1), bad]))

    (page,) = list(connector().tickets(None, EPOCH))

    assert ids([page]) == ["1"]
    (dead,) = page.dead
    assert (dead.source, dead.kind, dead.record_id, dead.payload) == (
        "freshdesk",
        "feedback",
        "2",
        bad,
    )
    assert "time zone" in dead.reason


# -- deletes ---------------------------------------------------------------------------------


def test_deleted_tickets_are_listed_with_filter_deleted_and_become_deletes(rsps):
    """Deleted tickets leave the ordinary listing: only `filter=deleted` names them, and
    the store must drop them (with their links and demand)."""
    rsps.get(COMPANIES_URL, json=[])
    script_replies(
        rsps,
        "GET",
        TICKETS_URL,
        listing([freshdesk_ticket(1)])
        + listing([freshdesk_ticket(7, deleted=True)], [freshdesk_ticket(8, deleted=True)]),
    )

    pages = list(connector().pull(lambda stream: "2024-05-01T10:20:30+00:00"))

    deletes = [p for p in pages if p.deleted_ids]
    assert [i for p in deletes for i in p.deleted_ids] == ["7", "8"]
    assert all(p.cursor is None and p.records == [] for p in deletes)
    listings = [query(c) for c in calls_to(rsps, "/api/v2/tickets") if "filter" in query(c)]
    assert listings == [
        {
            "updated_since": ["2024-05-01T10:20:30Z"],
            "order_by": ["updated_at"],
            "order_type": ["asc"],
            "per_page": ["100"],
            "include": ["requester,description"],
            "filter": ["deleted"],
        }
    ]


def test_a_deleted_or_spam_ticket_in_the_ordinary_listing_is_a_delete(rsps):
    """Should the listing ever show one, it is nobody's demand."""
    script_replies(
        rsps,
        "GET",
        TICKETS_URL,
        listing(
            [freshdesk_ticket(1), freshdesk_ticket(2, deleted=True), freshdesk_ticket(3, spam=True)]
        ),
    )

    (page,) = list(connector().tickets(None, EPOCH))

    assert ids([page]) == ["1"]
    assert page.deleted_ids == ["2", "3"]


# -- companies -------------------------------------------------------------------------------


def company(company_id: int, *domains: str) -> dict:
    return {
        "id": company_id,
        "name": f"Company {company_id}",
        "domains": list(domains),
        "updated_at": "2024-05-01T10:20:30Z",
    }


def test_companies_follow_links_and_the_last_page_names_every_id(rsps):
    """Companies are read in full: complete_ids drops those Freshdesk no longer has."""
    next_url = f"{COMPANIES_URL}?per_page=100&page=2"
    script_replies(
        rsps,
        "GET",
        COMPANIES_URL,
        [(200, next_link(next_url), [company(1, "Acme.com")]), (200, {}, [company(2)])],
    )

    result = list(connector().companies())

    assert [(a.id, a.domains) for p in result for a in p.records] == [
        ("1", ("acme.com",)),
        ("2", ()),
    ]
    assert result[-1].complete_ids == {"1", "2"}
    assert calls_to(rsps, "/api/v2/companies")[1].request.url == next_url


def test_a_refused_deleted_listing_leaves_tickets_flowing(rsps):
    """An agent whose role cannot see the trash (403 on `filter=deleted`) still pulls every
    ticket; the run says deletions wait for a full sync."""

    def reply(request):
        if "filter=deleted" in request.url:
            return 403, {"Content-Type": "application/json"}, '{"code": "access_denied"}'
        return 200, {"Content-Type": "application/json"}, json.dumps([freshdesk_ticket(7)])

    rsps.add_callback("GET", TICKETS_URL, callback=reply)
    reader = connector()

    pages = list(reader.pull(lambda stream: None, listings=False))

    assert ids(pages) == ["7"]
    assert (
        list(reader.missing) == ["deleted_tickets"] and "403" in reader.missing["deleted_tickets"]
    )


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (["Acme.com", "www.acme.com", " acme.com "], ("acme.com",)),
        (["https://www.Beta.io/contact", ""], ("beta.io",)),
        ([], ()),
        (None, ()),
    ],
)
def test_company_domains_are_stored_as_domains(typed, stored):
    """People type domains as they like; a match on email domains needs them plain."""
    raw = {"id": 1, "name": "Acme", "domains": typed, "updated_at": "2024-05-01T10:00:00Z"}
    assert connectors.freshdesk.client.company_from_raw(raw, FRESHDESK).domains == stored


def test_a_200_without_a_list_fails_instead_of_closing_the_companies_listing(rsps):
    """A 200 with an error body must not read as the listing's (empty) end: that end
    removes every company the listing did not name."""
    rsps.get(COMPANIES_URL, json={"code": "access_denied", "message": "proxy says no"})

    with pytest.raises(ApiError, match="without a list|answered 200 with an error"):
        list(connector().companies())
