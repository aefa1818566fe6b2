"""Jira issues through the `jira` package's enhanced search, under pmsync's own retry policy."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from builders import (
    FRESHDESK,
    JIRA,
    ZENDESK,
    RecordedSleep,
    calls_to,
    freeze_now,
    jira_issue,
    jira_page,
    query,
    sandbox_settings,
)

import connectors.jira.client
from connectors.base import DuplicatePageToken
from connectors.http import AuthError, RetryableError
from connectors.jira.client import FIELDS, STREAM, SWEEP_PAGE, JiraConnector
from connectors.jira.remote_links import record_of, sites

SERVER_INFO = f"{JIRA}/rest/api/3/serverInfo"
FIELD = f"{JIRA}/rest/api/3/field"
SEARCH = f"{JIRA}/rest/api/3/search/jql"
RUN_START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NO_REMOTE_LINKS = re.compile(r".*/remotelink$")


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def rsps():
    """A Jira Cloud site: the `jira` package checks serverInfo first and reads the field
    catalogue to translate field names."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            SERVER_INFO,
            json={"deploymentType": "Cloud", "versionNumbers": [1001, 0, 0], "version": "1001.0.0"},
        )
        mock.get(
            FIELD,
            json=[
                {"id": "summary", "name": "Summary", "custom": False, "clauseNames": ["summary"]},
                {
                    "id": "customfield_10050",
                    "name": "Customer Requests",
                    "custom": True,
                    "clauseNames": ["cf[10050]", "Customer Requests"],
                },
            ],
        )
        mock.get(NO_REMOTE_LINKS, json=[])  # unless a test serves some (serve_remote_links)
        yield mock


@pytest.fixture(autouse=True)
def run_start(monkeypatch):
    freeze_now(monkeypatch, connectors.jira.client, RUN_START)


def pull(cursor: str | None = None, sleep=None, **settings):
    connector = JiraConnector(sandbox_settings(**settings), sleep=sleep or RecordedSleep())
    return list(connector.pull(lambda stream: cursor if stream == STREAM else None))


def keys(pages) -> list[str]:
    return [issue.key for page in pages for issue in page.records]


def is_sweep(call) -> bool:
    return query(call).get("fields") == ["id"]


def searches(rsps) -> list:
    """The incremental search's calls, without the id-only sweep that ends every pull."""
    return [call for call in calls_to(rsps, "/search/jql") if not is_sweep(call)]


def sweeps(rsps) -> list:
    return [call for call in calls_to(rsps, "/search/jql") if is_sweep(call)]


def script_search(rsps, answers, sweep=None) -> None:
    """Serve the incremental search from `answers` and the id-only sweep from `sweep`
    (by default one empty page), each in order; asking either for more fails the test."""
    queues = {False: list(answers), True: list(sweep or [jira_page([])])}

    def reply(request):
        wanted = parse_qs(urlsplit(request.url).query).get("fields") == ["id"]
        queue = queues[wanted]
        assert queue, f"{'sweep' if wanted else 'search'} asked for more pages than served"
        return 200, {"Content-Type": "application/json"}, json.dumps(queue.pop(0))

    rsps.add_callback("GET", SEARCH, callback=reply)


def issue_pages(pages) -> list:
    """The pages of the incremental search (the sweep's final page carries complete_ids)."""
    return [page for page in pages if page.kind == "issue" and page.complete_ids is None]


