"""Maintained client packages against the sandbox, so its contracts are the vendors' and not
shaped to pmsync's own client (the `jira` package is in test_sandbox_jira.py).

Neither package takes an arbitrary base URL as such: zenpy builds https://{subdomain}.{domain}
but honours its ZENPY_FORCE_NETLOC / ZENPY_FORCE_SCHEME overrides; simple-salesforce always
speaks https to {domain}.salesforce.com or to the instance, so a transport adapter on its
session reroutes those URLs to the plain-HTTP sandbox. Paths and bodies are untouched.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from sandbox.server import SandboxServer, start_sandbox
from sandbox.world import generate

zenpy = pytest.importorskip("zenpy", reason="zenpy is a dev extra: pip install -e '.[dev]'")
simple_salesforce = pytest.importorskip(
    "simple_salesforce", reason="simple-salesforce is a dev extra: pip install -e '.[dev]'"
)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7, scale=10) as running:
        yield running


def test_zenpy_exports_reads_and_comments(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", f"{server.url.removeprefix('http://')}/zendesk")
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    from zenpy.lib.api_objects import Comment

    client = zenpy.Zenpy(subdomain="sandbox", email="demo@example.com", token="sandbox")
    exported = list(client.tickets.incremental(start_time=0, paginate_by_time=False))
    ids = [t.id for t in exported]
    assert len(ids) == len(set(ids)) == len(generate(7, scale=10).of_tool("zendesk"))
    ticket = client.tickets(id=next(t.id for t in exported if t.status != "closed"))
    assert ticket.requester.email and ticket.subject
    ticket.comment = Comment(body="ANA-3 shipped", public=False)
    client.tickets.update(ticket)
    comments = list(client.tickets.comments(ticket=ticket.id))
    assert comments[-1].body == "ANA-3 shipped" and comments[-1].public is False
    organizations = list(client.organizations())
    assert organizations and all(o.domain_names for o in organizations)


def test_zenpy_reads_users_and_jira_links(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Users as listed and as exported (zenpy follows the cursor export), and the Jira
    links through the link list zenpy knows (the deprecated `/api/services/jira/links`)."""
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", f"{server.url.removeprefix('http://')}/zendesk")
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    client = zenpy.Zenpy(subdomain="sandbox", email="demo@example.com", token="sandbox")
    world = generate(7, scale=10)
    people = {p.id for p in world.people if p.tool == "zendesk"}
    listed = [u.id for u in client.users()]
    exported = [u.id for u in client.users.incremental(start_time=0)]
    assert len(listed) == len(set(listed)) and set(listed) >= people
    assert sorted(exported) == sorted(listed)
    links = list(client.jira_links())
    assert {(str(x.ticket_id), x.issue_key) for x in links} == {
        (str(x.ticket_id), x.issue_key) for x in world.jira_links
    }


class Reroute(HTTPAdapter):
    """https://<anything>.salesforce.com/... and https://<sandbox>/... to the sandbox."""

    def __init__(self, sandbox: str) -> None:
        super().__init__()
        self.sandbox = sandbox

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = str(request.url)
        host, _, path = url.removeprefix("https://").partition("/")
        if host.endswith(".salesforce.com"):
            request.url = f"{self.sandbox}/salesforce/{path}"
        else:
            request.url = f"http://{host}/{path}"
        return super().send(request, **kwargs)


def logged_in_salesforce(
    server: SandboxServer,
) -> tuple[simple_salesforce.Salesforce, requests.Session]:
    """simple_salesforce logged in by client credentials, and its session rerouted to the
    sandbox."""
    session = requests.Session()
    session.mount("https://", Reroute(server.url))
    client = simple_salesforce.Salesforce(
        consumer_key="demo@example.com",
        consumer_secret="sandbox",
        domain="sandbox",  # client credentials against a My Domain
        session=session,
        version="60.0",
    )
    return client, session


def test_simple_salesforce_logs_in_queries_and_creates_a_task(server: SandboxServer) -> None:
    client, session = logged_in_salesforce(server)
    batch = {"headers": {"Sforce-Query-Options": "batchSize=200"}}
    query = "SELECT Id, Amount, SystemModstamp FROM Opportunity ORDER BY SystemModstamp, Id"
    records = client.query_all(query, **batch)["records"]
    expected = sum(d.crm == "salesforce" for d in generate(7, scale=10).deals)
    assert len(records) == len({r["Id"] for r in records}) == expected > 200
    assert client.api_usage["api-usage"].used >= 2  # two batches: nextRecordsUrl was followed
    assert client.Opportunity.get(records[0]["Id"])["Id"] == records[0]["Id"]
    task = client.Task.create({"Subject": "ANA-3 shipped", "WhatId": records[0]["Id"]})
    assert task["success"] is True and task["id"].startswith("00T")
    direct = simple_salesforce.Salesforce(
        instance=f"{server.url.removeprefix('http://')}/salesforce",
        session_id=client.session_id,
        session=session,
        version="60.0",
    )
    accounts = list(direct.query_all_iter("SELECT Id, Name FROM Account", include_deleted=True))
    assert accounts and all(a["attributes"]["type"] == "Account" for a in accounts)
    with pytest.raises(simple_salesforce.exceptions.SalesforceMalformedRequest):
        direct.query("SELECT Id FROM Opportunity WHERE SystemModstamp >= '2024-01-01T00:00:00Z'")


def test_simple_salesforce_describes_the_org_and_reads_its_limits(server: SandboxServer) -> None:
    """What a client does before it queries: the objects, their fields, the API usage."""
    client, _ = logged_in_salesforce(server)
    objects = {o["name"]: o for o in client.describe()["sobjects"]}
    assert objects["Opportunity"]["keyPrefix"] == "006" and objects["Opportunity"]["queryable"]
    fields = {f["name"]: f for f in client.Opportunity.describe()["fields"]}
    assert fields["Amount"]["type"] == "currency" and fields["Jira_Issue_Keys__c"]["custom"]
    assert fields["SystemModstamp"]["type"] == "datetime" and not fields["Id"]["nillable"]
    limits = client.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert 0 < limits["DailyApiRequests"]["Remaining"] < 100_000
    records = client.query_all("SELECT Id, Name, Website FROM Account")["records"]
    assert len(records) == sum(
        a.salesforce_account_id is not None for a in generate(7, scale=10).accounts
    )
    with pytest.raises(simple_salesforce.exceptions.SalesforceResourceNotFound):
        client.Lead.describe()
