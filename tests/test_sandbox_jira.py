"""Jira contract: the `jira` package itself as the client, over real HTTP."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from sandbox.server import SandboxServer, start_sandbox

AUTH = ("demo@example.com", "sandbox")
ADF = {
    "type": "doc",
    "version": 1,
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Shipped!"}]}],
}


@pytest.fixture
def client(server: SandboxServer) -> JIRA:
    return JIRA(server=server.url + "/jira", basic_auth=AUTH, max_retries=0)


@pytest.fixture
def api(server: SandboxServer) -> str:
    return server.url + "/jira/rest/api/3"


def test_enhanced_search_pages_through_every_issue(client: JIRA) -> None:
    seen: list[str] = []
    token = None
    while True:
        page: Any = client.enhanced_search_issues(
            "project = ANA ORDER BY updated ASC",
            nextPageToken=token,
            fields=["summary", "updated"],
            maxResults=10,
            json_result=True,
        )
        seen += [issue["key"] for issue in page["issues"]]
        assert "total" not in page and "startAt" not in page
        token = page.get("nextPageToken")
        if not token:
            assert page["isLast"] is True
            break
    assert len(seen) == len(set(seen)) == 40
    issues = client.enhanced_search_issues("project = ANA", fields="updated", maxResults=0)
    stamps = [issue.fields.updated for issue in issues]
    assert len(issues) == 40 and stamps == sorted(stamps)


def test_package_reads_and_writes_an_issue(client: JIRA) -> None:
    issue = client.issue("ANA-4")
    assert issue.fields.status.statusCategory.key in {"new", "indeterminate", "done"}
    assert isinstance(issue.fields.description, str)  # API v2 renders ADF as text
    issue.update(fields={"customfield_10050": 7})
    assert client.issue("ANA-4", fields="customfield_10050").fields.customfield_10050 == 7
    posted: Any = client.enhanced_search_issues(
        "project = ANA AND updated >= 0",
        fields="key",
        maxResults=5,
        json_result=True,
        use_post=True,
    )
    assert len(posted["issues"]) == 5 and posted["nextPageToken"]


def test_unsupported_jql_is_a_400(client: JIRA) -> None:
    with pytest.raises(JIRAError) as error:
        client.enhanced_search_issues('summary ~ "export"', json_result=True)
    assert error.value.status_code == 400
    assert "Error in the JQL Query" in str(error.value.text)


def test_updated_filter_and_descending_order(api: str) -> None:
    params: dict[str, Any] = {
        "jql": "project = ANA ORDER BY updated DESC",
        "fields": "updated",
        "maxResults": 100,
    }
    everything = requests.get(f"{api}/search/jql", auth=AUTH, params=params)
    issues = everything.json()["issues"]
    stamps = [i["fields"]["updated"] for i in issues]
    assert stamps == sorted(stamps, reverse=True)
    ids_only = requests.post(
        f"{api}/search/jql",
        auth=AUTH,
        json={"jql": "project in (ANA) AND updated >= 0", "maxResults": 5000, "fields": ["id"]},
    )
    assert len(ids_only.json()["issues"]) == 40
    assert set(ids_only.json()["issues"][0]) == {"id"}


def test_removed_search_and_start_at(api: str) -> None:
    gone = requests.get(f"{api}/search", auth=AUTH, params={"jql": "project = ANA"})
    assert gone.status_code == 410
    assert gone.json()["errorMessages"][0].startswith("The requested API has been removed.")
    bad = requests.post(f"{api}/search/jql", auth=AUTH, json={"jql": "project = ANA", "startAt": 0})
    assert bad.status_code == 400


def test_issue_fields_edit_and_comment(client: JIRA, api: str) -> None:
    fields = {f["name"]: f["id"] for f in client.fields()}
    assert fields["Customer Requests"] == "customfield_10050"
    issue = requests.get(f"{api}/issue/ANA-2", auth=AUTH).json()
    assert issue["fields"]["description"]["type"] == "doc"
    assert issue["fields"]["customfield_10051"] is None
    assert issue["fields"]["status"]["statusCategory"]["key"] in {"new", "indeterminate", "done"}
    before = issue["fields"]["updated"]
    edit = requests.put(
        f"{api}/issue/ANA-2",
        auth=AUTH,
        json={"fields": {"customfield_10051": 125000.0}, "update": {"labels": [{"add": "demand"}]}},
    )
    assert edit.status_code == 204
    after = requests.get(
        f"{api}/issue/ANA-2", auth=AUTH, params={"fields": "labels,updated,customfield_10051"}
    ).json()
    assert set(after["fields"]) == {"labels", "updated", "customfield_10051"}
    assert "demand" in after["fields"]["labels"] and after["fields"]["updated"] > before
    unknown = requests.put(f"{api}/issue/ANA-2", auth=AUTH, json={"fields": {"status": "x"}})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "errorMessages": [],
        "errors": {
            "status": "Field 'status' cannot be set. It is not on the appropriate screen, "
            "or unknown."
        },
    }
    comment = client.add_comment("ANA-2", "Demand summary")  # API v2: plain text body
    assert comment.body == "Demand summary"
    posted = requests.post(f"{api}/issue/ANA-2/comment", auth=AUTH, json={"body": ADF})
    assert posted.status_code == 201 and posted.json()["body"] == ADF
    assert (
        requests.post(f"{api}/issue/ANA-2/comment", auth=AUTH, json={"body": "plain"}).status_code
        == 400
    )
    changed = dict(
        ADF, content=[{"type": "paragraph", "content": [{"type": "text", "text": "Edited"}]}]
    )
    put = requests.put(
        f"{api}/issue/ANA-2/comment/{posted.json()['id']}", auth=AUTH, json={"body": changed}
    )
    assert put.status_code == 200 and put.json()["body"] == changed
    listing = requests.get(
        f"{api}/issue/ANA-2/comment", auth=AUTH, params={"maxResults": 1, "startAt": 1}
    ).json()
    assert listing["total"] == 2 and len(listing["comments"]) == 1
    missing = requests.get(f"{api}/issue/ANA-999", auth=AUTH)
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_properties_and_remote_links(api: str) -> None:
    url = f"{api}/issue/ANA-3/properties/pmsync.demand"
    assert requests.get(url, auth=AUTH).status_code == 404
    assert requests.put(url, auth=AUTH, json={"requests": 4}).status_code == 201
    assert requests.put(url, auth=AUTH, json={"requests": 5}).status_code == 200
    assert requests.get(url, auth=AUTH).json() == {"key": "pmsync.demand", "value": {"requests": 5}}
    too_big = requests.put(url, auth=AUTH, json={"x": "y" * 40000})
    assert too_big.status_code == 400
    keys = requests.get(f"{api}/issue/ANA-3/properties", auth=AUTH).json()["keys"]
    assert [k["key"] for k in keys] == ["pmsync.demand"]
    link: dict[str, Any] = {
        "globalId": "zendesk:ticket:1",
        "object": {"url": "https://x", "title": "T1"},
    }
    assert requests.post(f"{api}/issue/ANA-3/remotelink", auth=AUTH, json=link).status_code == 201
    link["object"]["title"] = "T1 renamed"
    assert requests.post(f"{api}/issue/ANA-3/remotelink", auth=AUTH, json=link).status_code == 200
    links = requests.get(f"{api}/issue/ANA-3/remotelink", auth=AUTH).json()
    assert [x["object"]["title"] for x in links] == ["T1 renamed"]


def test_an_edit_stores_its_properties_as_the_properties_endpoint_does(api: str) -> None:
    """pmsync sends its property inside the issue edit: it must read back wherever the
    endpoint's does (the property, the issue's and the search's `properties`), and, like
    the endpoint, leave `updated` alone."""
    issue = f"{api}/issue/ANA-5"
    before = requests.get(issue, auth=AUTH, params={"fields": "updated"}).json()["fields"]
    value = {"requests": 7, "customers": ["Acme", "Globex"]}
    member = {"key": "pmsync.demand", "value": value}

    edit = requests.put(issue, auth=AUTH, json={"properties": [member]})

    assert edit.status_code == 204
    assert requests.get(f"{issue}/properties/pmsync.demand", auth=AUTH).json() == member
    shown = requests.get(
        issue, auth=AUTH, params={"fields": "updated", "properties": "pmsync.demand"}
    ).json()
    assert shown["properties"] == {"pmsync.demand": value} and shown["fields"] == before
    found = requests.get(
        f"{api}/search/jql",
        auth=AUTH,
        params={"jql": "project = ANA", "fields": "key", "properties": "pmsync.demand"},
    ).json()["issues"]
    assert next(i for i in found if i["key"] == "ANA-5")["properties"] == {"pmsync.demand": value}


@pytest.mark.parametrize(
    "properties",
    [
        {"key": "pmsync.demand", "value": 1},  # not a list
        [{"key": 5, "value": 1}],
        [{"key": "pmsync.demand"}],  # no value
        [{"key": "k" * 256, "value": 1}],
        [{"key": "pmsync.demand", "value": "y" * 40000}],
    ],
)
def test_an_edit_with_a_malformed_property_is_a_400_and_changes_nothing(
    api: str, properties: Any
) -> None:
    """A bad `properties` member is refused as Jira refuses a bad payload, and the
    fields sent with it are not applied either."""
    issue = f"{api}/issue/ANA-6"
    body = {"fields": {"customfield_10050": 99}, "properties": properties}

    edit = requests.put(issue, auth=AUTH, json=body)

    assert edit.status_code == 400
    answer = edit.json()
    assert answer["errors"] == {} and len(answer["errorMessages"]) == 1
    shown = requests.get(issue, auth=AUTH, params={"fields": "customfield_10050"}).json()
    assert shown["fields"]["customfield_10050"] != 99
    assert requests.get(f"{issue}/properties", auth=AUTH).json()["keys"] == []


class Deliveries(BaseHTTPRequestHandler):
    received: list[Any] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_property_set_in_an_edit_sends_the_endpoints_webhook() -> None:
    """pmsync recognises its own property write by the `issue_property_set` webhook; the
    edit that now carries the property must send it as the endpoint did."""
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Deliveries)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_port}"
    try:
        with start_sandbox(seed=7, webhook_url=hook) as sandbox:
            issue = f"{sandbox.url}/jira/rest/api/3/issue/ANA-1"
            value = {"requests": 3}
            requests.put(f"{issue}/properties/pmsync.demand", auth=AUTH, json=value)
            member = {"key": "pmsync.demand", "value": value}
            edit = requests.put(
                issue, auth=AUTH, json={"fields": {"customfield_10050": 3}, "properties": [member]}
            )
            assert edit.status_code == 204
            log = requests.get(f"{sandbox.url}/_sandbox/webhooks", params={"wait": 1}).json()
            assert log["pending"] == 0
        by_property, by_edit, *rest = Deliveries.received
        assert by_property["webhookEvent"] == "issue_property_set"
        assert by_edit["webhookEvent"] == "jira:issue_updated"
        assert [d["webhookEvent"] for d in rest] == ["issue_property_set"]
        assert {k: v for k, v in rest[0].items() if k != "timestamp"} == {
            k: v for k, v in by_property.items() if k != "timestamp"
        }
    finally:
        receiver.shutdown()


def test_wrong_credentials_are_refused(server: SandboxServer) -> None:
    response = requests.get(
        f"{server.url}/jira/rest/api/3/issue/ANA-1", auth=("demo@example.com", "wrong")
    )
    assert response.status_code == 401
    assert response.json()["errorMessages"][0].startswith("You are not authenticated")


# -- what independent clients read: projects, fields, JQL as people write it ------------------


def test_package_reads_projects_and_pages_project_search(client: JIRA) -> None:
    """`project`, `project/{key}` and the paged `project/search` (isLast, projectTypeKey),
    read through the `jira` package's own paging."""
    from jira.resources import Project

    [project] = client.projects()
    assert (project.key, project.projectTypeKey) == ("ANA", "software")
    assert client.project("ANA").name == project.name
    found = client._fetch_pages(Project, "values", "project/search", 0, 50, {"keys": "ANA"})
    assert [p.key for p in found] == ["ANA"]
    assert found[0].raw["projectTypeKey"] == "software"
    none = client._fetch_pages(Project, "values", "project/search", 0, 50, {"typeKey": "business"})
    assert list(none) == []


