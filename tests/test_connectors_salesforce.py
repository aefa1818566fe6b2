"""Salesforce: OAuth client credentials, SOQL with a (SystemModstamp, Id) cursor followed
through `nextRecordsUrl`, the daily request limit, deleted records via queryAll, and the
org's schema (describe): only fields it has are selected, the rest noted missing, amounts
converted in a multi-currency org."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import responses
from builders import (
    SALESFORCE,
    RecordedSleep,
    freeze_now,
    query,
    sandbox_settings,
    script_replies,
    sf_account,
    sf_id,
    sf_opportunity,
    soql_page,
)

import connectors.salesforce.client
from connectors.base import DuplicatePageToken
from connectors.http import AuthError
from connectors.salesforce.client import (
    OPPORTUNITIES,
    DailyLimitExceeded,
    SalesforceConnector,
)

TOKEN_URL = f"{SALESFORCE}/services/oauth2/token"
QUERIES = re.compile(rf"{re.escape(SALESFORCE)}/services/data/v60\.0/query.*")
DESCRIBES = re.compile(rf"{re.escape(SALESFORCE)}/services/data/v60\.0/sobjects/(\w+)/describe")
SECRET = "sf-Secret-8c0e7f3a9c1e5b2d4f6a"
RUN_START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STAMP = "2024-05-01T10:20:30.000+0000"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def run_start(monkeypatch):
    freeze_now(monkeypatch, connectors.salesforce.client, RUN_START)


def full_org() -> dict[str, dict[str, str]]:
    """object -> field -> describe type: an org with every field pmsync reads."""
    return {
        "Opportunity": {
            "Id": "id",
            "Name": "string",
            "Amount": "currency",
            "StageName": "picklist",
            "Probability": "percent",
            "CloseDate": "date",
            "AccountId": "reference",
            "IsClosed": "boolean",
            "IsWon": "boolean",
            "Jira_Issue_Keys__c": "string",
            "SystemModstamp": "datetime",
        },
        "Account": {
            "Id": "id",
            "Name": "string",
            "Website": "url",
            "AnnualRevenue": "currency",
            "SystemModstamp": "datetime",
        },
    }


@pytest.fixture
def org(rsps) -> dict[str, dict[str, str]]:
    """The describe endpoints answer from this (tests change it before the pull)."""
    fields = full_org()

    def reply(request):
        sobject = DESCRIBES.match(request.url).group(1)
        answer = {
            "name": sobject,
            "fields": [{"name": n, "type": t} for n, t in fields.get(sobject, {}).items()],
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    rsps.add_callback("GET", DESCRIBES, callback=reply)
    return fields


@pytest.fixture
def tokens(rsps, org) -> list[str]:
    """The token endpoint: each call issues the next token and names the instance."""
    issued: list[str] = []

    def reply(request):
        issued.append(f"tok{len(issued) + 1}")
        answer = {
            "access_token": issued[-1],
            "instance_url": SALESFORCE,
            "token_type": "Bearer",
            "issued_at": "1714558830000",
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    rsps.add_callback("POST", TOKEN_URL, callback=reply)
    return issued


def connector(sleep=None, **settings) -> SalesforceConnector:
    settings.setdefault("salesforce_client_secret", SECRET)
    return SalesforceConnector(sandbox_settings(**settings), sleep=sleep or RecordedSleep())


def opportunities(sf: SalesforceConnector, saved=None) -> list:
    sf.authenticate()
    return list(sf.opportunities(connectors.salesforce.client.Position.read(saved)))


def soql_of(call) -> str:
    return query(call)["q"][0]


def query_calls(rsps) -> list:
    return [c for c in rsps.calls if QUERIES.match(c.request.url)]


def ok(body, headers=None) -> tuple[int, dict, object]:
    return 200, headers or {}, body


def ids(pages) -> list[str]:
    return [r.id for page in pages for r in page.records]


OPP = [sf_id("006", n) for n in range(10)]  # the opportunities' ids, by number


# -- OAuth client credentials ----------------------------------------------------------------


def test_the_token_is_fetched_once_per_run_with_the_secret_only_in_the_body(rsps, tokens):
    """Client credentials: one token for every query of the run; the secret travels in
    the form body, never in a URL that logs and proxies keep."""
    script_replies(
        rsps,
        "GET",
        QUERIES,
        [
            ok(soql_page([sf_account(1)])),
            ok(soql_page([sf_opportunity(1)], "/services/data/v60.0/query/01g-2000")),
            ok(soql_page([sf_opportunity(2)])),
            ok(soql_page([])),
        ],
    )

    pages = list(connector().pull(lambda stream: None))

    assert tokens == ["tok1"]
    (token_call,) = [c for c in rsps.calls if c.request.url == TOKEN_URL]
    assert parse_qs(token_call.request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": ["demo@example.com"],
        "client_secret": [SECRET],
    }
    assert all(SECRET not in c.request.url for c in rsps.calls)
    assert all(c.request.headers["Authorization"] == "Bearer tok1" for c in query_calls(rsps))
    assert ids(pages) == [sf_id("001", 1), OPP[1], OPP[2]]


def test_an_expired_session_fetches_a_new_token_once_and_retries(rsps, tokens):
    """Sessions expire mid-run (401 INVALID_SESSION_ID): renew once and go on."""
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    script_replies(rsps, "GET", QUERIES, [(401, {}, expired), ok(soql_page([sf_opportunity(1)]))])

    pages = opportunities(connector())

    assert tokens == ["tok1", "tok2"]
    assert [c.request.headers["Authorization"] for c in query_calls(rsps)] == [
        "Bearer tok1",
        "Bearer tok2",
    ]
    assert ids(pages) == [OPP[1]]


def test_a_session_refused_again_after_renewal_fails_instead_of_looping(rsps, tokens):
    """One renewal, not a loop that hammers the token endpoint."""
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    script_replies(rsps, "GET", QUERIES, [(401, {}, expired), (401, {}, expired)])

    with pytest.raises(AuthError, match="PMSYNC_SALESFORCE_CLIENT_SECRET"):
        opportunities(connector())

    assert tokens == ["tok1", "tok2"]
    assert len(query_calls(rsps)) == 2


def test_the_daily_request_limit_fails_fast_with_a_clear_message(rsps, tokens):
    """403 REQUEST_LIMIT_EXCEEDED is the org's rolling 24-hour allowance, not a rate
    limit: retrying burns what is left for every other integration. One request, no
    waits, and a message that says what happened instead of "bad credentials"."""
    sleep = RecordedSleep()
    limit = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    script_replies(
        rsps, "GET", QUERIES, [(403, {"Sforce-Limit-Info": "api-usage=100000/100000"}, limit)]
    )

    with pytest.raises(DailyLimitExceeded) as raised:
        opportunities(connector(sleep=sleep))

    message = str(raised.value)
    assert "REQUEST_LIMIT_EXCEEDED" in message and "24 hours" in message
    assert "credentials" not in message
    assert len(query_calls(rsps)) == 1
    assert sleep.waits == []


@pytest.mark.parametrize("status", [400, 401, 500])
def test_the_client_secret_never_appears_in_an_error_or_a_log(rsps, status, caplog):
    """Token endpoints echo what they were sent; errors and logs end up in tickets."""
    caplog.set_level(logging.DEBUG)
    echo = {"error": "invalid_client", "error_description": f"bad secret {SECRET}"}
    script_replies(rsps, "POST", TOKEN_URL, [(status, {}, echo)] * 6)

    with pytest.raises(AuthError if status < 500 else Exception) as raised:
        connector(http_max_attempts=2).authenticate()

    assert SECRET not in str(raised.value)
    assert SECRET[:8] not in str(raised.value)
    if status < 500:
        assert "PMSYNC_SALESFORCE_CLIENT_ID" in str(raised.value)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_the_limit_header_is_logged_at_debug(rsps, tokens, caplog):
    """Sforce-Limit-Info tells ops how close the org is to its daily limit."""
    caplog.set_level(logging.DEBUG, logger="pmsync.salesforce")
    script_replies(
        rsps, "GET", QUERIES, [ok(soql_page([]), {"Sforce-Limit-Info": "api-usage=10018/100000"})]
    )

    opportunities(connector())

    assert any("api-usage=10018/100000" in r.getMessage() for r in caplog.records)


# -- SOQL and the (SystemModstamp, Id) cursor ------------------------------------------------


FIELDS = (
    "SELECT Id, Name, Amount, StageName, Probability, CloseDate, AccountId, IsClosed, IsWon, "
    "Jira_Issue_Keys__c, SystemModstamp FROM Opportunity"
)


@pytest.mark.parametrize(
    ("saved", "lookback", "where"),
    [
        pytest.param(None, 0, "", id="full"),
        pytest.param(
            {"modstamp": "2024-05-01T10:20:30+00:00", "last_id": OPP[7]},
            0,
            " WHERE (SystemModstamp > 2024-05-01T10:20:30Z OR "
            f"(SystemModstamp = 2024-05-01T10:20:30Z AND Id > '{OPP[7]}'))",
            id="compound",
        ),
        pytest.param(
            {"modstamp": "2024-05-01T10:20:30+00:00", "last_id": OPP[7]},
            5,
            " WHERE SystemModstamp >= 2024-05-01T10:15:30Z",
            id="lookback",
        ),
        pytest.param(
            {"modstamp": "2024-05-01T12:00:00+00:00", "last_id": None},
            0,
            " WHERE SystemModstamp >= 2024-05-01T12:00:00Z",
            id="capped-position-is-inclusive",
        ),
    ],
)
def test_the_query_resumes_strictly_after_the_saved_timestamp_and_id(
    rsps, tokens, saved, lookback, where
):
    """Ties on SystemModstamp: `>` alone skips records sharing the last timestamp, `>=`
    alone re-reads them forever; (SystemModstamp, Id) with ORDER BY both does neither.
    Datetime literals are unquoted ISO 8601 with Z; the lookback re-reads the index lag."""
    script_replies(rsps, "GET", QUERIES, [ok(soql_page([]))])

    opportunities(connector(lookback_minutes=lookback), saved)

    (call,) = query_calls(rsps)
    assert soql_of(call) == FIELDS + where + " ORDER BY SystemModstamp, Id"
    assert call.request.url.startswith(f"{SALESFORCE}/services/data/v60.0/query?")
    assert call.request.headers["Sforce-Query-Options"] == "batchSize=2000"


def test_a_tampered_cursor_id_is_refused_not_spliced_into_soql(rsps, tokens):
    with pytest.raises(ValueError, match="record id"):
        opportunities(connector(), {"modstamp": "2024-05-01T10:20:30+00:00", "last_id": "x' OR"})


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param([soql_page([sf_opportunity(1)])], [OPP[1]], id="done-ends"),
        pytest.param([soql_page([])], [], id="nothing"),
        pytest.param(
            [soql_page([], "/services/data/v60.0/query/01g-1"), soql_page([sf_opportunity(2)])],
            [OPP[2]],
            id="empty-batch-not-done",
        ),
        pytest.param(
            [
                soql_page([sf_opportunity(1)], "/services/data/v60.0/query/01g-1"),
                soql_page([sf_opportunity(2)], "/services/data/v60.0/query/01g-2"),
                soql_page([]),
            ],
            [OPP[1], OPP[2]],
            id="short-batches-not-done",
        ),
    ],
)
def test_only_done_true_ends_a_query(rsps, tokens, answers, expected):
    """Batches can be short or empty before the end; `nextRecordsUrl` is followed as
    given (relative to the instance) until `done: true`."""
    script_replies(rsps, "GET", QUERIES, [ok(a) for a in answers])

    pages = opportunities(connector())

    assert ids(pages) == expected
    urls = [c.request.url for c in query_calls(rsps)]
    assert urls[1:] == [f"{SALESFORCE}{a['nextRecordsUrl']}" for a in answers[:-1]]


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param([{"totalSize": 1, "done": False, "records": []}], id="not-done-no-next"),
        pytest.param(
            [
                soql_page([sf_opportunity(1)], "/services/data/v60.0/query/01g-1"),
                soql_page([sf_opportunity(2)], "/services/data/v60.0/query/01g-1"),
            ],
            id="same-next-twice",
        ),
    ],
)
def test_a_query_that_cannot_move_on_raises(rsps, tokens, answers):
    """Not done and nowhere to go (or the same place again) would stop early or loop."""
    script_replies(rsps, "GET", QUERIES, [ok(a) for a in answers])

    with pytest.raises(DuplicatePageToken):
        opportunities(connector())


@pytest.mark.parametrize(
    ("saved", "batches", "expected"),
    [
        pytest.param(
            None,
            [[(1, "2024-05-01T09:00:00.000+0000"), (2, "2024-05-01T10:00:00.000+0000")]],
            [{"modstamp": "2024-05-01T10:00:00+00:00", "last_id": OPP[2]}],
            id="last-record",
        ),
        pytest.param(
            None,
            [[(1, STAMP), (2, STAMP)], [(3, STAMP)]],
            [
                {"modstamp": "2024-05-01T10:20:30+00:00", "last_id": OPP[2]},
                {"modstamp": "2024-05-01T10:20:30+00:00", "last_id": OPP[3]},
            ],
            id="many-on-one-timestamp",
        ),
        pytest.param(
            None,
            [[(1, "2024-05-01T13:00:00.000+0000")]],
            [{"modstamp": RUN_START.isoformat(), "last_id": None}],
            id="capped-at-run-start",
        ),
        pytest.param(
            {"modstamp": "2024-05-01T08:00:00+00:00", "last_id": OPP[4]},
            [[]],
            [{"modstamp": "2024-05-01T08:00:00+00:00", "last_id": OPP[4]}],
            id="empty-keeps-saved",
        ),
        pytest.param(None, [[]], [None], id="empty-first-run-saves-nothing"),
    ],
)
def test_each_batch_saves_its_last_timestamp_and_id(rsps, tokens, saved, batches, expected):
    """The cursor committed with each batch is where the next run resumes: with the id,
    records sharing a timestamp across batches are neither skipped nor re-read forever;
    a position past the run's start falls back to the start, inclusive."""
    answers = [
        soql_page(
            [sf_opportunity(n, stamp) for n, stamp in batch],
            f"/services/data/v60.0/query/01g-{i}" if i < len(batches) - 1 else None,
        )
        for i, batch in enumerate(batches)
    ]
    script_replies(rsps, "GET", QUERIES, [ok(a) for a in answers])

    pages = opportunities(connector(), saved)

    assert [page.cursor for page in pages] == expected
    assert all(page.stream == OPPORTUNITIES for page in pages)