@pytest.mark.parametrize(
    ("answers", "expected_keys"),
    [
        pytest.param(
            [jira_page([jira_issue(1)], isLast=False)], ["ANA-1"], id="no-token-isLast-false"
        ),
        pytest.param(
            [jira_page([jira_issue(1), jira_issue(2)])], ["ANA-1", "ANA-2"], id="no-token-no-isLast"
        ),
        pytest.param([jira_page([])], [], id="nothing-at-all"),
        pytest.param(
            [jira_page([], token="t1"), jira_page([jira_issue(3)])],
            ["ANA-3"],
            id="empty-page-with-token",
        ),
        pytest.param(
            [jira_page([jira_issue(1)], token="t1", isLast=True), jira_page([jira_issue(2)])],
            ["ANA-1", "ANA-2"],
            id="token-wins-over-isLast",
        ),
        pytest.param(
            [
                jira_page([jira_issue(1)], token="t1"),
                jira_page([jira_issue(2)], token="t2"),
                jira_page([jira_issue(3)]),
            ],
            ["ANA-1", "ANA-2", "ANA-3"],
            id="short-pages-with-tokens",
        ),
    ],
)
def test_only_an_absent_next_page_token_ends_the_search(rsps, answers, expected_keys):
    """Jira returns fewer issues than asked and an unreliable isLast: stopping on either
    loses issues; stopping never loops. Each token is sent back on the next request."""
    script_search(rsps, answers)

    pages = pull()

    assert keys(pages) == expected_keys
    calls = searches(rsps)
    assert len(calls) == len(answers)
    sent_tokens = [query(call).get("nextPageToken") for call in calls]
    expected_tokens = [None] + [[a["nextPageToken"]] for a in answers[:-1]]
    assert sent_tokens == expected_tokens


def test_the_same_token_twice_raises(rsps):
    """Following a repeated token would read the same page forever."""
    script_search(
        rsps, [jira_page([jira_issue(1)], token="t1"), jira_page([jira_issue(2)], token="t1")]
    )

    with pytest.raises(DuplicatePageToken):
        pull()

    assert len(searches(rsps)) == 2
    assert sweeps(rsps) == [], "a failed pull must not sweep (and so prune)"


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


@pytest.mark.parametrize(
    ("saved", "updates", "expected"),
    [
        pytest.param(
            None,
            [["2024-05-01T09:00:00.000+0000", "2024-05-01T10:00:00.000+0000"]],
            ["2024-05-01T10:00:00+00:00"],
            id="newest-seen",
        ),
        pytest.param(
            None,
            [["2024-05-01T10:00:00.000+0000"], ["2024-05-01T09:30:00.000+0000"]],
            ["2024-05-01T10:00:00+00:00", "2024-05-01T10:00:00+00:00"],
            id="never-moves-back",
        ),
        pytest.param(
            None,
            [["2024-05-01T11:00:00.000+0000", "2024-05-01T13:00:00.000+0000"]],
            [RUN_START.isoformat()],
            id="capped-at-run-start",
        ),
        pytest.param(
            None,
            [["2024-05-01T14:00:00.000+0200"]],
            ["2024-05-01T12:00:00+00:00"],
            id="offset-read-as-utc",
        ),
        pytest.param(
            "2024-05-01T08:00:00+00:00", [[]], ["2024-05-01T08:00:00+00:00"], id="empty-keeps-saved"
        ),
        pytest.param(None, [[]], [None], id="empty-first-run-saves-nothing"),
        pytest.param(
            None,
            [["2024-05-01T10:00:00.000+0000"] * 3, ["2024-05-01T10:00:00.000+0000"] * 2],
            ["2024-05-01T10:00:00+00:00"] * 2,
            id="many-on-one-timestamp",
        ),
    ],
)
def test_each_page_carries_the_newest_update_seen_capped_at_run_start(
    rsps, saved, updates, expected
):
    """A bookmark past the run's start skips changes not yet indexed; one that moves back
    re-reads; one taken from the wrong zone skips hours. Issues sharing one timestamp keep
    the bookmark on it: the next run's `updated >=` reads them again rather than skip one."""
    answers = []
    number = 0
    for index, page_updates in enumerate(updates):
        issues = []
        for updated in page_updates:
            number += 1
            issues.append(jira_issue(number, updated=updated))
        token = f"t{index}" if index < len(updates) - 1 else None
        answers.append(jira_page(issues, token=token))
    script_search(rsps, answers)

    pages = pull(cursor=saved)

    assert [page.cursor for page in issue_pages(pages)] == expected


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        pytest.param({"updated": "yesterday"}, "yesterday", id="bad-updated"),
        pytest.param({"updated": "2024-05-01T10:20:30"}, "time zone", id="naive-updated"),
        pytest.param({"summary": None}, "summary", id="null-summary"),
    ],
)
def test_a_malformed_issue_goes_to_dead_letters_and_the_page_is_kept(rsps, broken, reason):
    """One bad issue must neither stop the sync nor vanish: it is kept raw, with why."""
    bad = jira_issue(2)
    bad["fields"].update(broken)
    script_search(rsps, [jira_page([jira_issue(1), bad, jira_issue(3)])])

    (page,) = issue_pages(pull())

    assert [issue.key for issue in page.records] == ["ANA-1", "ANA-3"]
    (dead,) = page.dead
    assert (dead.source, dead.kind, dead.record_id) == ("jira", "issue", bad["id"])
    assert reason in dead.reason
    assert dead.payload == bad


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


