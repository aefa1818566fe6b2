"""HubSpot: companies as accounts, read in full and between full reads by search."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from builders import (
    HUBSPOT,
    body,
    calls_to,
    freeze_now,
    hubspot_company,
    hubspot_page,
    query,
    record_ids,
    script,
)
from hubspot_fixtures import (
    COMPANIES,
    DEALS_LIST,
    SAME_TIMESTAMP,
    SEARCH,
    T1,
    T2,
    T3,
    TIES_QUERIES,
    connector,
    later,
    ties_past_the_cap,
)

import connectors.hubspot.client
from connectors.base import DuplicatePageToken, ListingRead, parse_time

pytestmark = pytest.mark.mocked_site("hubspot_mock")


# -- companies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pages", "afters"),
    [
        pytest.param([[1, 2]], [None], id="one-page"),
        pytest.param([[]], [None], id="none"),
        pytest.param([[1], [], [2, 3]], ["a1", "a2", None], id="empty-page-with-next"),
    ],
)
def test_companies_page_through_and_the_last_page_names_every_id(rsps, pages, afters):
    """Companies are read in full: the final page's complete_ids lets the store drop
    companies HubSpot no longer has, and nothing it still has."""
    script(
        rsps,
        "GET",
        COMPANIES,
        [
            hubspot_page([hubspot_company(i, f"Company {i}", f"c{i}.com") for i in ids], after)
            for ids, after in zip(pages, afters, strict=True)
        ],
    )

    result = list(connector().companies())

    every = [str(i) for ids in pages for i in ids]
    assert [account.id for page in result for account in page.records] == every
    assert all(page.complete_ids is None for page in result[:-1])
    assert result[-1].complete_ids == set(every)
    requests = calls_to(rsps, "/objects/companies")
    assert [query(r).get("after") for r in requests] == [None] + [[a] for a in afters[:-1]]


def test_a_company_domain_becomes_the_accounts_domain(rsps):
    rsps.get(
        COMPANIES,
        json=hubspot_page(
            [hubspot_company(1, "Acme", "ACME.com"), hubspot_company(2, "Solo", None)]
        ),
    )

    first, _ = list(connector().companies())

    assert [(a.name, a.domains) for a in first.records] == [("Acme", ("acme.com",)), ("Solo", ())]


# -- companies between full reads: the search, from the listing's cursor ---------------------

COMPANY_SEARCH = f"{HUBSPOT}/crm/v3/objects/companies/search"
NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
LAST_FULL = "2024-05-02T00:00:00+00:00"  # 12 hours before NOW, inside the default 24


def company_at(company_id: int, modified: str) -> dict:
    raw = hubspot_company(company_id, f"Company {company_id}", f"c{company_id}.com")
    raw["properties"]["hs_lastmodifieddate"] = modified
    return raw


def listing_cursor(since: str, full_at: str = LAST_FULL) -> dict:
    return {"since": since, "full_at": full_at}


def pull_companies(rsps, monkeypatch, saved, full=False, **settings) -> list:
    """A pull at NOW whose deals and archived deals are empty: its companies' pages."""
    freeze_now(monkeypatch, connectors.hubspot.client, NOW)
    rsps.add("POST", SEARCH, json=hubspot_page([]))
    rsps.add("GET", DEALS_LIST, json=hubspot_page([]))
    cursors = {"hubspot.companies": saved}
    pages = list(connector(**settings).pull(cursors.get, full))
    return [p for p in pages if p.stream == "hubspot.companies"]


def company_queries(rsps) -> list[dict]:
    return [
        {k: v for k, v in body(c).items() if k in ("filterGroups", "sorts")}
        for c in calls_to(rsps, "/companies/search")
    ]


def test_a_full_read_of_companies_saves_the_listing_cursor_on_its_last_page(rsps, monkeypatch):
    """The first read is in full: complete_ids and the cursor both ride on the last page
    (a page's cursor is saved with it; an earlier one would claim the read was done)."""
    script(
        rsps,
        "GET",
        COMPANIES,
        [hubspot_page([company_at(1, T1)], after="a1"), hubspot_page([company_at(2, T2)])],
    )

    pages = pull_companies(rsps, monkeypatch, None)

    assert [p.cursor for p in pages[:-1]] == [None, None]
    assert pages[-1].complete_ids == {"1", "2"}
    assert pages[-1].cursor == {"since": NOW.isoformat(), "full_at": NOW.isoformat()}
    assert calls_to(rsps, "/companies/search") == []


def test_between_full_reads_only_changed_companies_are_searched(rsps, monkeypatch):
    """Within PMSYNC_RECONCILE_HOURS of the last full read, one search from the cursor less
    the lookback (epoch ms, GTE, oldest first, 200 a page) replaces the whole listing, and
    no complete_ids: a partial read must not prune what it did not ask about."""
    script(
        rsps,
        "POST",
        COMPANY_SEARCH,
        [
            hubspot_page(
                [company_at(3, "2024-05-02T11:00:00Z"), company_at(4, "2024-05-02T11:30:00Z")]
            )
        ],
    )

    pages = pull_companies(
        rsps, monkeypatch, listing_cursor("2024-05-02T10:00:00+00:00"), lookback_minutes=5
    )

    (search,) = calls_to(rsps, "/companies/search")
    assert company_queries(rsps) == [later("GTE", "2024-05-02T09:55:00Z")]
    assert body(search)["limit"] == 200
    assert body(search)["properties"] == ["name", "domain", "hs_lastmodifieddate"]
    assert calls_to(rsps, "/objects/companies") == []
    assert record_ids(pages) == ["3", "4"]
    assert all(p.complete_ids is None for p in pages)
    assert [p.cursor for p in pages[:-1]] == [None]
    # The index lags: the next read starts from the newest change seen, not the run's start.
    assert pages[-1].cursor == listing_cursor("2024-05-02T11:30:00+00:00")


