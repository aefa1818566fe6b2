"""HubSpot: deals through the search API (and its 10,000 cap), companies as accounts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses
from builders import (
    HUBSPOT,
    RecordedSleep,
    associations,
    body,
    calls_to,
    freeze_now,
    hubspot_company,
    hubspot_deal,
    hubspot_page,
    query,
    sandbox_settings,
    script,
)

import connectors.hubspot.client
from connectors.base import DuplicatePageToken, ListingRead, parse_time
from connectors.hubspot.client import ARCHIVED_DEALS, DEAL_PROPERTIES, DEALS, HubSpotConnector
from models import Deal, Settings
from sandbox.world import generate

SEARCH = f"{HUBSPOT}/crm/v3/objects/deals/search"
ASSOCIATIONS = f"{HUBSPOT}/crm/v4/associations/deals/companies/batch/read"
COMPANIES = f"{HUBSPOT}/crm/v3/objects/companies"
DEALS_LIST = f"{HUBSPOT}/crm/v3/objects/deals"


def ms(text: str) -> str:
    return str(int(datetime.fromisoformat(text).timestamp() * 1000))


@pytest.fixture
def rsps():
    """Answers nothing but the portal: every deal property exists and the account names no
    company currency (tests that say otherwise replace these, `portal`)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        names = [{"name": n} for n in connectors.hubspot.client.DEAL_PROPERTIES]
        mock.add("GET", f"{HUBSPOT}/crm/v3/properties/deals", json={"results": names})
        mock.add("GET", f"{HUBSPOT}/account-info/v3/details", json={"portalId": 1})
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
    """The cursor is readable JSON with both parts; a page ending at a timestamp resumes
    at it inclusively (deals sharing it may go on to the next page)."""
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

    expected = {"modified": "2024-05-01T10:00:00+00:00", "after_id": None}
    assert [page.cursor for page in pages] == [expected, expected]
    assert all(page.stream == DEALS for page in pages)


def test_the_cursor_never_passes_the_runs_start(rsps, companies_of, monkeypatch):
    """A deal modified after the run started may have neighbours not yet indexed: the
    saved position stops at the run's start and re-reads all of that moment."""
    freeze_now(monkeypatch, connectors.hubspot.client, datetime(2024, 5, 1, 10, 30, tzinfo=UTC))
    script(rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(1, "2024-05-01T11:00:00Z")])])

    (page,) = list(connector().deals(None))

    assert page.cursor == {"modified": "2024-05-01T10:30:00+00:00", "after_id": None}


def test_an_empty_search_keeps_the_saved_position(rsps, companies_of):
    """Nothing changed: the next run must resume exactly where this one started."""
    script(rsps, "POST", SEARCH, [hubspot_page([])])
    saved = {"modified": "2024-05-01T10:00:00+00:00", "after_id": None}

    (page,) = list(connector().deals(saved))

    assert page.cursor == saved


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


# -- the 10,000 search cap: a (timestamp, id) position ---------------------------------------


@pytest.fixture
def small_cap(monkeypatch):
    """A cap of 4 and pages of 2: the same walk as 10,000 and 100, in a few requests."""
    monkeypatch.setattr(connectors.hubspot.client, "SEARCH_CAP", 4)
    return connector(page_size=2)


T1, T2, T3 = "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"


