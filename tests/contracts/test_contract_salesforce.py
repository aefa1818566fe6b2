"""Salesforce's contract, from answers nobody on this project wrote (tests/contracts/salesforce,
origins in its SOURCES.md): (a) every stream of the connector driven through `responses` with
them, the normalised records asserted; (b) the sandbox asked the same requests, its answers
carrying the recorded keys with the same types (and, for the errors, the same words)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from builders import SALESFORCE, RecordedSleep, sandbox_settings
from shapes import assert_same_shape, body, fixture

import connectors.salesforce.client
from connectors.http import ApiError, AuthError
from connectors.salesforce.client import DailyLimitExceeded, SalesforceConnector
from sandbox.salesforce import REFRESH_TOKEN
from sandbox.server import SandboxServer, start_sandbox

V = "/services/data/v60.0"
TOKEN_URL = f"{SALESFORCE}/services/oauth2/token"
API = re.compile(rf"{re.escape(SALESFORCE)}/services/data/.*")
SECRET = "sf-contract-secret-0123456789"


def sf(name: str) -> Any:
    return copy.deepcopy(body("salesforce", name))


def without_field(describe: dict[str, Any], name: str) -> dict[str, Any]:
    return {**describe, "fields": [f for f in describe["fields"] if f["name"] != name]}


def with_currency(describe: dict[str, Any]) -> dict[str, Any]:
    """A multi-currency org's describe: CurrencyIsoCode, a picklist, beside the fields."""
    amount = next(f for f in describe["fields"] if f["name"] == "Amount")
    iso = {**amount, "name": "CurrencyIsoCode", "label": "Opportunity Currency"}
    iso.update(type="picklist", soapType="xsd:string", length=3, precision=0, scale=0)
    return {**describe, "fields": [*describe["fields"], iso]}


