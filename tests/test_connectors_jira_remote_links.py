"""Jira remote links: the tools' Jira apps' links to tickets and deals, read after the sweep."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import responses
from builders import (
    FRESHDESK,
    JIRA,
    RUN_START,
    ZENDESK,
    RecordedSleep,
    calls_to,
    jira_issue,
    jira_page,
    sandbox_settings,
)
from jira_fixtures import NO_REMOTE_LINKS, pull, script_search

from connectors.jira.client import STREAM, JiraConnector
from connectors.jira.remote_links import record_of, sites

pytestmark = [pytest.mark.mocked_site("jira_mock"), pytest.mark.usefixtures("jira_run_start")]


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
