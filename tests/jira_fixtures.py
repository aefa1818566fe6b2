"""What the Jira connector tests share: a mocked Jira Cloud site, the run's start, and the
search and sweep they script."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from builders import (
    JIRA,
    RUN_START,
    RecordedSleep,
    calls_to,
    freeze_now,
    jira_page,
    query,
    sandbox_settings,
)

import connectors.jira.client
from connectors.jira.client import STREAM, JiraConnector

SERVER_INFO = f"{JIRA}/rest/api/3/serverInfo"
FIELD = f"{JIRA}/rest/api/3/field"
SEARCH = f"{JIRA}/rest/api/3/search/jql"
NO_REMOTE_LINKS = re.compile(r".*/remotelink$")


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def jira_mock():
    """A Jira Cloud site: the `jira` package checks serverInfo first and reads the field
    catalogue to translate field names. The Jira test modules take it as their `rsps`."""
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


@pytest.fixture
def jira_run_start(monkeypatch):
    """The Jira test modules use it for every test (`pytestmark`)."""
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
