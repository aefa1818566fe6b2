"""Salesforce: OAuth client credentials, the daily request limit, SOQL with a
(SystemModstamp, Id) cursor followed through `nextRecordsUrl`, and deleted records via queryAll."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import pytest
from builders import (
    RUN_START,
    SALESFORCE,
    RecordedSleep,
    record_ids,
    script,
    script_replies,
    sf_account,
    sf_id,
    sf_opportunity,
    soql_page,
)
from salesforce_fixtures import (
    OPP,
    QUERIES,
    SECRET,
    STAMP,
    TOKEN_URL,
    connector,
    ok,
    opportunities,
    query_calls,
    soql_of,
)

from connectors.base import DuplicatePageToken
from connectors.http import AuthError
from connectors.salesforce.client import (
    OPPORTUNITIES,
    DailyLimitExceeded,
)

pytestmark = pytest.mark.usefixtures("salesforce_run_start")


# -- OAuth client credentials ----------------------------------------------------------------


def test_the_token_is_fetched_once_per_run_with_the_secret_only_in_the_body(rsps, tokens):
    """Client credentials: one token for every query of the run; the secret travels in
    the form body, never in a URL that logs and proxies keep."""
    script(
        rsps,
        "GET",
        QUERIES,
        [
            soql_page([sf_account(1)]),
            soql_page([sf_opportunity(1)], "/services/data/v60.0/query/01g-2000"),
            soql_page([sf_opportunity(2)]),
            soql_page([]),
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
    assert record_ids(pages) == [sf_id("001", 1), OPP[1], OPP[2]]


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
    assert record_ids(pages) == [OPP[1]]


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
    script(rsps, "GET", QUERIES, [soql_page([])])

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
    script(rsps, "GET", QUERIES, answers)

    pages = opportunities(connector())

    assert record_ids(pages) == expected
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
    script(rsps, "GET", QUERIES, answers)

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
    script(rsps, "GET", QUERIES, answers)

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
    script(
        rsps,
        "GET",
        QUERIES,
        [
            soql_page([sf_account(1)]),
            soql_page([]),
            soql_page([{"Id": OPP[5]}], "/services/data/v60.0/query/01g-d1"),
            soql_page([{"Id": OPP[6]}]),
        ],
    )

    pages = list(connector().pull(lambda stream: saved))

    deleted = [p for p in pages if p.deleted_ids]
    assert [i for p in deleted for i in p.deleted_ids] == [OPP[5], OPP[6]]
    assert all(p.cursor is None and p.kind == "deal" for p in deleted)
    query_all = query_calls(rsps)[2]
    assert "/services/data/v60.0/queryAll?" in query_all.request.url
    assert soql_of(query_all) == f"SELECT Id FROM Opportunity WHERE {where}"