def test_an_empty_company_search_keeps_the_listing_cursor(rsps, monkeypatch):
    """Nothing changed: the next read starts where this one did, not a lookback earlier
    (which would drift back a lookback each run)."""
    script(rsps, "POST", COMPANY_SEARCH, [hubspot_page([])])
    saved = listing_cursor("2024-05-02T10:00:00+00:00")

    pages = pull_companies(rsps, monkeypatch, saved, lookback_minutes=5)

    assert [p.records for p in pages] == [[], []]
    assert pages[-1].cursor == saved


@pytest.mark.parametrize(
    ("saved", "full"),
    [
        pytest.param(
            listing_cursor(LAST_FULL, "2024-05-01T11:59:00+00:00"), False, id="period-over"
        ),
        pytest.param(listing_cursor(LAST_FULL), True, id="full-sync"),
        pytest.param("2024-05-02T10:00:00+00:00", False, id="cursor-of-earlier-versions"),
    ],
)
def test_companies_are_read_in_full_again(rsps, monkeypatch, saved, full):
    """Once PMSYNC_RECONCILE_HOURS have passed since the last full read, on --full, and
    from a cursor this version did not write: deletions leave the store within the period."""
    rsps.add("GET", COMPANIES, json=hubspot_page([company_at(1, T1)]))

    pages = pull_companies(rsps, monkeypatch, saved, full=full)

    assert calls_to(rsps, "/companies/search") == []
    assert pages[-1].complete_ids == {"1"}
    assert pages[-1].cursor == {"since": NOW.isoformat(), "full_at": NOW.isoformat()}


def read_changed(since: str, **settings) -> list:
    saved = listing_cursor(since)
    read = ListingRead(parse_time(since), parse_time(LAST_FULL))
    return list(connector(**settings).companies(read, saved))


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(
            [hubspot_page([], after="200"), hubspot_page([company_at(3, T2)])],
            ["3"],
            id="empty-page-with-next",
        ),
        pytest.param(
            [hubspot_page([company_at(i, T1) for i in (1, 2)], after="2"), hubspot_page([])],
            ["1", "2"],
            id="short-page-with-next",
        ),
    ],
)
def test_only_an_absent_paging_next_ends_the_company_search(rsps, answers, expected):
    script(rsps, "POST", COMPANY_SEARCH, answers)

    pages = read_changed("2024-05-01T08:00:00+00:00")

    assert record_ids(pages) == expected
    assert [body(c).get("after") for c in calls_to(rsps, "/companies/search")] == [
        None,
        answers[0]["paging"]["next"]["after"],
    ]


def test_the_same_company_search_after_twice_raises(rsps):
    script(
        rsps,
        "POST",
        COMPANY_SEARCH,
        [
            hubspot_page([company_at(1, T1)], after="1"),
            hubspot_page([company_at(2, T1)], after="1"),
        ],
    )

    with pytest.raises(DuplicatePageToken, match="companies search"):
        read_changed("2024-05-01T08:00:00+00:00")


def test_more_changed_companies_on_one_timestamp_than_the_cap_are_each_read_once(rsps, monkeypatch):
    """The company search shares the deals' walk: at the cap inside one millisecond the
    ties go on by id (as a string, never id + 1), and the listing's cursor still waits for
    the last page."""
    monkeypatch.setattr(connectors.hubspot.client, "SEARCH_CAP", 4)
    script(rsps, "POST", COMPANY_SEARCH, ties_past_the_cap(lambda i: company_at(int(i), T1)))

    pages = read_changed("2024-05-01T08:00:00+00:00", page_size=2)

    assert record_ids(pages) == SAME_TIMESTAMP
    assert company_queries(rsps)[2:] == TIES_QUERIES
    assert all(p.cursor is None for p in pages[:-1])
    assert pages[-1].cursor == listing_cursor("2024-05-01T09:00:00+00:00")


def test_a_company_that_changes_while_the_search_pages_is_read_again_from_its_old_place(rsps):
    """`after` is an offset: company 1 changing mid-read moves to the end and company 4
    slides back over the page boundary, unserved. The search is read again from company
    1's old timestamp, so 4 is found before the listing's cursor is saved."""
    script(
        rsps,
        "POST",
        COMPANY_SEARCH,
        [
            hubspot_page([company_at(1, T1), company_at(2, T1)], after="2"),
            hubspot_page([company_at(3, T2), company_at(1, T3)]),  # 4 (at T1) was skipped
            hubspot_page([company_at(2, T1), company_at(4, T1), company_at(3, T2)], after="3"),
            hubspot_page([company_at(1, T3)]),
        ],
    )

    pages = read_changed("2024-05-01T08:00:00+00:00")

    assert "4" in record_ids(pages)
    assert company_queries(rsps)[2] == later("GTE", T1)
    assert all(p.cursor is None for p in pages[:-1])
    assert pages[-1].cursor == listing_cursor("2024-05-01T11:00:00+00:00")