# -- remote links: the tools' Jira apps' links to tickets and deals --------------------------

TOOL_SITES = sites(sandbox_settings())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{ZENDESK}/agent/tickets/35436", ("zendesk", "35436")),
        ("https://acme.zendesk.com/agent/tickets/7?x=1", ("zendesk", "7")),
        (f"{FRESHDESK}/a/tickets/100003", ("freshdesk", "100003")),
        ("https://acme.freshdesk.com/helpdesk/tickets/12", ("freshdesk", "12")),
        ("https://app.intercom.com/a/inbox/abc/inbox/conversation/215", ("intercom", "215")),
        ("https://app.hubspot.com/contacts/4242/record/0-3/104009765", ("hubspot", "104009765")),
        (
            "https://acme.lightning.force.com/lightning/r/Opportunity/006Dn0000000APDIA2/view",
            ("salesforce", "006Dn0000000APDIA2"),
        ),
        (f"{ZENDESK}/agent/organizations/5", None),  # an organisation, not a ticket
        ("https://acme.lightning.force.com/lightning/r/Account/001Dn0000000APDIA2/view", None),
        ("https://github.com/acme/app/pull/3", None),  # not a tool pmsync reads
        ("not a url", None),
    ],
)  # fmt: skip
def test_a_remote_link_url_names_the_ticket_or_deal_it_shows(url, expected):
    """Under a configured site or on the vendor's hosts, the path of a ticket or deal in
    the tool's web app gives its id; any other page is no tool link."""
    assert record_of(url, TOOL_SITES) == expected


def remote_link(link_id: int, url: str) -> dict:
    return {
        "id": link_id,
        "self": f"{JIRA}/rest/api/3/issue/10001/remotelink/{link_id}",
        "globalId": f"app:{link_id}",
        "application": {"type": "com.zendesk.jira", "name": "Zendesk"},
        "relationship": "mentioned in",
        "object": {"url": url, "title": "A ticket"},
    }


def serve_remote_links(rsps, answers: dict[str, list]) -> None:
    """Serve these issues' remote links, and none for the others (the first response
    registered that matches answers, so the fixture's catch-all goes after them)."""
    rsps.remove(responses.GET, NO_REMOTE_LINKS)
    for issue_id, links in answers.items():
        rsps.get(f"{JIRA}/rest/api/3/issue/{issue_id}/remotelink", json=links)
    rsps.get(NO_REMOTE_LINKS, json=[])


def remote_link_calls(rsps) -> list[str]:
    return [urlsplit(c.request.url).path.split("/")[-2] for c in calls_to(rsps, "/remotelink")]


