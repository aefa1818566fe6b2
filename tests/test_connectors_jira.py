"""Jira issues through the `jira` package's enhanced search, under pmsync's own retry policy."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import responses
from builders import (
    RecordedSleep,
    calls_to,
    jira_issue,
    jira_page,
    query,
    sandbox_settings,
)
from jira_fixtures import (
    SEARCH,
    SERVER_INFO,
    issue_pages,
    keys,
    pull,
    script_search,
    searches,
    sweeps,
)

from connectors.base import DuplicatePageToken
from connectors.http import AuthError, RetryableError
from connectors.jira.client import FIELDS, SWEEP_PAGE, JiraConnector

pytestmark = [pytest.mark.mocked_site("jira_mock"), pytest.mark.usefixtures("jira_run_start")]


# Only an absent nextPageToken ends the search (whatever isLast says), a repeated token
# raises, and each page carries the newest update seen: test_cursor_pages.py.


def test_jql_uses_epoch_ms_with_the_lookback_and_asks_only_for_the_fields_used(rsps):
    """Jira reads bare JQL dates in the API user's time zone (Airbyte #48492): send epoch
    ms, minus the lookback because search lags; and never the costly default `*all`."""
    script_search(rsps, [jira_page([])])

    pull(cursor="2024-05-01T10:20:30+00:00", lookback_minutes=5)

    (search,) = searches(rsps)
    jql = query(search)["jql"][0]
    since = datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)  # cursor minus 5 minutes
    assert f"updated >= {int(since.timestamp() * 1000)}" in jql
    assert re.search(r"updated >= \d{13}\b", jql)
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}", jql), "a bare date reached the JQL"
    assert "project in (ANA)" in jql
    assert query(search)["fields"] == FIELDS


def test_a_full_pull_has_no_time_filter(rsps):
    """Without a cursor every issue of the projects is read."""
    script_search(rsps, [jira_page([])])

    pull(cursor=None)

    (search,) = searches(rsps)
    assert "updated" not in query(search)["jql"][0].split("ORDER BY")[0]


def test_an_updated_time_with_an_offset_is_read_as_utc(rsps):
    """A bookmark taken from the wrong zone skips hours."""
    script_search(rsps, [jira_page([jira_issue(1, updated="2024-05-01T14:00:00.000+0200")])])

    pages = pull()

    assert [page.cursor for page in issue_pages(pages)] == ["2024-05-01T12:00:00+00:00"]


# A malformed issue goes to dead letters and the page is kept: test_cursor_pages.py.


def test_an_issue_without_a_summary_goes_to_dead_letters(rsps):
    """A missing field is a KeyError inside the builder; it must not escape the page."""
    bad = jira_issue(2)
    del bad["fields"]["summary"]
    script_search(rsps, [jira_page([jira_issue(1), bad])])

    (page,) = issue_pages(pull())

    assert [issue.key for issue in page.records] == ["ANA-1"]
    assert page.dead[0].payload == bad
    assert "summary" in page.dead[0].reason


def test_the_cursor_ignores_dead_issues(rsps):
    """A malformed issue cannot move the bookmark (its time is unknown)."""
    bad = jira_issue(2, updated="2024-05-01T11:59:00.000+0000")
    del bad["fields"]["summary"]
    script_search(rsps, [jira_page([jira_issue(1, updated="2024-05-01T10:00:00.000+0000"), bad])])

    (page,) = issue_pages(pull())

    assert page.cursor == "2024-05-01T10:00:00+00:00"


def test_a_429_on_search_is_waited_out_by_the_shared_policy(rsps, sleep):
    """The `jira` package's own retry waits less than Retry-After; it is off, so exactly
    one retry happens, after the full wait."""
    rsps.get(SEARCH, status=429, headers={"Retry-After": "7"}, json={"errorMessages": []})
    rsps.get(SEARCH, json=jira_page([jira_issue(1)]))

    pages = pull(sleep=sleep)

    assert keys(pages) == ["ANA-1"]
    assert sleep.waits == [7]
    assert len(calls_to(rsps, "/serverInfo")) == 1
    assert len(calls_to(rsps, "/field")) == 1
    assert len(searches(rsps)) == 2


def test_a_5xx_on_search_is_retried(rsps, sleep):
    """The `jira` package does not retry 500/502/504 on its own; pmsync must."""
    rsps.get(SEARCH, status=502)
    rsps.get(SEARCH, json=jira_page([jira_issue(1)]))

    assert keys(pull(sleep=sleep)) == ["ANA-1"]
    assert len(sleep.waits) == 1


def test_a_server_that_stays_down_is_tried_max_attempts_times_not_squared():
    """Connecting (serverInfo) inside the search's retry would nest two retry loops:
    3 attempts became 9, with 8 waits."""
    sleep = RecordedSleep()
    with responses.RequestsMock() as rsps:
        rsps.get(SERVER_INFO, status=503)

        with pytest.raises(RetryableError):
            pull(sleep=sleep, http_max_attempts=3)

        assert len(rsps.calls) == 3
    assert len(sleep.waits) == 2


def test_refused_credentials_on_server_info_name_the_settings_to_fix():
    """The first call fails on a bad token: say which settings, once, without the token."""
    settings = dict(jira_api_token="jira-Token-5b2d4f6a8c0e7f3a9c1e")
    with responses.RequestsMock() as rsps:
        rsps.get(SERVER_INFO, status=401, body="Client must be authenticated")

        with pytest.raises(AuthError) as raised:
            pull(**settings)

        assert len(rsps.calls) == 1
    message = str(raised.value)
    assert message.startswith("jira:")
    assert "PMSYNC_JIRA_EMAIL" in message
    assert "PMSYNC_JIRA_API_TOKEN" in message
    assert settings["jira_api_token"] not in message


# -- deletes: the id-only sweep --------------------------------------------------------------


@pytest.mark.parametrize("cursor", [None, "2024-05-01T10:20:30+00:00"], ids=["full", "incremental"])
def test_every_pull_ends_with_one_cheap_id_sweep_of_the_projects(rsps, cursor):
    """Deleted issues vanish from search and no incremental query can see them: each run
    asks for every id of the projects (ids alone, up to 5,000 a page, no time filter), and
    the last page's complete_ids lets the store drop the rest."""
    script_search(
        rsps,
        [jira_page([jira_issue(1)])],
        sweep=[jira_page([{"id": "10001", "key": "ANA-1"}, {"id": "10002", "key": "ANA-2"}])],
    )

    pages = pull(cursor=cursor)

    (sweep,) = sweeps(rsps)
    assert query(sweep)["jql"] == ["project in (ANA)"]
    assert query(sweep)["maxResults"] == [str(SWEEP_PAGE)]
    assert SWEEP_PAGE == 5000
    last = pages[-1]
    assert last.complete_ids == {"10001", "10002"}
    assert (last.source, last.kind, last.records, last.cursor) == ("jira", "issue", [], None)
    assert all(page.complete_ids is None for page in pages[:-1] if page.kind == "issue")


