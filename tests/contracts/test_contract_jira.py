"""Jira Cloud's contract, from answers nobody on this project wrote (tests/contracts/jira,
origins in SOURCES.md): (a) every stream and write path of the Jira connector driven through
`responses` with them, asserting the records a user relies on; (b) the running sandbox
asked the same requests, answering with the recorded keys and types."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from connectors.http import ApiError
from connectors.jira.adf import to_text
from connectors.jira.capabilities import capabilities
from connectors.jira.client import STREAM, JiraConnector, issue_from_raw
from connectors.jira.write import JiraWriter
from connectors.settings import Settings
from models import ConfigError, Issue, ToolLink
from sandbox.server import SandboxServer, start_sandbox
from tests.contracts.shapes import assert_same_shape, body, fixture

SITE = "https://airbyteio.atlassian.net"
AUTH = ("demo@example.com", "sandbox")
SEARCH = f"{SITE}/rest/api/3/search/jql"
ISSUE_KEYS = re.compile(r"[A-Z][A-Z0-9]+-\d+")


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jira_url": SITE,
        "jira_email": "integration-test@airbyte.io",
        "jira_api_token": "token",
        "jira_projects": ("TESTKEY13",),
        "zendesk_url": "https://acme.zendesk.com",
        "zendesk_email": "agent@acme.com",
        "zendesk_api_token": "token",
        "http_max_attempts": 1,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Jira Cloud as recorded: the `jira` package reads serverInfo first."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for version in ("2", "3"):
            mock.get(f"{SITE}/rest/api/{version}/serverInfo", json=body("jira", "server_info"))
        mock.get(f"{SITE}/rest/api/3/field", json=body("jira", "fields"))
        yield mock


def serve_search(rsps: responses.RequestsMock) -> list[dict[str, list[str]]]:
    """The recorded first page (with a nextPageToken), then the recorded last page; the
    id-only sweep gets both issues' ids. Returns the queries the connector sent."""
    first, last = body("jira", "search_jql_page"), body("jira", "search_jql_last_page")
    sent: list[dict[str, list[str]]] = []

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url).query)
        sent.append(query)
        if query.get("fields") == ["id"]:
            ids = [{"id": i["id"], "key": i["key"]} for i in first["issues"] + last["issues"]]
            return 200, {}, json.dumps({"issues": ids, "isLast": True})
        page = last if query.get("nextPageToken") == [first["nextPageToken"]] else first
        return 200, {}, json.dumps(page)

    rsps.add_callback("GET", SEARCH, callback=reply)
    rsps.get(re.compile(rf"{SITE}/rest/api/3/issue/\d+/remotelink"), json=[])
    return sent


def test_search_pages_follow_the_token_and_read_real_issues(rsps: responses.RequestsMock) -> None:
    """A recorded issue (offset timestamps, custom fields, components) and a derived one
    with null description, no components, a released fix version and non-ASCII text become
    the issues a product manager sees; the pull ends on the page without nextPageToken."""
    sent = serve_search(rsps)
    connector = JiraConnector(settings())
    pages = list(connector.pull(lambda stream: None))

    issues = [r for p in pages if p.stream == STREAM for r in p.records if isinstance(r, Issue)]
    first, last = issues
    assert first.key == "TESTKEY13-1" and first.id == "10627"
    assert first.url == f"{SITE}/browse/TESTKEY13-1" and first.project == "TESTKEY13"
    assert first.summary == "My Summary" and first.description == "Test issue"
    assert (first.status, first.status_category) == ("To Do", "new")
    assert first.labels == ("test",) and first.components == ("Component 0",)
    assert first.updated_at == datetime(2022, 12, 8, 10, 22, 18, 889000, tzinfo=UTC)
    assert first.created_at == utc("2022-06-09T16:29:31.871-07:00")
    assert last.key == "TESTKEY13-2" and last.description == "" and last.components == ()
    assert last.summary == "Export für Café-Kunden — 東京オフィス"
    assert last.status_category == "done" and last.released_versions == ("Version 1.0",)
    assert last.updated_at == datetime(2022, 12, 8, 6, 30, tzinfo=UTC)
    searches = [q for q in sent if q.get("fields") != ["id"]]
    assert len(searches) == 2 and searches[1]["nextPageToken"] == ["EgQIlMIC"]
    assert not [p for p in pages if p.dead]
    sweep = pages[-1]
    assert sweep.complete_ids == {"10627", "10628"}