# -- deletes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("saved", "where"),
    [
        pytest.param(None, "IsDeleted = true", id="full"),
        pytest.param(
            {"modstamp": "2024-05-01T10:20:30+00:00", "last_id": OPP[1]},
            "IsDeleted = true AND SystemModstamp >= 2024-05-01T10:20:30Z",
            id="since-the-cursor",
        ),
    ],
)
def test_deleted_opportunities_come_from_query_all_as_deletes(rsps, tokens, saved, where):
    """Deleted records vanish from `query`; only `queryAll` sees the recycle bin, and the
    store must drop them with their links and pipeline."""
    script_replies(
        rsps,
        "GET",
        QUERIES,
        [
            ok(soql_page([sf_account(1)])),
            ok(soql_page([])),
            ok(soql_page([{"Id": OPP[5]}], "/services/data/v60.0/query/01g-d1")),
            ok(soql_page([{"Id": OPP[6]}])),
        ],
    )

    pages = list(connector().pull(lambda stream: saved))

    deleted = [p for p in pages if p.deleted_ids]
    assert [i for p in deleted for i in p.deleted_ids] == [OPP[5], OPP[6]]
    assert all(p.cursor is None and p.kind == "deal" for p in deleted)
    query_all = query_calls(rsps)[2]
    assert "/services/data/v60.0/queryAll?" in query_all.request.url
    assert soql_of(query_all) == f"SELECT Id FROM Opportunity WHERE {where}"