def test_a_first_pull_reads_every_issues_remote_links_after_the_sweep(rsps):
    """No bulk API exists: each issue the sweep names is asked once; links to a ticket or
    deal become tool links of the record they point at; the last page names them all (so
    removed ones leave the store) and carries the listing's cursor."""
    script_search(
        rsps,
        [jira_page([jira_issue(1)])],
        sweep=[jira_page([{"id": "10001", "key": "ANA-1"}, {"id": "10002", "key": "ANA-2"}])],
    )
    serve_remote_links(
        rsps,
        {
            "10001": [
                remote_link(501, f"{ZENDESK}/agent/tickets/35436"),
                remote_link(502, "https://github.com/acme/app/pull/3"),
            ]
        },
    )

    pages = pull()

    assert sorted(remote_link_calls(rsps)) == ["10001", "10002"]
    links = [r for p in pages if p.kind == "tool_link" for r in p.records]
    assert [(t.source, t.id, t.target, t.issue_key) for t in links] == [
        ("jira", "501", ("zendesk", "35436"), "ANA-1")
    ]
    (last,) = [p for p in pages if p.kind == "tool_link" and p.complete_ids is not None]
    assert last.complete_ids == {"501"}
    assert last.cursor["full_at"] == RUN_START.isoformat()


def test_between_full_reads_only_issues_changed_by_others_are_asked(rsps):
    """Within the period, the remote links of the issues the search returned are read,
    except an issue whose last change came within a minute of pmsync's own write (its
    property's written_at): re-reading every issue pmsync published would cost a request
    each. Nothing is claimed complete."""
    written = "2024-05-01T10:20:00+00:00"
    mine = jira_issue(1, "2024-05-01T10:20:30.000+0000")  # 30 s after pmsync's write
    mine["properties"] = {"pmsync.demand": {"written_at": written}}
    later = jira_issue(2, "2024-05-01T10:25:00.000+0000")  # someone else, 5 min after
    later["properties"] = {"pmsync.demand": {"written_at": written}}
    fresh = jira_issue(3)  # never written by pmsync
    script_search(rsps, [jira_page([mine, later, fresh])])
    connector = JiraConnector(sandbox_settings(), sleep=RecordedSleep())
    cursors = {
        STREAM: "2024-05-01T10:00:00+00:00",
        "jira.remote_links": {
            "since": "2024-05-01T11:00:00+00:00",
            "full_at": "2024-05-01T11:00:00+00:00",
        },
    }

    pages = list(connector.pull(cursors.get))

    assert remote_link_calls(rsps) == ["10002", "10003"]
    assert all(p.complete_ids is None for p in pages if p.kind == "tool_link")
    assert [p.cursor for p in pages if p.kind == "tool_link" and p.cursor] == [
        cursors["jira.remote_links"]
    ]


def test_a_malformed_remote_link_goes_to_the_dead_letters(rsps):
    script_search(rsps, [jira_page([])], sweep=[jira_page([{"id": "10001", "key": "ANA-1"}])])
    broken = remote_link(501, f"{ZENDESK}/agent/tickets/35436")
    del broken["id"]
    serve_remote_links(rsps, {"10001": [broken]})

    pages = pull()

    (letter,) = [d for p in pages for d in p.dead]
    assert (letter.source, letter.kind) == ("jira", "tool_link")
    assert letter.payload == broken
    assert letter.context == {"issue_key": "ANA-1"}  # what a replay rebuilds it with


def test_an_issue_deleted_after_the_sweep_has_no_remote_links_to_read(rsps):
    """Jira answers 404 for the remote links of an issue deleted since it was listed:
    that is no error (the next sweep drops the issue), and the other issues' are read."""
    script_search(
        rsps,
        [jira_page([])],
        sweep=[jira_page([{"id": "10001", "key": "ANA-1"}, {"id": "10002", "key": "ANA-2"}])],
    )
    rsps.remove(responses.GET, NO_REMOTE_LINKS)
    rsps.get(
        f"{JIRA}/rest/api/3/issue/10001/remotelink",
        status=404,
        json={"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
    )
    rsps.get(
        f"{JIRA}/rest/api/3/issue/10002/remotelink",
        json=[remote_link(502, f"{ZENDESK}/agent/tickets/7")],
    )

    pages = pull()

    assert [r.id for p in pages if p.kind == "tool_link" for r in p.records] == ["502"]