class Org:
    """The recorded answers as one org: describe per object, each SOQL by what it reads."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.describes = {
            "Opportunity": sf("describe_opportunity"),
            "Account": sf("describe_account"),
        }
        self.errors: list[tuple[int, Any]] = []  # answered first, one per request
        self.statements: list[str] = []
        token = {**sf("oauth_client_credentials"), "instance_url": SALESFORCE}
        rsps.add("POST", TOKEN_URL, json=token)
        rsps.add_callback("GET", API, callback=self.reply)

    def reply(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.errors:
            status, answer = self.errors.pop(0)
            return status, {}, json.dumps(answer)
        path = urlsplit(request.url).path.removeprefix(urlsplit(SALESFORCE).path)
        described = re.fullmatch(rf"{V}/sobjects/(\w+)/describe", path)
        if described:
            return 200, {}, json.dumps(self.describes[described.group(1)])
        if path.startswith(f"{V}/query/"):
            return 200, {}, json.dumps(sf("query_opportunities_page2"))
        statement = parse_qs(urlsplit(request.url).query)["q"][0]
        self.statements.append(statement)
        if "FROM CurrencyType" in statement:
            name = "query_currency_type"
        elif "FROM Account" in statement:
            name = "query_accounts"
        elif path.endswith("/queryAll"):
            name = "query_all_deleted_opportunities"
        elif "convertCurrency" in statement:
            name = "query_opportunities_multicurrency"
        else:
            name = "query_opportunities_page1"
        return 200, {}, json.dumps(sf(name))


@pytest.fixture
def org() -> Iterator[Org]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield Org(rsps)


def connector(**settings: Any) -> SalesforceConnector:
    settings.setdefault("salesforce_client_secret", SECRET)
    return SalesforceConnector(sandbox_settings(**settings), sleep=RecordedSleep())


# -- (a) the connector on the recorded answers ------------------------------------------------


def test_every_stream_normalises_the_recorded_answers(org: Org) -> None:
    salesforce = connector(revenue_from="crm_field")

    pages = list(salesforce.pull(lambda stream: None))

    accounts = [r for p in pages if p.kind == "account" for r in p.records]
    assert [(a.id, a.name, a.domains, a.revenue) for a in accounts] == [
        ("001D000000IRFmaIAH", "Test 1", ("test1.example.com",), Decimal("350000000.0")),
        ("001D000000IomazIAB", "Test 2 – Société Générale", (), None),
    ]
    assert accounts[1].updated_at == datetime(2024, 5, 1, 10, 20, 31, tzinfo=UTC)
    deals = [r for p in pages if p.kind == "deal" for r in p.records]
    assert [(d.id, d.amount, d.probability, d.account_ids, d.issue_keys) for d in deals] == [
        (
            "0065e00000CvHQ1AAN",
            Decimal("15000.0"),
            0.1,
            ("0015e00000OqyJWAAZ",),
            ("ANA-12", "ANA-14"),
        ),
        ("0065e00000CvHQ2AAN", None, None, ("0015e00000OqyJXAAZ",), ()),
        ("0065e00000CvHQ3AAN", Decimal("86750.5"), 1.0, (), ("ANA-7", "OPS-101")),
    ]
    first, _, won = deals
    assert first.close_date == datetime(2024, 6, 30, tzinfo=UTC)  # a date, as midnight UTC
    assert first.updated_at == datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)  # "+0000"
    assert (first.stage, first.is_closed, first.currency) == ("Qualification", False, None)
    assert (won.name, won.is_won, won.stage) == (
        "Grand Hôtels – Küchengenerator 東京",
        True,
        "Closed Won",
    )
    assert won.url == f"{SALESFORCE}/lightning/r/Opportunity/0065e00000CvHQ3AAN/view"
    assert [i for p in pages for i in p.deleted_ids] == ["0065e00000CvHQ9AAN"]
    assert "Jira_Issue_Keys__c" in org.statements[1] and salesforce.missing == {}


def test_an_org_without_the_custom_field_still_reads_its_deals(org: Org) -> None:
    org.describes["Opportunity"] = without_field(org.describes["Opportunity"], "Jira_Issue_Keys__c")
    salesforce = connector()

    pages = list(salesforce.pull(lambda stream: None))

    assert all("Jira_Issue_Keys__c" not in s for s in org.statements)
    deals = [r for p in pages if p.kind == "deal" for r in p.records]
    assert len(deals) == 3 and deals[0].amount == Decimal("15000.0")
    assert "Jira_Issue_Keys__c" in salesforce.missing["opportunity_issue_keys"]


def test_a_multi_currency_org_sums_the_converted_amounts(org: Org) -> None:
    org.describes["Opportunity"] = with_currency(org.describes["Opportunity"])
    salesforce = connector()
    salesforce.authenticate()

    deals = [r for page in salesforce.opportunities(None) for r in page.records]

    # 8,000 EUR and 1,500,000 JPY are each 10,000 in the corporate currency.
    assert [(d.amount, d.currency) for d in deals] == [
        (Decimal("10000.0"), "USD"),
        (Decimal("10000.0"), "USD"),
    ]
    assert "convertCurrency(Amount) ConvertedAmount" in org.statements[-1]


@pytest.mark.parametrize(
    ("name", "raised", "words"),
    [
        ("error_invalid_field", ApiError, "No such column 'Jira_Issue_Keys__c'"),
        ("error_malformed_query", ApiError, "MALFORMED_QUERY"),
        ("error_request_limit_exceeded", DailyLimitExceeded, "24 hours"),
    ],
)
def test_a_refused_query_stops_the_pull_with_salesforce_words(
    org: Org, name: str, raised: type[Exception], words: str
) -> None:
    recorded = fixture("salesforce", name)
    salesforce = connector()
    salesforce.authenticate()
    salesforce.describe()
    org.errors.append((recorded["status"], recorded["body"]))

    with pytest.raises(raised, match=re.escape(words)):
        list(salesforce.opportunities(None))


def test_an_expired_session_is_renewed_once(org: Org) -> None:
    recorded = fixture("salesforce", "error_invalid_session_id")
    org.errors.append((recorded["status"], recorded["body"]))
    salesforce = connector()
    salesforce.authenticate()

    assert [d.id for page in salesforce.opportunities(None) for d in page.records][:1] == [
        "0065e00000CvHQ1AAN"
    ]
    org.errors += [(recorded["status"], recorded["body"])] * 2
    with pytest.raises(AuthError):
        salesforce.get(f"{V}/limits")


def test_an_object_the_user_cannot_describe_is_a_missing_capability(org: Org) -> None:
    recorded = fixture("salesforce", "error_not_found")
    org.errors.append((recorded["status"], recorded["body"]))

    found = connectors.salesforce.client.capabilities(
        sandbox_settings(salesforce_client_secret=SECRET)
    )

    assert [(c.name, c.available) for c in found] == [("opportunity_read", False)]


# -- (b) the sandbox answers the same requests alike ------------------------------------------


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, SandboxServer]]:
    with (
        start_sandbox(seed=7, scale=10) as full,
        start_sandbox(seed=7, tenant="minimal") as minimal,
        start_sandbox(seed=7, tenant="multi-currency") as multi,
    ):
        yield {"full": full, "minimal": minimal, "multi-currency": multi}


def token(server: SandboxServer, grant: str = "client_credentials") -> requests.Response:
    form = {"grant_type": grant, "client_id": "demo@example.com", "client_secret": "sandbox"}
    if grant == "refresh_token":
        form["refresh_token"] = REFRESH_TOKEN
    return requests.post(f"{server.url}/salesforce/services/oauth2/token", data=form, timeout=30)


def ask(server: SandboxServer, name: str, **headers: str) -> requests.Response:
    """The fixture's request, sent to the sandbox with a fresh session."""
    request = fixture("salesforce", name)["request"]
    session = token(server).json()
    return requests.get(
        f"{session['instance_url']}{request['path']}",
        params=request.get("params"),
        headers={"Authorization": f"Bearer {session['access_token']}", **headers},
        timeout=60,
    )


