"""HubSpot: deals through the search API, and archived deals as deletes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from builders import (
    body,
    calls_to,
    hubspot_deal,
    hubspot_page,
    query,
    record_ids,
    script,
)
from hubspot_fixtures import COMPANIES, DEALS_LIST, SEARCH, connector, ms, search_filters

from connectors.hubspot.client import ARCHIVED_DEALS, DEAL_PROPERTIES, DEALS

pytestmark = pytest.mark.mocked_site("hubspot_mock")


# -- the deals search ------------------------------------------------------------------------


def test_the_search_filters_on_last_modified_gte_epoch_ms(rsps, companies_of):
    """HubSpot filters take epoch ms; GTE (not GT) so deals sharing the cursor's
    millisecond are not skipped; the lookback covers the search index's lag."""
    script(rsps, "POST", SEARCH, [hubspot_page([])])

    list(connector(lookback_minutes=5).deals("2024-05-01T10:20:30+00:00"))

    (search,) = calls_to(rsps, "/deals/search")
    assert search_filters(search) == [
        {
            "propertyName": "hs_lastmodifieddate",
            "operator": "GTE",
            "value": ms("2024-05-01T10:15:30+00:00"),
        }
    ]
    sent = body(search)
    assert sent["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert sent["properties"] == DEAL_PROPERTIES
    assert "after" not in sent


def test_without_a_cursor_every_deal_is_searched(rsps, companies_of):
    script(rsps, "POST", SEARCH, [hubspot_page([])])

    list(connector().deals(None))

    (search,) = calls_to(rsps, "/deals/search")
    assert "filterGroups" not in body(search)


# Only an absent `paging.next` ends the search, a repeated `after` raises, and each page
# saves the newest modification, never past the run's start: test_cursor_pages.py.


def test_associations_map_deals_to_their_companies(rsps, companies_of):
    """Search results carry no associations: a deal's customers come from the batch read."""
    companies_of.update({"1": [100], "2": [100, 200]})
    script(
        rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(1), hubspot_deal(2), hubspot_deal(3)])]
    )

    (page,) = list(connector().deals(None))

    assert {deal.id: deal.account_ids for deal in page.records} == {
        "1": ("100",),
        "2": ("100", "200"),
        "3": (),
    }
    (batch,) = calls_to(rsps, "/batch/read")
    assert body(batch) == {"inputs": [{"id": "1"}, {"id": "2"}, {"id": "3"}]}


def test_an_empty_page_asks_for_no_associations(rsps, companies_of):
    script(rsps, "POST", SEARCH, [hubspot_page([])])

    list(connector().deals(None))

    assert calls_to(rsps, "/batch/read") == []


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("", None), (None, None), ("1500.50", Decimal("1500.50")), ("0", Decimal(0))],
)
def test_amounts(rsps, companies_of, amount, expected):
    """HubSpot sends every property as a string; an empty amount is unknown, not zero."""
    script(rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(1, amount=amount)])])

    (page,) = list(connector().deals(None))

    assert page.records[0].amount == expected


@pytest.mark.parametrize("home", [None, "100.00"], ids=["single-currency", "with-home-amount"])
@pytest.mark.parametrize("amount", ["abc", "12,000", "$500"])
def test_a_non_number_amount_is_a_dead_letter(rsps, companies_of, amount, home):
    """A wrong amount would silently change revenue: keep the deal raw, with the reason,
    even when the home-currency amount beside it reads."""
    bad = hubspot_deal(2, amount=amount, amount_in_home_currency=home)
    script(rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(1), bad])])

    (page,) = list(connector().deals(None))

    assert record_ids([page]) == ["1"]
    (dead,) = page.dead
    assert (dead.source, dead.kind, dead.record_id) == ("hubspot", "deal", "2")
    assert amount in dead.reason
    assert dead.payload == bad


@pytest.mark.parametrize(
    ("closed", "won", "stage", "expected"),
    [
        ("true", "true", "contractsigned", (True, True)),
        ("true", "false", "lostinreview", (True, False)),
        ("false", "false", "closedwon", (False, False)),
        ("TRUE", "True", "x", (True, True)),
        (None, None, "closedwon", (True, True)),
        (None, None, "closedlost", (True, False)),
        (None, None, "appointmentscheduled", (False, False)),
    ],
)
def test_closed_and_won_come_from_hubspots_flags(rsps, companies_of, closed, won, stage, expected):
    """Custom pipelines name stages freely: the flags decide, the stage only when absent."""
    raw = hubspot_deal(1, dealstage=stage)
    for name, value in (("hs_is_closed", closed), ("hs_is_closed_won", won)):
        if value is None:
            del raw["properties"][name]
        else:
            raw["properties"][name] = value
    script(rsps, "POST", SEARCH, [hubspot_page([raw])])

    (page,) = list(connector().deals(None))

    deal = page.records[0]
    assert (deal.is_closed, deal.is_won) == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("ANA-1;ANA-2", ("ANA-1", "ANA-2")),
        ("ANA-1, ANA-2,ANA-3", ("ANA-1", "ANA-2", "ANA-3")),
        (" ANA-1 ;; ,ANA-2; ", ("ANA-1", "ANA-2")),
        ("", ()),
        (None, ()),
    ],
)
def test_jira_issue_keys_are_split_on_semicolons_and_commas(rsps, companies_of, field, expected):
    """Sales types the keys by hand, separated however they like."""
    script(rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(1, jira_issue_keys=field)])])

    (page,) = list(connector().deals(None))

    assert page.records[0].issue_keys == expected


# -- archived deals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pages", "afters"),
    [
        pytest.param([[7, 8]], [None], id="one-page"),
        pytest.param([[]], [None], id="none"),
        pytest.param([[7], [], [8]], ["a1", "a2", None], id="empty-page-with-next"),
    ],
)
def test_archived_deals_become_deletes(rsps, pages, afters):
    """Archiving is HubSpot's delete: the deal leaves search, so only the archived list
    tells the store (and the demand on the Jira ticket) that it is gone."""
    script(
        rsps,
        "GET",
        DEALS_LIST,
        [
            hubspot_page([dict(hubspot_deal(i), archived=True) for i in ids], after)
            for ids, after in zip(pages, afters, strict=True)
        ],
    )

    result = list(connector().archived_deals())

    assert [i for page in result for i in page.deleted_ids] == [
        str(i) for ids in pages for i in ids
    ]
    assert all(page.records == [] and page.kind == "deal" for page in result)
    requests = calls_to(rsps, "/objects/deals")
    assert all(query(r)["archived"] == ["true"] for r in requests)
    assert [query(r).get("after") for r in requests] == [None] + [[a] for a in afters[:-1]]


def test_a_pull_reads_companies_deals_then_archived_deals(rsps, companies_of):
    """Archived deals come last, so a deal archived during the run still leaves."""
    rsps.get(COMPANIES, json=hubspot_page([]))
    script(rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(1)])])
    rsps.get(DEALS_LIST, json=hubspot_page([dict(hubspot_deal(1), archived=True)]))

    pages = list(connector().pull(lambda stream: None))

    assert [p.stream for p in pages] == [
        "hubspot.companies",
        "hubspot.companies",
        DEALS,
        ARCHIVED_DEALS,
    ]
    assert pages[-1].deleted_ids == ["1"]