def test_a_site_that_is_not_cloud_is_named() -> None:
    """Atlassian's documented serverInfo example carries no deploymentType: the `jira`
    package then refuses the new search, and the pull says why instead of reading nothing."""
    documented = {k: v for k, v in body("jira", "server_info").items() if k != "deploymentType"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for version in ("2", "3"):
            mock.get(f"{SITE}/rest/api/{version}/serverInfo", json=documented)
        mock.get(f"{SITE}/rest/api/3/field", json=body("jira", "fields"))
        with pytest.raises(ApiError, match="not Jira Cloud"):
            list(JiraConnector(settings()).issues(None))


def test_rich_description_reads_as_people_see_it() -> None:
    """Mentions, emoji, smart links, status lozenges and dates (Atlassian's documented node
    examples) are text in the issue's description, not lost."""
    issue = issue_from_raw(body("jira", "issue_rich_adf"), SITE)
    assert issue.description == (
        "Asked by @Bradley Ayers 😀\nSee https://atlassian.com now In Progress since 2020-02-19"
    )


def test_remote_links_keep_only_tickets_and_deals(rsps: responses.RequestsMock) -> None:
    """Of Atlassian's documented remote links (a support tracker, a test case) none points
    at a tool pmsync reads; the third, derived to point at a Zendesk ticket, is a tool link."""
    rsps.get(f"{SITE}/rest/api/3/issue/10627/remotelink", json=body("jira", "remote_links"))
    page = JiraConnector(settings()).remote_link_page({"10627": "TESTKEY13-1"})
    [link] = page.records
    assert isinstance(link, ToolLink)
    assert (link.id, link.record_source, link.record_id) == ("10002", "zendesk", "4821")
    assert link.issue_key == "TESTKEY13-1" and not page.dead


def test_an_issue_gone_between_listing_and_read_is_skipped(rsps: responses.RequestsMock) -> None:
    """Jira's 404 error body for an issue one may not see ends nothing: it is skipped."""
    rsps.get(
        f"{SITE}/rest/api/3/issue/10627/remotelink",
        status=404,
        json=body("jira", "error_issue_not_found"),
    )
    page = JiraConnector(settings()).remote_link_page({"10627": "TESTKEY13-1"})
    assert page.records == [] and page.dead == []


def test_removed_search_error_names_the_migration(rsps: responses.RequestsMock) -> None:
    """The 410 of the removed /search carries Jira's message to the person reading it."""
    rsps.get(f"{SITE}/rest/api/3/search", status=410, json=body("jira", "error_removed_search"))
    with pytest.raises(ApiError, match=r"410.*search/jql API"):
        JiraConnector(settings()).api.request("GET", "/rest/api/3/search")


def test_fields_resolve_by_name_or_name_what_is_missing(rsps: responses.RequestsMock) -> None:
    """The documented catalogue resolves a field by its name; the recorded one has no field
    called "Customer Requests", and the error says so before anything is written."""
    writer = JiraWriter(JiraConnector(settings()))
    assert writer.resolve_fields(["Summary"]) == {"Summary": "summary"}
    rsps.replace("GET", f"{SITE}/rest/api/3/field", json=body("jira", "fields_recorded"))
    with pytest.raises(ConfigError, match="'Customer Requests'"):
        writer.resolve_fields(["Customer Requests", "Status Category Changed"])


def test_a_comment_without_the_marker_is_not_taken_for_pmsyncs(
    rsps: responses.RequestsMock,
) -> None:
    """Documented comments page: someone else's comment is never rewritten as the managed
    one; with the marker (derived) it is found by its id."""
    url = f"{SITE}/rest/api/3/issue/TESTKEY13-1/comment"
    rsps.get(url, json=body("jira", "comments"))
    writer = JiraWriter(JiraConnector(settings()))
    assert writer.find_managed_comment("TESTKEY13-1") is None
    assert to_text(body("jira", "comments")["comments"][0]["body"]).startswith("Lorem ipsum")
    marked = copy.deepcopy(body("jira", "comments"))
    marked["comments"][0]["body"]["content"][0]["content"][0]["text"] += " pmsync demand summary"
    rsps.replace("GET", url, json=marked)
    assert writer.find_managed_comment("TESTKEY13-1") == "10000"


def test_service_desk_comments_are_internal(rsps: responses.RequestsMock) -> None:
    """Of the documented projects, ABC (derived: a service desk) gets the internal-comment
    property; EX, a software project, a plain comment."""
    projects = body("jira", "project_search")

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        start = parse_qs(urlsplit(request.url).query).get("startAt", ["0"])[0]
        # The documented first page says isLast false: a second page ends the listing.
        page = projects if start == "0" else {**projects, "isLast": True, "values": []}
        return 200, {}, json.dumps(page)

    rsps.add_callback("GET", f"{SITE}/rest/api/3/project/search", callback=reply)
    rsps.post(re.compile(rf"{SITE}/rest/api/3/issue/[A-Z]+-1/comment"), json={"id": "1"})
    writer = JiraWriter(JiraConnector(settings(jira_projects=("EX", "ABC"))))
    doc = {"type": "doc", "version": 1, "content": []}
    writer.write_comment("ABC-1", doc, None)
    writer.write_comment("EX-1", doc, None)
    posts = [json.loads(c.request.body) for c in rsps.calls if c.request.method == "POST"]
    assert posts[0]["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    assert "properties" not in posts[1]
    assert writer.project_types() == {"EX": "software", "ABC": "service_desk"}


def test_capabilities_read_the_documented_permissions(rsps: responses.RequestsMock) -> None:
    """The documented mypermissions answer holds EDIT_ISSUES alone: writes on the project
    lack ADD_COMMENTS and edits cannot be quiet; check says both, with what to change."""
    rsps.get(f"{SITE}/rest/api/3/mypermissions", json=body("jira", "mypermissions"))
    rsps.get(
        f"{SITE}/rest/api/3/project/search",
        json={**body("jira", "project_search"), "isLast": True},
    )
    found = {c.name: c for c in capabilities(settings(jira_field_revenue="Summary"))}
    assert not found["quiet_edits"].available
    assert "Administer Projects" in found["quiet_edits"].detail
    assert not found["write TESTKEY13"].available
    assert "ADD_COMMENTS" in found["write TESTKEY13"].detail
    assert found["field 'Summary'"].available
    assert not found["field 'Customer Requests'"].available


# -- (b) the sandbox answers with the recorded keys and types ----------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    server = start_sandbox(seed=7)
    yield server
    server.stop()


def served(server: SandboxServer, name: str, **params: Any) -> Any:
    """The sandbox's answer to a fixture's request: its method and path (issue keys and
    ids of the recorded site replaced by the sandbox's ANA-1), with `params`."""
    recorded = fixture("jira", name)
    path = ISSUE_KEYS.sub("ANA-1", recorded["request"]["path"])
    path = re.sub(r"/issue/\d+/", "/issue/ANA-1/", path)
    answer = requests.request(
        recorded["request"]["method"],
        f"{server.url}/jira{path}",
        params=params or recorded["request"].get("query"),
        auth=AUTH,
        timeout=30,
    )
    assert answer.status_code == recorded["status"], answer.text
    return answer.json()


def without_tenant_fields(page: dict[str, Any]) -> dict[str, Any]:
    """A recorded search page without the recorded site's own custom fields
    (customfield_NNNNN ids are per site)."""
    page = copy.deepcopy(page)
    for issue in page["issues"]:
        issue["fields"] = {
            k: v for k, v in issue["fields"].items() if not k.startswith("customfield_")
        }
    return page


def test_sandbox_search_pages_carry_the_recorded_keys(sandbox: SandboxServer) -> None:
    first = served(sandbox, "search_jql_page", jql="project = ANA", fields="*all", maxResults=1)
    assert first["nextPageToken"] and first["isLast"] is False
    assert_same_shape(without_tenant_fields(body("jira", "search_jql_page")), first)
    last = served(sandbox, "search_jql_page", jql="project = ANA", fields="*all", maxResults=100)
    assert "nextPageToken" not in last
    assert_same_shape(without_tenant_fields(body("jira", "search_jql_last_page")), last)


def test_sandbox_issue_and_its_parts_carry_the_recorded_keys(sandbox: SandboxServer) -> None:
    recorded = copy.deepcopy(body("jira", "issue_rich_adf"))
    # The description is a document, not a schema: its nodes differ from issue to issue.
    recorded["fields"]["description"]["content"] = []
    issue = served(sandbox, "issue_rich_adf")
    assert_same_shape(without_tenant_fields({"issues": [recorded]})["issues"][0], issue)
    requests.put(
        f"{sandbox.url}/jira/rest/api/3/issue/ANA-1/properties/issue.support",
        json=body("jira", "issue_property")["value"],
        auth=AUTH,
        timeout=30,
    ).raise_for_status()
    assert_same_shape(body("jira", "issue_property"), served(sandbox, "issue_property"))
    requests.post(
        f"{sandbox.url}/jira/rest/api/3/issue/ANA-1/comment",
        json={"body": body("jira", "comments")["comments"][0]["body"]},
        auth=AUTH,
        timeout=30,
    ).raise_for_status()
    comments = copy.deepcopy(body("jira", "comments"))
    # `visibility` is there only on a comment restricted to a role or group.
    comments["comments"][0].pop("visibility")
    assert_same_shape(comments, served(sandbox, "comments"))


def test_sandbox_catalogue_user_and_site_carry_the_recorded_keys(sandbox: SandboxServer) -> None:
    catalogue = {f["id"]: f for f in served(sandbox, "fields")}
    for recorded in body("jira", "fields") + body("jira", "fields_recorded"):
        if recorded["id"] in catalogue:  # `statuscategorychangedate`, `parent`: not kept
            assert_same_shape(recorded, catalogue[recorded["id"]])
    assert_same_shape(body("jira", "myself"), served(sandbox, "myself"))
    info = served(sandbox, "server_info")
    assert info["deploymentType"] == "Cloud"
    assert_same_shape(body("jira", "server_info"), info)
    assert_same_shape(body("jira", "mypermissions"), served(sandbox, "mypermissions"))


def test_sandbox_projects_and_remote_links_carry_the_recorded_keys(
    sandbox: SandboxServer,
) -> None:
    projects = copy.deepcopy(body("jira", "project_search"))
    for project in projects["values"]:
        # `insight` comes only with expand=insight, `projectCategory` only when one is set.
        project.pop("insight")
        project.pop("projectCategory")
    projects.pop("nextPage")  # only while more pages follow
    answer = served(sandbox, "project_search", keys="ANA", maxResults=2)
    assert_same_shape(projects, answer)
    assert answer["values"][0]["projectTypeKey"] == "software"
    key = next(
        k
        for k, v in sandbox.app.state.sandbox.jira.remote_links.items()
        if v  # an issue with planted links
    )
    links = requests.get(
        f"{sandbox.url}/jira/rest/api/3/issue/{key}/remotelink", auth=AUTH, timeout=30
    ).json()
    assert_same_shape(body("jira", "remote_links"), links)


def test_sandbox_errors_carry_the_recorded_keys(sandbox: SandboxServer) -> None:
    assert_same_shape(body("jira", "error_removed_search"), served(sandbox, "error_removed_search"))
    missing = requests.get(f"{sandbox.url}/jira/rest/api/3/issue/NOPE-1", auth=AUTH, timeout=30)
    assert missing.status_code == 404
    assert missing.json() == body("jira", "error_issue_not_found")