def later(operator: str, when: str) -> dict:
    return {
        "filterGroups": [{"filters": [filter_("hs_lastmodifieddate", operator, ms(when))]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
    }


def ties(when: str, after_id: str | None = None) -> dict:
    filters = [filter_("hs_lastmodifieddate", "EQ", ms(when))]
    if after_id is not None:
        filters.append(filter_("hs_object_id", "GT", after_id))
    return {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
    }


def filter_(name: str, operator: str, value: str) -> dict:
    return {"propertyName": name, "operator": operator, "value": value}


def queries(rsps) -> list[dict]:
    """Each search's query, without the parts every search sends."""
    return [
        {k: v for k, v in body(c).items() if k in ("filterGroups", "sorts")}
        for c in calls_to(rsps, "/deals/search")
    ]


def test_at_the_cap_the_search_finishes_the_last_timestamp_by_id_then_moves_past_it(
    rsps, companies_of, small_cap
):
    """Paging past 10,000 answers 400. HubSpot's order among equal timestamps is not
    documented, so the deals at the last timestamp are read again sorted by id (those
    already read are dropped), then the search goes on strictly after that timestamp."""
    script(
        rsps,
        "POST",
        SEARCH,
        [
            # T2 is shared by deals on two pages; the next `after` (4) would cross the cap.
            hubspot_page([hubspot_deal(1, T1), hubspot_deal(2, T2)], after="2"),
            hubspot_page([hubspot_deal(3, T2), hubspot_deal(4, T2)], after="4"),
            # Ties at T2 by id: 2, 3, 4 read already, 6 is new.
            hubspot_page([hubspot_deal(2, T2), hubspot_deal(3, T2)], after="2"),
            hubspot_page([hubspot_deal(4, T2), hubspot_deal(6, T2)]),
            # After T2.
            hubspot_page([hubspot_deal(5, T3)]),
        ],
    )

    pages = list(small_cap.deals(None))

    assert deal_ids(pages) == ["1", "2", "3", "4", "6", "5"]
    assert queries(rsps) == [
        {"sorts": later("GT", T1)["sorts"]},
        {"sorts": later("GT", T1)["sorts"]},
        ties(T2),
        ties(T2),
        later("GT", T2),
    ]
    assert [body(s).get("after") for s in calls_to(rsps, "/deals/search")] == [
        None,
        "2",
        None,
        "2",
        None,
    ]
    assert [page.cursor for page in pages] == [
        {"modified": "2024-05-01T10:00:00+00:00", "after_id": None},
        {"modified": "2024-05-01T10:00:00+00:00", "after_id": None},
        {"modified": "2024-05-01T10:00:00+00:00", "after_id": "3"},
        {"modified": "2024-05-01T10:00:00+00:00", "after_id": "6"},
        {"modified": "2024-05-01T11:00:00+00:00", "after_id": None},
    ]


def test_more_deals_on_one_timestamp_than_the_cap_are_read_once_each_without_looping(
    rsps, companies_of, small_cap
):
    """Restarting at a timestamp that cannot advance used to loop (or give up): the id half
    of the position moves on instead, and the id is sent back as HubSpot compares it, as a
    string ("10" sorts before "9"), never as id + 1."""
    same = ["1", "10", "11", "2", "3", "9"]  # HubSpot's (string) id order
    deal = lambda i: hubspot_deal(int(i), T1)  # noqa: E731
    script(
        rsps,
        "POST",
        SEARCH,
        [
            hubspot_page([deal("1"), deal("10")], after="2"),
            hubspot_page([deal("11"), deal("2")], after="4"),  # capped at T1
            hubspot_page([deal("1"), deal("10")], after="2"),  # ties at T1 from the start
            hubspot_page([deal("11"), deal("2")], after="4"),  # capped again inside T1
            hubspot_page([deal("3"), deal("9")]),  # ties at T1 after "2"
            hubspot_page([]),  # after T1: nothing
        ],
    )

    pages = list(small_cap.deals(None))

    assert deal_ids(pages) == same
    assert queries(rsps)[2:] == [ties(T1), ties(T1), ties(T1, "2"), later("GT", T1)]
    assert pages[-1].cursor == {"modified": "2024-05-01T09:00:00+00:00", "after_id": "9"}


def test_a_saved_position_inside_a_timestamp_resumes_after_its_id(rsps, companies_of):
    """A run that stopped among ties resumes after the last id it stored, then past the
    timestamp: nothing skipped, nothing read forever (lookback 0, as in the sandbox)."""
    script(rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(7, T1)]), hubspot_page([])])
    saved = {"modified": "2024-05-01T09:00:00+00:00", "after_id": "65"}

    pages = list(connector().deals(saved))

    assert queries(rsps) == [ties(T1, "65"), later("GT", T1)]
    assert deal_ids(pages) == ["7"]
    assert pages[-1].cursor == {"modified": "2024-05-01T09:00:00+00:00", "after_id": "7"}


def test_a_lookback_resumes_before_the_timestamp_and_forgets_the_id(rsps, companies_of):
    """The lookback re-reads the index's lag window; the id part means nothing there."""
    script(rsps, "POST", SEARCH, [hubspot_page([])])
    saved = {"modified": "2024-05-01T09:00:00+00:00", "after_id": "65"}

    list(connector(lookback_minutes=5).deals(saved))

    assert queries(rsps) == [later("GTE", "2024-05-01T08:55:00Z")]


def test_a_cap_without_progress_raises(rsps, companies_of, small_cap):
    """A server that caps a query of ties without returning any cannot be walked."""
    script(
        rsps,
        "POST",
        SEARCH,
        [
            hubspot_page([hubspot_deal(1, T1)], after="2"),
            hubspot_page([hubspot_deal(2, T1)], after="4"),
            hubspot_page([], after="2"),
            hubspot_page([], after="4"),
        ],
    )

    with pytest.raises(RuntimeError, match="cap"):
        list(small_cap.deals(None))


