"""HubSpot: deals through the search API (and its 10,000 cap), companies as accounts."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
import responses
from builders import (
    HUBSPOT,
    RecordedSleep,
    associations,
    body,
    calls_to,
    hubspot_company,
    hubspot_deal,
    hubspot_page,
    query,
    sandbox_settings,
    script,
)

import connectors.hubspot
from connectors.base import DuplicatePageToken
from connectors.hubspot import DEAL_PROPERTIES, DEALS, HubSpotConnector

SEARCH = f"{HUBSPOT}/crm/v3/objects/deals/search"
ASSOCIATIONS = f"{HUBSPOT}/crm/v4/associations/deals/companies/batch/read"
COMPANIES = f"{HUBSPOT}/crm/v3/objects/companies"


def ms(text: str) -> str:
    return str(int(datetime.fromisoformat(text).timestamp() * 1000))


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def companies_of(rsps) -> dict[str, list[int]]:
    """The associations batch read answers for whatever deals it is asked about; deals not
    named here have no company."""
    table: dict[str, list[int]] = {}

    def reply(request):
        asked = [item["id"] for item in json.loads(request.body)["inputs"]]
        answer = associations({i: table[i] for i in asked if i in table})
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    rsps.add_callback("POST", ASSOCIATIONS, callback=reply)
    return table


def connector(**settings) -> HubSpotConnector:
    return HubSpotConnector(sandbox_settings(**settings), sleep=RecordedSleep())


def deal_ids(pages) -> list[str]:
    return [deal.id for page in pages for deal in page.records]


def search_filters(call) -> list[dict]:
    return [f for group in body(call).get("filterGroups", []) for f in group["filters"]]


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


@pytest.mark.parametrize(
    ("answers", "expected_ids"),
    [
        pytest.param([hubspot_page([hubspot_deal(1)])], ["1"], id="no-paging-ends"),
        pytest.param([hubspot_page([])], [], id="nothing"),
        pytest.param(
            [hubspot_page([], after="2"), hubspot_page([hubspot_deal(3)])],
            ["3"],
            id="empty-page-with-next",
        ),
        pytest.param(
            [
                hubspot_page([hubspot_deal(1)], after="1"),
                hubspot_page([hubspot_deal(2)], after="2"),
                hubspot_page([]),
            ],
            ["1", "2"],
            id="short-pages-with-next",
        ),
    ],
)
def test_only_an_absent_paging_next_ends_the_search(rsps, companies_of, answers, expected_ids):
    """A short page is not the end; `paging.next.after` is sent back as `after`."""
    script(rsps, "POST", SEARCH, answers)

    pages = list(connector().deals(None))

    assert deal_ids(pages) == expected_ids
    searches = calls_to(rsps, "/deals/search")
    assert [body(s).get("after") for s in searches] == [None] + [
        a["paging"]["next"]["after"] for a in answers[:-1]
    ]


def test_the_same_after_twice_raises(rsps, companies_of):
    script(
        rsps,
        "POST",
        SEARCH,
        [hubspot_page([hubspot_deal(1)], after="1"), hubspot_page([hubspot_deal(2)], after="1")],
    )

    with pytest.raises(DuplicatePageToken):
        list(connector().deals(None))


def test_each_page_saves_the_newest_modification_as_cursor(rsps, companies_of):
    script(
        rsps,
        "POST",
        SEARCH,
        [
            hubspot_page(
                [hubspot_deal(1, "2024-05-01T09:00:00Z"), hubspot_deal(2, "2024-05-01T10:00:00Z")],
                after="2",
            ),
            hubspot_page([]),
        ],
    )

    pages = list(connector().deals(None))

    assert [page.cursor for page in pages] == ["2024-05-01T10:00:00+00:00"] * 2
    assert all(page.stream == DEALS for page in pages)


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


@pytest.mark.parametrize("amount", ["abc", "12,000", "$500"])
def test_a_non_number_amount_is_a_dead_letter(rsps, companies_of, amount):
    """A wrong amount would silently change revenue: keep the deal raw, with the reason."""
    bad = hubspot_deal(2, amount=amount)
    script(rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(1), bad])])

    (page,) = list(connector().deals(None))

    assert deal_ids([page]) == ["1"]
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


# -- the 10,000 search cap -------------------------------------------------------------------


@pytest.fixture
def small_cap(monkeypatch):
    """A cap of 4 and pages of 2: the same walk as 10,000 and 100, in a few requests."""
    monkeypatch.setattr(connectors.hubspot, "SEARCH_CAP", 4)
    return connector(page_size=2)


T1, T2, T3 = "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"


def test_near_the_cap_the_search_restarts_at_the_newest_time_without_duplicates(
    rsps, companies_of, small_cap
):
    """Paging past 10,000 answers 400: restart with GTE the newest time seen and drop the
    deals already read at that time, including those read on earlier pages."""
    script(
        rsps,
        "POST",
        SEARCH,
        [
            # First query: T2 is shared by deals on two pages; the next `after` (4) would
            # cross the cap.
            hubspot_page([hubspot_deal(1, T1), hubspot_deal(2, T2)], after="2"),
            hubspot_page([hubspot_deal(3, T2), hubspot_deal(4, T2)], after="4"),
            # Second query, GTE T2: HubSpot returns deals 2, 3, 4 again, then one new.
            hubspot_page([hubspot_deal(2, T2), hubspot_deal(3, T2)], after="2"),
            hubspot_page([hubspot_deal(4, T2), hubspot_deal(5, T3)]),
        ],
    )

    pages = list(small_cap.deals(None))

    assert deal_ids(pages) == ["1", "2", "3", "4", "5"]
    searches = calls_to(rsps, "/deals/search")
    assert [search_filters(s) for s in searches] == [
        [],
        [],
        [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": ms(T2)}],
        [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": ms(T2)}],
    ]
    assert [body(s).get("after") for s in searches] == [None, "2", None, "2"]
    assert pages[-1].cursor == "2024-05-01T11:00:00+00:00"


def test_more_deals_at_one_time_than_the_cap_raises_instead_of_looping(
    rsps, companies_of, small_cap
):
    """Restarting at a time that does not advance would read the same deals forever."""
    same = [hubspot_deal(i, T1) for i in range(1, 5)]
    script(
        rsps,
        "POST",
        SEARCH,
        [
            hubspot_page(same[:2], after="2"),
            hubspot_page(same[2:], after="4"),
            hubspot_page(same[:2], after="2"),
            hubspot_page(same[2:], after="4"),
        ],
    )

    with pytest.raises(RuntimeError, match="cap"):
        list(small_cap.deals(None))

    assert len(calls_to(rsps, "/deals/search")) == 4


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