def same(name: str, served: requests.Response) -> None:
    recorded = fixture("salesforce", name)
    assert served.status_code == recorded["status"], served.text[:300]
    assert_same_shape(recorded["body"], served.json())


ROUTES = [
    ("full", "describe_global"),
    ("full", "describe_opportunity"),
    ("full", "describe_account"),
    ("full", "limits"),
    ("full", "query_accounts"),
    ("full", "error_not_found"),
    ("multi-currency", "query_opportunities_multicurrency"),
    ("multi-currency", "query_currency_type"),
]


@pytest.mark.parametrize(("tenant", "name"), ROUTES)
def test_the_sandbox_answers_each_recorded_route_alike(sandboxes, tenant: str, name: str) -> None:
    same(name, ask(sandboxes[tenant], name))


def test_the_sandbox_pages_a_query_alike(sandboxes) -> None:
    server = sandboxes["full"]
    first = ask(server, "query_opportunities_page1", **{"Sforce-Query-Options": "batchSize=200"})
    same("query_opportunities_page1", first)
    page, session = first.json(), token(server).json()
    while not page["done"]:
        answer = requests.get(
            session["instance_url"] + page["nextRecordsUrl"],
            headers={"Authorization": f"Bearer {session['access_token']}"},
            timeout=60,
        )
        page = answer.json()
    same("query_opportunities_page2", answer)


def test_the_sandbox_lists_deleted_opportunities_alike(sandboxes) -> None:
    server = sandboxes["full"]
    victim = ask(server, "query_opportunities_page1").json()["records"][0]["Id"]
    requests.post(
        f"{server.url}/_sandbox/delete",
        json={"tool": "salesforce", "kind": "opportunity", "id": victim},
        timeout=30,
    ).raise_for_status()
    served = ask(server, "query_all_deleted_opportunities")
    same("query_all_deleted_opportunities", served)
    assert victim in {r["Id"] for r in served.json()["records"]}


@pytest.mark.parametrize(
    ("tenant", "name"), [("minimal", "error_invalid_field"), ("full", "error_malformed_query")]
)
def test_the_sandbox_refuses_a_query_in_salesforce_words(sandboxes, tenant: str, name: str) -> None:
    served = ask(sandboxes[tenant], name)
    same(name, served)
    assert served.json() == fixture("salesforce", name)["body"]


def test_the_sandbox_refuses_sessions_and_the_daily_limit_alike(sandboxes) -> None:
    server = sandboxes["minimal"]
    path = fixture("salesforce", "error_invalid_session_id")["request"]["path"]
    stale = requests.get(
        f"{server.url}/salesforce{path}",
        params={"q": "SELECT Id FROM Opportunity"},
        headers={"Authorization": "Bearer 00Dxx!expired"},
        timeout=30,
    )
    same("error_invalid_session_id", stale)
    config = f"{server.url}/_sandbox/config"
    requests.post(config, json={"salesforce_daily_limit": 0}, timeout=30).raise_for_status()
    try:
        same("error_request_limit_exceeded", ask(server, "error_request_limit_exceeded"))
    finally:
        requests.post(config, json={"salesforce_daily_limit": 100_000}, timeout=30)


@pytest.mark.parametrize(
    ("grant", "name"),
    [("client_credentials", "oauth_client_credentials"), ("refresh_token", "oauth_refresh_token")],
)
def test_the_sandbox_issues_tokens_alike(sandboxes, grant: str, name: str) -> None:
    same(name, token(sandboxes["full"], grant))


def test_the_sandbox_lists_its_versions_alike(sandboxes) -> None:
    served = requests.get(f"{sandboxes['full'].url}/salesforce/services/data/", timeout=30)
    same("versions", served)
    assert {
        "label": "Spring '24",
        "url": "/services/data/v60.0",
        "version": "60.0",
    } in served.json()