def test_the_compound_cursor_against_the_sandbox_many_deals_on_one_timestamp(
    sandbox_url, monkeypatch
):
    """The sandbox compares and sorts hs_object_id as HubSpot does (strings) and refuses
    paging past its cap: with 13 deals on one millisecond, a cap of 4 and pages of 2, every
    deal is read exactly once and the search ends."""
    import requests

    import sandbox.hubspot

    monkeypatch.setattr(sandbox.hubspot, "SEARCH_CAP", 4)
    monkeypatch.setattr(connectors.hubspot.client, "SEARCH_CAP", 4)
    stamp = "2030-01-01T00:00:00.000Z"
    planted = [str(n) for n in (*range(90001, 90011), 9, 95, 900)]
    for deal_id in planted:
        raw = hubspot_deal(int(deal_id), stamp)
        raw["properties"]["hs_object_id"] = deal_id
        requests.post(
            f"{sandbox_url}/_sandbox/inject",
            json={"tool": "hubspot", "kind": "deal", "record": raw},
            timeout=30,
        ).raise_for_status()
    freeze_now(monkeypatch, connectors.hubspot.client, datetime(2031, 1, 1, tzinfo=UTC))
    settings = Settings.for_sandbox(sandbox_url, page_size=2)
    hubspot = HubSpotConnector(settings, sleep=RecordedSleep())
    saved = {"modified": "2029-12-31T23:59:59+00:00", "after_id": None}

    pages = list(hubspot.deals(saved))

    read = deal_ids(pages)
    assert sorted(read) == sorted(planted)
    assert len(read) == len(set(read))
    assert pages[-1].cursor == {"modified": "2030-01-01T00:00:00+00:00", "after_id": "95"}


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
    assert [a.id for p in pages for a in p.records] == ["3", "4"]
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


def changed_companies(pages) -> list[str]:
    return [a.id for p in pages for a in p.records]


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

    assert changed_companies(pages) == expected
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
    company = lambda i: company_at(int(i), T1)  # noqa: E731
    script(
        rsps,
        "POST",
        COMPANY_SEARCH,
        [
            hubspot_page([company("1"), company("10")], after="2"),
            hubspot_page([company("11"), company("2")], after="4"),  # capped at T1
            hubspot_page([company("1"), company("10")], after="2"),  # ties at T1
            hubspot_page([company("11"), company("2")], after="4"),  # capped inside T1
            hubspot_page([company("3"), company("9")]),  # ties at T1 after "2"
            hubspot_page([]),  # after T1: nothing
        ],
    )

    pages = read_changed("2024-05-01T08:00:00+00:00", page_size=2)

    assert changed_companies(pages) == ["1", "10", "11", "2", "3", "9"]
    assert company_queries(rsps)[2:] == [
        ties(T1),
        ties(T1),
        ties(T1, "2"),
        later("GT", T1),
    ]
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

    assert "4" in changed_companies(pages)
    assert company_queries(rsps)[2] == later("GTE", T1)
    assert all(p.cursor is None for p in pages[:-1])
    assert pages[-1].cursor == listing_cursor("2024-05-01T11:00:00+00:00")


# -- the portal: optional properties, the company currency, capabilities ------------------------

PROPERTIES = f"{HUBSPOT}/crm/v3/properties/deals"
DETAILS = f"{HUBSPOT}/account-info/v3/details"


def portal(rsps, names: list[str] | None, currency: str | None = "USD") -> None:
    """The Properties API (None: refused, the app lacks crm.schemas.deals.read) and the
    account details of a portal."""
    if names is None:
        rsps.replace(
            "GET", PROPERTIES, json={"status": "error", "category": "MISSING_SCOPES"}, status=403
        )
    else:
        rsps.replace("GET", PROPERTIES, json={"results": [{"name": n} for n in names]})
    rsps.replace("GET", DETAILS, json={"portalId": 1, "companyCurrency": currency})


def pull_deals(rsps, deals: list[dict], **settings) -> tuple[HubSpotConnector, list]:
    script(rsps, "POST", SEARCH, [hubspot_page(deals)])
    hub = connector(**settings)
    pages = list(hub.pull(lambda stream: None, listings=False))
    return hub, [d for p in pages for d in p.records]


def test_a_portal_without_jira_issue_keys_switches_the_feature_off_and_deals_flow(
    rsps, companies_of
) -> None:
    """The property is not asked for, the feature is reported off once with what to
    create, and the deals still arrive."""
    portal(rsps, ["dealname", "amount", "dealstage"])
    hub, deals = pull_deals(rsps, [hubspot_deal(1)])

    assert [d.id for d in deals] == ["1"]
    assert "create the deal property jira_issue_keys" in hub.missing["deal_issue_keys"]
    (search,) = calls_to(rsps, "/deals/search")
    assert "jira_issue_keys" not in body(search)["properties"]
    assert "amount_in_home_currency" in body(search)["properties"]