# -- what records become ---------------------------------------------------------------------


def test_an_opportunity_becomes_a_deal(rsps, tokens):
    """Closed and won come from Salesforce's flags, amounts stay exact, a close date is a
    day (midnight UTC), and the typed issue keys are split."""
    script_replies(
        rsps,
        "GET",
        QUERIES,
        [
            ok(
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
    script_replies(rsps, "GET", QUERIES, [ok(soql_page([sf_opportunity(1), bad]))])

    (page,) = opportunities(connector())

    assert ids([page]) == [OPP[1]]
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
    script_replies(
        rsps,
        "GET",
        QUERIES,
        [ok(soql_page([sf_account(1, "www.Acme.com"), sf_account(2, None)]))],
    )
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
    script_replies(rsps, "GET", QUERIES, [ok(a) for a in [*answers, soql_page([]), soql_page([])]])
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
    assert ids([changed]) == [ACCOUNT[3]]
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
    script_replies(rsps, "GET", QUERIES, [ok(a) for a in answers])

    pages = changed_accounts(connector())

    assert ids(pages) == expected
    assert [c.request.url.split("?")[0].split("/v60.0/")[1] for c in query_calls(rsps)] == [
        "queryAll",
        *[a["nextRecordsUrl"].split("/v60.0/")[1] for a in answers[:-1]],
    ]
    assert [p.cursor is not None for p in pages] == [False] * (len(pages) - 1) + [True]


def test_a_repeated_next_records_url_of_the_changed_accounts_raises(rsps, tokens):
    again = "/services/data/v60.0/queryAll/01g-2000"
    script_replies(
        rsps,
        "GET",
        QUERIES,
        [ok(soql_page([sf_account(1)], again)), ok(soql_page([sf_account(2)], again))],
    )

    with pytest.raises(DuplicatePageToken):
        changed_accounts(connector())


# -- the org's schema: optional fields degrade, currencies convert ---------------------------


def describe_calls(rsps) -> list:
    return [c for c in rsps.calls if DESCRIBES.match(c.request.url)]


def test_an_org_without_the_issue_keys_field_reads_its_deals_without_it(rsps, tokens, org):
    """Most orgs have no Jira_Issue_Keys__c: selecting it would be 400 INVALID_FIELD for the
    whole query. The pull leaves it out, says once what to create, and the deals flow."""
    del org["Opportunity"]["Jira_Issue_Keys__c"]
    script_replies(
        rsps,
        "GET",
        QUERIES,
        [ok(soql_page([sf_account(1)])), ok(soql_page([sf_opportunity(1)])), ok(soql_page([]))],
    )
    sf = connector()

    pages = list(sf.pull(lambda stream: None))

    opportunity_query = soql_of(query_calls(rsps)[1])
    assert "Jira_Issue_Keys__c" not in opportunity_query
    assert opportunity_query.startswith("SELECT Id, Name, Amount, StageName")
    assert ids(pages) == [sf_id("001", 1), OPP[1]]
    assert list(sf.missing) == ["opportunity_issue_keys"]
    assert (
        "create the custom field Jira_Issue_Keys__c on Opportunity"
        in sf.missing["opportunity_issue_keys"]
    )
    assert len(describe_calls(rsps)) == 2  # Opportunity and Account, once per pull


def test_fields_the_api_user_cannot_read_are_left_out_and_named(rsps, tokens, org):
    """Field-level security hides fields from describe as if they did not exist: a hidden
    Amount or revenue field is left out of the queries and noted with where to grant it;
    the records still come, without those values."""
    del org["Opportunity"]["Amount"]
    del org["Account"]["AnnualRevenue"]
    script_replies(
        rsps,
        "GET",
        QUERIES,
        [
            ok(soql_page([sf_account(1)])),
            ok(soql_page([{k: v for k, v in sf_opportunity(1).items() if k != "Amount"}])),
            ok(soql_page([])),
        ],
    )
    sf = connector(revenue_from="crm_field")

    pages = list(sf.pull(lambda stream: None))

    account_query, opportunity_query = (soql_of(c) for c in query_calls(rsps)[:2])
    assert "AnnualRevenue" not in account_query and "Amount" not in opportunity_query
    deal = next(r for page in pages for r in page.records if r.id == OPP[1])
    assert deal.amount is None and deal.stage == "Prospecting"
    assert set(sf.missing) == {"opportunity_amount", "account_revenue"}
    assert "Field-Level" in sf.missing["account_revenue"]
    assert "PMSYNC_SALESFORCE_REVENUE_FIELD" in sf.missing["account_revenue"]


def test_a_multi_currency_org_converts_amounts_into_the_corporate_currency(rsps, tokens, org):
    """With CurrencyIsoCode on Opportunity, Amount is in each deal's own currency:
    convertCurrency(Amount), under an alias so the own amount stays beside it, is what
    is summed, and the deal names the corporate currency read from CurrencyType."""
    org["Opportunity"]["CurrencyIsoCode"] = "picklist"
    org["Account"]["CurrencyIsoCode"] = "picklist"
    euro = sf_opportunity(1, Amount=8000.0, CurrencyIsoCode="EUR", ConvertedAmount=10000.0)
    script_replies(
        rsps,
        "GET",
        QUERIES,
        [
            ok(soql_page([{"attributes": {"type": "CurrencyType"}, "IsoCode": "USD"}])),
            ok(
                soql_page(
                    [sf_opportunity(2, CurrencyIsoCode="USD", ConvertedAmount=15000.0)],
                    "/services/data/v60.0/query/01g-2000",
                )
            ),
            ok(soql_page([euro])),
        ],
    )
    sf = connector()
    sf.authenticate()

    deals = [r for page in sf.opportunities(None) for r in page.records]

    currency_query, first = (soql_of(c) for c in query_calls(rsps)[:2])
    assert currency_query == "SELECT IsoCode FROM CurrencyType WHERE IsCorporate = true"
    assert "Amount" in first.split(", ")
    assert "CurrencyIsoCode, convertCurrency(Amount) ConvertedAmount FROM" in first
    assert [(d.amount, d.currency) for d in deals] == [
        (Decimal("15000.0"), "USD"),
        (Decimal("10000.0"), "USD"),
    ]
    assert sf.missing == {}


def test_a_single_currency_org_is_read_as_before(rsps, tokens):
    script_replies(rsps, "GET", QUERIES, [ok(soql_page([sf_opportunity(1)]))])

    (page,) = opportunities(connector())

    assert "convertCurrency" not in soql_of(query_calls(rsps)[0])
    assert [(d.amount, d.currency) for d in page.records] == [(Decimal("15000.0"), None)]


def test_capabilities_name_each_missing_feature_and_what_to_change(rsps, tokens, org):
    del org["Opportunity"]["Jira_Issue_Keys__c"]
    del org["Account"]["Website"]

    found = {
        c.name: c
        for c in connectors.salesforce.client.capabilities(
            sandbox_settings(salesforce_client_secret=SECRET)
        )
    }

    assert found["opportunity_read"].available
    assert not found["opportunity_issue_keys"].available
    assert "Jira_Issue_Keys__c" in found["opportunity_issue_keys"].detail
    assert not found["account_domains"].available
    assert found["opportunity_amount"].available and found["currency_conversion"].available
    assert "single-currency" in found["currency_conversion"].detail


def test_capabilities_report_an_unreadable_object_as_missing(rsps, tokens):
    rsps.replace(
        "GET",
        DESCRIBES,
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )

    found = connectors.salesforce.client.capabilities(
        sandbox_settings(salesforce_client_secret=SECRET)
    )

    assert [(c.name, c.available) for c in found] == [("opportunity_read", False)]
    assert "Read on both objects" in found[0].detail