@pytest.mark.parametrize(
    "sweep",
    [
        pytest.param(
            [jira_page([{"id": "10001"}], token="s1"), jira_page([{"id": "10002"}])],
            id="short-pages-with-token",
        ),
        pytest.param(
            [jira_page([], token="s1"), jira_page([{"id": "10001"}, {"id": "10002"}])],
            id="empty-page-with-token",
        ),
    ],
)
def test_the_sweep_pages_by_token_and_names_every_id_it_saw(rsps, sweep):
    """Jira may serve fewer ids than asked: stopping at a short or empty page would prune
    live issues; only an absent nextPageToken ends the sweep."""
    script_search(rsps, [jira_page([])], sweep=sweep)

    pages = pull()

    assert pages[-1].complete_ids == {"10001", "10002"}
    assert [query(c).get("nextPageToken") for c in sweeps(rsps)] == [None, ["s1"]]


def test_a_sweep_that_repeats_its_token_raises_and_prunes_nothing(rsps):
    """A looping sweep must fail the run before any complete_ids reaches the store."""
    script_search(
        rsps,
        [jira_page([])],
        sweep=[jira_page([{"id": "10001"}], token="s1"), jira_page([{"id": "10002"}], token="s1")],
    )
    pages = []

    with pytest.raises(DuplicatePageToken):
        for page in JiraConnector(sandbox_settings(), sleep=RecordedSleep()).pull(lambda s: None):
            pages.append(page)

    assert all(page.complete_ids is None for page in pages)