def _keys(client: JIRA, jql: str, **options: Any) -> list[str]:
    page: Any = client.enhanced_search_issues(
        jql,
        fields=["summary", "status", "updated", "customfield_10051"],
        maxResults=100,
        json_result=True,
        **options,
    )
    return [issue["key"] for issue in page["issues"]]


def test_jql_dates_statuses_and_custom_order_through_the_package(client: JIRA, api: str) -> None:
    """Dates as people write them (in the user's zone, UTC here), relative periods, status
    and statusCategory clauses, and ORDER BY a custom field by name or cf[id]."""
    everything = _keys(client, "project = ANA")
    assert len(everything) == 40
    for literal in ('"2000-01-01 00:00"', '"2000/01/01"', "2000-01-01", "-5200w"):
        assert sorted(_keys(client, f"project = ANA AND updated >= {literal}")) == sorted(
            everything
        )
    assert _keys(client, 'project = ANA AND updated >= "2999/01/01"') == []
    requests.put(f"{api}/issue/ANA-7", auth=AUTH, json={"fields": {"customfield_10051": 9.0}})
    recent = _keys(client, "project = ANA AND updated > -1h")
    assert "ANA-7" in recent and len(recent) < 40
    done = _keys(client, "project = ANA AND statusCategory = Done")
    not_done = _keys(client, 'project = ANA AND status not in ("Done")')
    assert done and not_done and sorted(done + not_done) == sorted(everything)
    assert _keys(client, "project = ANA AND status != Done") == not_done
    assert set(_keys(client, 'status in ("To Do", "In Progress")')) == set(not_done)
    requests.put(f"{api}/issue/ANA-3", auth=AUTH, json={"fields": {"customfield_10051": 5.0}})
    by_name = _keys(client, 'project = ANA ORDER BY "Customer Revenue" DESC')
    by_id = _keys(client, "project = ANA ORDER BY cf[10051] DESC")
    assert by_name == by_id
    assert by_name.index("ANA-7") + 1 == by_name.index("ANA-3")
    # Issues with no value sort after those with one, ascending (before, descending).
    ascending = _keys(client, "project = ANA ORDER BY cf[10051] ASC")
    assert ascending.index("ANA-3") + 1 == ascending.index("ANA-7") < ascending.index("ANA-1")


