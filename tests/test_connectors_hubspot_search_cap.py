"""HubSpot: the deals search's 10,000 cap, passed by a (timestamp, id) position."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from builders import (
    RecordedSleep,
    body,
    calls_to,
    freeze_now,
    hubspot_deal,
    hubspot_page,
    record_ids,
    script,
)
from hubspot_fixtures import (
    SAME_TIMESTAMP,
    SEARCH,
    T1,
    T2,
    T3,
    TIES_QUERIES,
    connector,
    later,
    ties,
    ties_past_the_cap,
)

import connectors.hubspot.client
from connectors.hubspot.client import HubSpotConnector
from connectors.settings import Settings

pytestmark = pytest.mark.mocked_site("hubspot_mock")


# -- the 10,000 search cap: a (timestamp, id) position ---------------------------------------


@pytest.fixture
def small_cap(monkeypatch):
    """A cap of 4 and pages of 2: the same walk as 10,000 and 100, in a few requests."""
    monkeypatch.setattr(connectors.hubspot.client, "SEARCH_CAP", 4)
    return connector(page_size=2)


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

    assert record_ids(pages) == ["1", "2", "3", "4", "6", "5"]
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
    script(rsps, "POST", SEARCH, ties_past_the_cap(lambda i: hubspot_deal(int(i), T1)))

    pages = list(small_cap.deals(None))

    assert record_ids(pages) == SAME_TIMESTAMP
    assert queries(rsps)[2:] == TIES_QUERIES
    assert pages[-1].cursor == {"modified": "2024-05-01T09:00:00+00:00", "after_id": "9"}


def test_a_saved_position_inside_a_timestamp_resumes_after_its_id(rsps, companies_of):
    """A run that stopped among ties resumes after the last id it stored, then past the
    timestamp: nothing skipped, nothing read forever (lookback 0, as in the sandbox)."""
    script(rsps, "POST", SEARCH, [hubspot_page([hubspot_deal(7, T1)]), hubspot_page([])])
    saved = {"modified": "2024-05-01T09:00:00+00:00", "after_id": "65"}

    pages = list(connector().deals(saved))

    assert queries(rsps) == [ties(T1, "65"), later("GT", T1)]
    assert record_ids(pages) == ["7"]
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

    read = record_ids(pages)
    assert sorted(read) == sorted(planted)
    assert len(read) == len(set(read))
    assert pages[-1].cursor == {"modified": "2030-01-01T00:00:00+00:00", "after_id": "95"}
