"""Salesforce: what opportunities and accounts become, and accounts between full reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from builders import (
    RUN_START,
    SALESFORCE,
    query,
    record_ids,
    script,
    sf_account,
    sf_id,
    sf_opportunity,
    soql_page,
)
from salesforce_fixtures import (
    OPP,
    QUERIES,
    connector,
    opportunities,
    query_calls,
    soql_of,
)

import connectors.salesforce.client
from connectors.base import DuplicatePageToken
from connectors.salesforce.client import (
    SalesforceConnector,
)

pytestmark = pytest.mark.usefixtures("salesforce_run_start")


# -- what records become ---------------------------------------------------------------------


def test_an_opportunity_becomes_a_deal(rsps, tokens):
    """Closed and won come from Salesforce's flags, amounts stay exact, a close date is a
    day (midnight UTC), and the typed issue keys are split."""
    script(
        rsps,
        "GET",
        QUERIES,
        [
            soql_page(
                [
                    sf_opportunity(
                        1,
                        Amount=1500.5,
                        IsClosed=True,
                        IsWon=True,
                        StageName="Closed Won",
                        Probability=100.0,
                        Jira_Issue_Keys__c="ANA-1; ANA-2,ANA-3",
                    ),
                    sf_opportunity(2, Amount=None, AccountId=None, CloseDate=None),
                ]
            )
        ],
    )

    (page,) = opportunities(connector())

    one, two = page.records
    assert (one.amount, one.is_closed, one.is_won, one.stage) == (
        Decimal("1500.5"),
        True,
        True,
        "Closed Won",
    )
    assert one.probability == 1.0
    assert one.issue_keys == ("ANA-1", "ANA-2", "ANA-3")
    assert one.account_ids == (sf_id("001", 1),)
    assert one.close_date == datetime(2024, 6, 30, tzinfo=UTC)
    assert one.updated_at == datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)
    assert one.url == f"{SALESFORCE}/lightning/r/Opportunity/{OPP[1]}/view"
    assert (two.amount, two.account_ids, two.close_date) == (None, (), None)


def test_a_malformed_opportunity_goes_to_dead_letters(rsps, tokens):
    bad = sf_opportunity(2, SystemModstamp="2024-05-01T10:20:30")
    script(rsps, "GET", QUERIES, [soql_page([sf_opportunity(1), bad])])

    (page,) = opportunities(connector())

    assert record_ids([page]) == [OPP[1]]
    (dead,) = page.dead
    assert (dead.source, dead.kind, dead.record_id, dead.payload) == (
        "salesforce",
        "deal",
        OPP[2],
        bad,
    )


def test_accounts_are_read_in_full_with_their_website_as_domain(rsps, tokens):
    """Websites are how a Salesforce account meets the support tools' email domains;
    complete_ids drops accounts deleted in Salesforce."""
    script(rsps, "GET", QUERIES, [soql_page([sf_account(1, "www.Acme.com"), sf_account(2, None)])])
    sf = connector()
    sf.authenticate()

    first, last = list(sf.accounts())

    assert [(a.id, a.domains) for a in first.records] == [
        (sf_id("001", 1), ("acme.com",)),
        (sf_id("001", 2), ()),
    ]
    assert last.complete_ids == {sf_id("001", 1), sf_id("001", 2)}
    assert soql_of(query_calls(rsps)[0]) == (
        "SELECT Id, Name, Website, SystemModstamp FROM Account ORDER BY Id"
    )


# -- accounts between full reads: SystemModstamp from the listing's cursor -------------------

LAST_FULL = "2024-05-01T00:00:00+00:00"  # 12 hours before RUN_START, inside the default 24
ACCOUNT = [sf_id("001", n) for n in range(10)]


def listing_cursor(since: str, full_at: str = LAST_FULL) -> dict:
    return {"since": since, "full_at": full_at}


def account_at(number: int, modstamp: str) -> dict:
    return {**sf_account(number), "SystemModstamp": modstamp}


def pull_accounts(rsps, saved, answers, full=False, **settings) -> tuple[list, list]:
    """A pull whose opportunities (and their deletes) are empty: the accounts' pages and
    the account statements (the last two calls are the opportunities')."""
    script(rsps, "GET", QUERIES, [*answers, soql_page([]), soql_page([])])
    cursors = {"salesforce.accounts": saved}
    pages = list(connector(**settings).pull(cursors.get, full))
    accounts = [p for p in pages if p.stream.startswith("salesforce.accounts")]
    return accounts, [soql_of(c) for c in query_calls(rsps)[:-2] if "q" in query(c)]


def test_a_full_read_of_accounts_saves_the_listing_cursor_on_its_last_page(rsps, tokens):
    pages, statements = pull_accounts(
        rsps,
        None,
        [
            soql_page([sf_account(1)], "/services/data/v60.0/query/01g-2000"),
            soql_page([sf_account(2)]),
        ],
    )

    assert statements == ["SELECT Id, Name, Website, SystemModstamp FROM Account ORDER BY Id"]
    assert [p.cursor for p in pages[:-1]] == [None, None]
    assert pages[-1].complete_ids == {ACCOUNT[1], ACCOUNT[2]}
    assert pages[-1].cursor == listing_cursor(RUN_START.isoformat(), RUN_START.isoformat())


def test_between_full_reads_only_changed_and_deleted_accounts_are_queried(rsps, tokens):
    """Within PMSYNC_RECONCILE_HOURS of the last full read, one queryAll (an unquoted
    datetime literal: the cursor less the lookback, in (SystemModstamp, Id) order) names
    the accounts changed since, and those deleted since with IsDeleted = true; no
    complete_ids: a partial read must not prune what it did not ask about."""
    gone = {**account_at(4, "2024-05-01T11:10:00.000+0000"), "IsDeleted": True}
    pages, statements = pull_accounts(
        rsps,
        listing_cursor("2024-05-01T10:00:00+00:00"),
        [soql_page([{**account_at(3, "2024-05-01T11:00:00.000+0000"), "IsDeleted": False}, gone])],
        lookback_minutes=5,
    )

    assert statements == [
        "SELECT Id, Name, Website, SystemModstamp, IsDeleted FROM Account "
        "WHERE SystemModstamp >= 2024-05-01T09:55:00Z ORDER BY SystemModstamp, Id"
    ]
    assert "/services/data/v60.0/queryAll?" in query_calls(rsps)[0].request.url
    changed, last = pages
    assert record_ids([changed]) == [ACCOUNT[3]]
    assert changed.deleted_ids == [ACCOUNT[4]]
    assert all(p.complete_ids is None for p in pages)
    assert changed.cursor is None
    assert last.cursor == listing_cursor(RUN_START.isoformat())


@pytest.mark.parametrize(
    ("saved", "full"),
    [
        pytest.param(
            listing_cursor(LAST_FULL, "2024-04-30T11:59:00+00:00"), False, id="period-over"
        ),
        pytest.param(listing_cursor(LAST_FULL), True, id="full-sync"),
    ],
)
def test_accounts_are_read_in_full_again(rsps, tokens, saved, full):
    """Once PMSYNC_RECONCILE_HOURS have passed since the last full read, and on --full:
    deletions the recycle bin no longer holds still leave the store."""
    pages, statements = pull_accounts(rsps, saved, [soql_page([sf_account(1)])], full=full)

    assert statements == ["SELECT Id, Name, Website, SystemModstamp FROM Account ORDER BY Id"]
    assert pages[-1].complete_ids == {ACCOUNT[1]}
    assert pages[-1].cursor == listing_cursor(RUN_START.isoformat(), RUN_START.isoformat())


def changed_accounts(sf: SalesforceConnector) -> list:
    sf.authenticate()
    read = connectors.salesforce.client.ListingRead(datetime(2024, 5, 1, 9, tzinfo=UTC), RUN_START)
    return list(sf.accounts(read))


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(
            [soql_page([], "/services/data/v60.0/queryAll/01g-2000"), soql_page([sf_account(3)])],
            [ACCOUNT[3]],
            id="empty-batch-with-next",
        ),
        pytest.param(
            # Many accounts share one SystemModstamp across batches: the query's own
            # cursor, in (SystemModstamp, Id) order, serves each once.
            [
                soql_page([sf_account(1), sf_account(2)], "/services/data/v60.0/queryAll/01g-2"),
                soql_page([sf_account(3), sf_account(4)], "/services/data/v60.0/queryAll/01g-4"),
                soql_page([sf_account(5)]),
            ],
            [ACCOUNT[n] for n in range(1, 6)],
            id="many-on-one-timestamp",
        ),
    ],
)
def test_only_done_ends_the_changed_accounts(rsps, tokens, answers, expected):
    script(rsps, "GET", QUERIES, answers)

    pages = changed_accounts(connector())

    assert record_ids(pages) == expected
    assert [c.request.url.split("?")[0].split("/v60.0/")[1] for c in query_calls(rsps)] == [
        "queryAll",
        *[a["nextRecordsUrl"].split("/v60.0/")[1] for a in answers[:-1]],
    ]
    assert [p.cursor is not None for p in pages] == [False] * (len(pages) - 1) + [True]


def test_a_repeated_next_records_url_of_the_changed_accounts_raises(rsps, tokens):
    again = "/services/data/v60.0/queryAll/01g-2000"
    script(
        rsps, "GET", QUERIES, [soql_page([sf_account(1)], again), soql_page([sf_account(2)], again)]
    )

    with pytest.raises(DuplicatePageToken):
        changed_accounts(connector())