def test_search_expands_changelog_transitions_and_rendered_fields(api: str) -> None:
    answer = requests.get(
        f"{api}/search/jql",
        auth=AUTH,
        params={
            "jql": "project = ANA AND statusCategory = Done",
            "fields": "summary,description,updated",
            "expand": "changelog,transitions,renderedFields",
            "maxResults": 1,
        },
    ).json()
    [issue] = answer["issues"]
    assert issue["changelog"]["total"] == len(issue["changelog"]["histories"]) >= 1
    assert issue["changelog"]["histories"][-1]["items"][0]["toString"] == "Done"
    assert {t["name"] for t in issue["transitions"]} == {"To Do", "In Progress", "Done"}
    assert issue["renderedFields"]["description"].startswith("<p>")
    assert set(issue["renderedFields"]) == set(issue["fields"])


def test_unknown_routes_answer_jiras_json_404(api: str) -> None:
    answer = requests.get(f"{api}/no/such/thing", auth=AUTH)
    assert answer.status_code == 404
    assert answer.json()["errorMessages"] and answer.json()["errors"] == {}


def test_absolute_urls_follow_the_proxy(server: SandboxServer) -> None:
    """Behind a proxy, `self` and next-page links use the host, scheme and prefix the client
    used (X-Forwarded-Host/-Proto/-Prefix), for every tool."""
    headers = {
        "X-Forwarded-Host": "jira.example.com",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Prefix": "/sandbox",
    }
    issue = requests.get(
        f"{server.url}/jira/rest/api/3/issue/ANA-1", auth=AUTH, headers=headers
    ).json()
    assert issue["self"] == "https://jira.example.com/sandbox/jira/rest/api/3/issue/" + issue["id"]
    page = requests.get(
        f"{server.url}/zendesk/api/v2/organizations.json",
        auth=("demo@example.com/token", "sandbox"),
        params={"per_page": 1},
        headers=headers,
    ).json()
    assert page["next_page"].startswith("https://jira.example.com/sandbox/zendesk/api/v2/")