@pytest.mark.parametrize(
    "names", [["jira_issue_keys", "dealname"], None], ids=["exists", "unknown"]
)
def test_the_custom_property_is_read_when_it_exists_or_cannot_be_checked(
    rsps, companies_of, names
) -> None:
    """Without crm.schemas.deals.read nothing is known to be missing: the property is still
    asked for (HubSpot leaves out what does not exist) and no feature is reported off."""
    portal(rsps, names)
    hub, deals = pull_deals(rsps, [hubspot_deal(1, jira_issue_keys="ANA-1")])

    assert deals[0].issue_keys == ("ANA-1",)
    assert not hub.missing
    (search,) = calls_to(rsps, "/deals/search")
    assert "jira_issue_keys" in body(search)["properties"]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        pytest.param(
            {"amount": "1000", "deal_currency_code": "EUR", "amount_in_home_currency": "1080.00"},
            (Decimal("1080.00"), "USD"),
            id="multi-currency-uses-the-home-amount",
        ),
        pytest.param(
            {"amount": "1000", "deal_currency_code": None, "amount_in_home_currency": None},
            (Decimal("1000"), "USD"),
            id="single-currency-amount-is-home",
        ),
        pytest.param(
            {"amount": None, "deal_currency_code": "GBP", "amount_in_home_currency": None},
            (None, "USD"),
            id="no-amount",
        ),
    ],
)
def test_deals_are_summed_in_the_company_currency(rsps, companies_of, props, expected) -> None:
    portal(rsps, ["jira_issue_keys"], currency="USD")
    _, deals = pull_deals(rsps, [hubspot_deal(1, **props)])
    assert (deals[0].amount, deals[0].currency) == expected


def test_without_the_account_details_the_deals_own_currency_is_named(rsps, companies_of) -> None:
    """A single-currency portal whose currency could not be read: `amount` is in the deal's
    currency, so that one is named."""
    portal(rsps, ["jira_issue_keys"], currency=None)
    _, deals = pull_deals(rsps, [hubspot_deal(1, amount="70", deal_currency_code="GBP")])
    assert (deals[0].amount, deals[0].currency) == (Decimal("70"), "GBP")


@pytest.mark.parametrize(
    ("tenant", "missing"),
    [("full", set()), ("minimal", {"deal_issue_keys", "closing_notes"})],
)
def test_check_names_each_missing_hubspot_capability(tenant: str, missing: set[str]) -> None:
    """Against the sandbox over HTTP: a portal without the custom property and an app
    without the notes scopes show as missing features with what to change, never as a
    failed tool."""
    from flows.check import CAPABILITY_CHECKS
    from sandbox.server import start_sandbox

    with start_sandbox(seed=7, tenant=tenant) as server:
        found = CAPABILITY_CHECKS["hubspot"](Settings.for_sandbox(server.url))
    assert {c.name for c in found if not c.available} == missing
    details = {c.name: c.detail for c in found}
    assert "USD" in details["company_currency"]
    if missing:
        assert "crm.objects.contacts.write" in details["closing_notes"]
        assert "jira_issue_keys" in details["deal_issue_keys"]


def test_a_minimal_portal_pulls_every_deal_without_the_custom_property() -> None:
    from sandbox.server import start_sandbox

    with start_sandbox(seed=7, tenant="minimal") as server:
        hub = HubSpotConnector(Settings.for_sandbox(server.url))
        pages = list(hub.pull(lambda stream: None))
    deals = [d for p in pages if p.stream == DEALS for d in p.records]
    assert len(deals) == sum(d.crm == "hubspot" for d in generate(7).deals)
    assert set(hub.missing) == {"deal_issue_keys"}
    assert all(d.issue_keys == () and d.currency == "USD" for d in deals)


def test_a_deal_without_its_stages_probability_takes_the_default_pipelines() -> None:
    """HubSpot's default pipeline weighs its stages (qualifiedtobuy 40%); a deal that
    comes without `hs_deal_stage_probability` is weighed so, and a custom pipeline's stage
    (which HubSpot's defaults do not name) is not weighed at all."""
    from connectors.hubspot.records import deal_from_raw

    def deal(stage: str, probability: str | None = None) -> Deal:
        props = {"dealname": "D", "amount": "100", "dealstage": stage}
        props |= {"hs_lastmodifieddate": "2026-01-01T00:00:00Z"}
        if probability is not None:
            props["hs_deal_stage_probability"] = probability
        raw = {"id": "1", "properties": props, "updatedAt": "2026-01-01T00:00:00Z"}
        return deal_from_raw(raw, "https://api.hubapi.com", {})

    assert deal("qualifiedtobuy").probability == 0.4
    assert deal("qualifiedtobuy", "0.7").probability == 0.7
    assert deal("our-own-stage").probability is None