@pytest.mark.parametrize(("tenant", "status"), [("full", 204), ("minimal", 403)])
def test_notify_users_false_needs_an_admin(tenant: str, status: int) -> None:
    """Discarding the watchers' mail needs admin rights: a tenant whose API user is no
    admin gets Jira's 403; an admin's quiet edit sends no mail, a plain edit does."""
    running = start_sandbox(seed=7, tenant=tenant)
    try:
        api = running.url + "/jira/rest/api/3"
        mail = running.app.state.sandbox.jira.mail
        quiet = requests.put(
            f"{api}/issue/ANA-2",
            auth=AUTH,
            params={"notifyUsers": "false"},
            json={"fields": {"customfield_10050": 3}},
        )
        assert quiet.status_code == status
        if status == 403:
            assert "admin" in quiet.json()["errorMessages"][0]
        assert mail == []
        loud = requests.put(
            f"{api}/issue/ANA-2", auth=AUTH, json={"fields": {"customfield_10050": 4}}
        )
        assert loud.status_code == 204 and mail == [("ANA-2", "issue_updated")]
        permissions = requests.get(
            f"{api}/mypermissions",
            auth=AUTH,
            params={"projectKey": "ANA", "permissions": "EDIT_ISSUES,ADMINISTER_PROJECTS"},
        ).json()["permissions"]
        assert permissions["EDIT_ISSUES"]["havePermission"] is True
        assert permissions["ADMINISTER_PROJECTS"]["havePermission"] is (tenant == "full")
    finally:
        running.stop()


def test_messy_tenant_has_a_service_desk_and_real_descriptions() -> None:
    """The messy tenant: a Jira Service Management project, an issue without description
    or components, mentions, emoji, smart links, statuses, dates and non-ASCII text; a
    comment with sd.public.comment internal is not public."""
    running = start_sandbox(seed=7, tenant="messy")
    try:
        api = running.url + "/jira/rest/api/3"
        [project] = requests.get(f"{api}/project/search", auth=AUTH).json()["values"]
        assert project["projectTypeKey"] == "service_desk"
        issues = requests.get(
            f"{api}/search/jql",
            auth=AUTH,
            params={"jql": "statusCategory = Done", "fields": "description,components"},
        ).json()["issues"]
        fields = [i["fields"] for i in issues]
        assert any(f["description"] is None and f["components"] == [] for f in fields)
        nodes = json.dumps([f["description"] for f in fields], ensure_ascii=False)
        for kind in ("mention", "emoji", "inlineCard", "status", "date", "Ångström"):
            assert kind in nodes
        posted = requests.post(
            f"{api}/issue/ANA-1/comment",
            auth=AUTH,
            json={
                "body": ADF,
                "properties": [{"key": "sd.public.comment", "value": {"internal": True}}],
            },
        )
        assert posted.status_code == 201 and posted.json()["jsdPublic"] is False
        listed = requests.get(
            f"{api}/issue/ANA-1/comment", auth=AUTH, params={"expand": "properties"}
        ).json()["comments"][-1]
        assert listed["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    finally:
        running.stop()
