"""Salesforce contract: client-credentials and refresh-token OAuth, SOQL query/queryAll with
nextRecordsUrl and batch sizes, a (SystemModstamp, Id) cursor over ties, honest parse errors,
deletes only in queryAll, the daily limit as a 403, Task creation, describe, versions and
limits, and each tenant profile's org (no custom field, several currencies, messy data)."""

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_session import salesforce_token

from sandbox import salesforce as salesforce_sandbox
from sandbox.server import SandboxServer, start_sandbox

FIELDS = "Id, Name, Amount, StageName, CloseDate, AccountId, IsClosed, IsWon, SystemModstamp"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with start_sandbox(seed=7, scale=10) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Iterator[requests.Session]:
    requests.post(f"{server.url}/_sandbox/reset", json={"seed": 7}).raise_for_status()
    token = salesforce_token(server.url).json()
    assert token["token_type"] == "Bearer" and token["instance_url"].endswith("/salesforce")
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token['access_token']}"
        session.instance = token["instance_url"]  # type: ignore[attr-defined]
        yield session
    requests.post(
        f"{server.url}/_sandbox/config",
        json={"salesforce_daily_limit": 100_000, "salesforce_session_s": 7200},
    ).raise_for_status()


def soql(
    api: requests.Session, text: str, endpoint: str = "query", batch: int = 2000
) -> list[dict[str, Any]]:
    """Every record, following nextRecordsUrl (relative to the instance) until done."""
    base = api.instance  # type: ignore[attr-defined]
    headers = {"Sforce-Query-Options": f"batchSize={batch}"}
    body = api.get(
        f"{base}/services/data/v60.0/{endpoint}", params={"q": text}, headers=headers
    ).json()
    records, urls = list(body["records"]), set()
    while not body["done"]:
        assert body["nextRecordsUrl"] not in urls
        urls.add(body["nextRecordsUrl"])
        assert body["nextRecordsUrl"].startswith(f"/services/data/v60.0/{endpoint}/01g")
        body = api.get(base + body["nextRecordsUrl"]).json()
        records += body["records"]
    assert "nextRecordsUrl" not in body and body["totalSize"] == len(records)
    return records


def test_token_errors(server: SandboxServer) -> None:
    url = f"{server.url}/salesforce/services/oauth2/token"
    bad = requests.post(
        url, data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }
    assert requests.post(url, data={"grant_type": "password"}).json()["error"] == (
        "unsupported_grant_type"
    )


def test_query_pages_by_batch_size_until_done(api: requests.Session) -> None:
    everything = soql(
        api, f"SELECT {FIELDS} FROM Opportunity ORDER BY SystemModstamp, Id", batch=200
    )
    assert len(everything) == len({r["Id"] for r in everything}) > 200
    first = everything[0]
    assert first["attributes"]["type"] == "Opportunity"
    assert first["attributes"]["url"] == f"/services/data/v60.0/sobjects/Opportunity/{first['Id']}"
    assert len(first["Id"]) == 18 and first["Id"].startswith("006")
    assert isinstance(first["Amount"], float) and isinstance(first["IsWon"], bool)
    keys = [(r["SystemModstamp"], r["Id"]) for r in everything]
    assert keys == sorted(keys)
    accounts = soql(api, "SELECT Id, Name, Website, AnnualRevenue FROM Account")
    assert {r["AccountId"] for r in everything} <= {a["Id"] for a in accounts}
    assert (
        soql(api, "SELECT Id FROM Opportunity ORDER BY Id LIMIT 7")
        == soql(api, "SELECT Id FROM Opportunity ORDER BY Id")[:7]
    )


def test_compound_cursor_resumes_inside_a_shared_timestamp(api: requests.Session) -> None:
    """Many records share one SystemModstamp (a bulk edit): `>` alone would skip the rest
    of the tie, `>=` alone would loop; (timestamp, Id) resumes exactly."""
    everything = soql(api, "SELECT Id, SystemModstamp FROM Opportunity ORDER BY SystemModstamp, Id")
    stamp, count = Counter(r["SystemModstamp"] for r in everything).most_common(1)[0]
    assert count >= 3
    tie = [r for r in everything if r["SystemModstamp"] == stamp]
    literal = stamp.replace(".000+0000", "Z")
    resumed = soql(
        api,
        "SELECT Id, SystemModstamp FROM Opportunity WHERE (SystemModstamp > "
        f"{literal} OR (SystemModstamp = {literal} AND Id > '{tie[0]['Id']}')) "
        "ORDER BY SystemModstamp, Id",
    )
    position = everything.index(tie[0])
    assert [r["Id"] for r in resumed] == [r["Id"] for r in everything[position + 1 :]]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (
            "SELECT Id FROM Opportunity WHERE SystemModstamp >= '2024-01-01T00:00:00Z'",
            "MALFORMED_QUERY",
        ),
        (
            "SELECT Id FROM Opportunity WHERE IsWon = true OR IsClosed = true AND Id > 'x'",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id FROM Opportunity WHERE SystemModstamp >= 2024-01-01", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity ORDER BY", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM Opportunity", "MALFORMED_QUERY"),
        ("DELETE FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT Id, Colour FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Lead", "INVALID_TYPE"),
    ],
)
def test_soql_errors(api: requests.Session, query: str, code: str) -> None:
    base = api.instance  # type: ignore[attr-defined]
    response = api.get(f"{base}/services/data/v60.0/query", params={"q": query})
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code and error["message"]


def test_deletes_show_only_in_query_all(server: SandboxServer, api: requests.Session) -> None:
    before = soql(api, "SELECT Id, SystemModstamp FROM Opportunity ORDER BY SystemModstamp, Id")
    victim = before[0]
    requests.post(
        f"{server.url}/_sandbox/delete",
        json={"tool": "salesforce", "kind": "opportunity", "id": victim["Id"]},
    ).raise_for_status()
    after = soql(api, "SELECT Id FROM Opportunity")
    assert victim["Id"] not in {r["Id"] for r in after} and len(after) == len(before) - 1
    deleted = soql(
        api,
        "SELECT Id, IsDeleted, SystemModstamp FROM Opportunity WHERE IsDeleted = true",
        endpoint="queryAll",
    )
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(victim["Id"], True)]
    assert deleted[0]["SystemModstamp"] > victim["SystemModstamp"]
    assert len(soql(api, "SELECT Id FROM Opportunity", endpoint="queryAll")) == len(before)
    base = api.instance  # type: ignore[attr-defined]
    gone = api.get(f"{base}/services/data/v60.0/sobjects/Opportunity/{victim['Id']}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_usage_header_daily_limit_and_sessions(
    server: SandboxServer, api: requests.Session
) -> None:
    base = f"{api.instance}/services/data/v60.0/query"  # type: ignore[attr-defined]
    first = api.get(base, params={"q": "SELECT Id FROM Account LIMIT 1"})
    used = int(first.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
    assert first.headers["Sforce-Limit-Info"] == f"api-usage={used}/100000"
    requests.post(f"{server.url}/_sandbox/config", json={"salesforce_daily_limit": used + 1})
    assert api.get(base, params={"q": "SELECT Id FROM Account"}).status_code == 200
    over = api.get(base, params={"q": "SELECT Id FROM Account"})
    assert over.status_code == 403  # the daily limit is not a 429: retrying soon won't help
    assert over.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert over.headers["Sforce-Limit-Info"] == f"api-usage={used + 2}/{used + 1}"
    invalid = requests.get(base, headers={"Authorization": "Bearer expired"}, params={"q": "x"})
    assert invalid.status_code == 401
    assert invalid.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    requests.post(f"{server.url}/_sandbox/config", json={"salesforce_session_s": 1})
    time.sleep(1.1)
    assert api.get(base, params={"q": "SELECT Id FROM Account"}).status_code == 401


def test_task_on_an_opportunity(api: requests.Session) -> None:
    base = f"{api.instance}/services/data/v60.0"  # type: ignore[attr-defined]
    deal = soql(api, "SELECT Id FROM Opportunity LIMIT 1")[0]
    created = api.post(
        f"{base}/sobjects/Task",
        json={"Subject": "ANA-3 shipped", "WhatId": deal["Id"], "Status": "Completed"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == [] and body["id"].startswith("00T")
    tasks = soql(api, f"SELECT Id, Subject, WhatId FROM Task WHERE WhatId = '{deal['Id']}'")
    assert [(t["Id"], t["Subject"]) for t in tasks] == [(body["id"], "ANA-3 shipped")]
    unknown = api.post(f"{base}/sobjects/Task", json={"Colour": "red"})
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    orphan = api.post(
        f"{base}/sobjects/Task", json={"Subject": "x", "WhatId": "006000000000000AAA"}
    )
    assert orphan.status_code == 400


def test_accounts_changed_or_deleted_since_a_time(
    server: SandboxServer, api: requests.Session
) -> None:
    """What an incremental accounts read relies on: one queryAll with `SystemModstamp >=
    <literal>` in (SystemModstamp, Id) order names the accounts changed since then and,
    with IsDeleted = true, those deleted since then (which `query` no longer shows)."""
    every = soql(api, "SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")
    changed, deleted = every[0]["Id"], every[1]["Id"]
    admin = f"{server.url}/_sandbox"
    requests.post(
        f"{admin}/update",
        json={"tool": "salesforce", "kind": "account", "id": changed, "changes": {"Name": "X"}},
    ).raise_for_status()
    requests.post(
        f"{admin}/delete", json={"tool": "salesforce", "kind": "account", "id": deleted}
    ).raise_for_status()
    newest = max(r["SystemModstamp"] for r in every).replace(".000+0000", "Z")
    statement = (
        "SELECT Id, Name, Website, SystemModstamp, IsDeleted FROM Account "
        f"WHERE SystemModstamp > {newest} ORDER BY SystemModstamp, Id"
    )

    found = soql(api, statement, endpoint="queryAll")

    assert [(r["Id"], r["IsDeleted"]) for r in found] == [(changed, False), (deleted, True)]
    assert found[0]["Name"] == "X"
    assert [r["Id"] for r in soql(api, statement)] == [changed]


# -- what an org says about itself, per tenant profile ---------------------------------------


def session_on(server: SandboxServer) -> tuple[str, dict[str, str]]:
    """(the instance URL, the Authorization header) of a fresh client-credentials session."""
    token = salesforce_token(server.url).json()
    return token["instance_url"], {"Authorization": f"Bearer {token['access_token']}"}


def query_all(server: SandboxServer, text: str) -> list[dict[str, Any]]:
    base, auth = session_on(server)
    body = requests.get(f"{base}/services/data/v60.0/query", params={"q": text}, headers=auth)
    assert body.status_code == 200, body.text
    answer, records = body.json(), []
    records += answer["records"]
    while not answer["done"]:
        answer = requests.get(base + answer["nextRecordsUrl"], headers=auth).json()
        records += answer["records"]
    return records


@pytest.fixture(scope="module")
def tenants() -> Iterator[dict[str, SandboxServer]]:
    with (
        start_sandbox(seed=7, tenant="minimal") as minimal,
        start_sandbox(seed=7, tenant="multi-currency") as multi,
        start_sandbox(seed=7, tenant="messy") as messy,
        start_sandbox(seed=7) as full,
    ):
        yield {"minimal": minimal, "multi-currency": multi, "messy": messy, "full": full}


def test_describe_lists_the_fields_this_org_has(tenants: dict[str, SandboxServer]) -> None:
    def fields(tenant: str, sobject: str) -> dict[str, str]:
        base, auth = session_on(tenants[tenant])
        answer = requests.get(
            f"{base}/services/data/v60.0/sobjects/{sobject}/describe/", headers=auth
        )
        assert answer.status_code == 200
        assert answer.json()["name"] == sobject and answer.json()["queryable"] is True
        return {f["name"]: f["type"] for f in answer.json()["fields"]}

    full = fields("full", "Opportunity")
    assert full["Amount"] == "currency" and full["Jira_Issue_Keys__c"] == "string"
    assert "CurrencyIsoCode" not in full
    assert "Jira_Issue_Keys__c" not in fields("minimal", "Opportunity")
    assert fields("multi-currency", "Opportunity")["CurrencyIsoCode"] == "picklist"
    base, auth = session_on(tenants["full"])
    names = [
        o["name"]
        for o in requests.get(f"{base}/services/data/v60.0/sobjects", headers=auth).json()[
            "sobjects"
        ]
    ]
    assert {"Account", "Opportunity", "Task"} <= set(names) and "CurrencyType" not in names
    missing = requests.get(f"{base}/services/data/v60.0/sobjects/Lead/describe", headers=auth)
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_an_org_without_the_custom_field_refuses_a_query_naming_it(
    tenants: dict[str, SandboxServer],
) -> None:
    base, auth = session_on(tenants["minimal"])
    statement = "SELECT Id, Name, Jira_Issue_Keys__c FROM Opportunity"
    answer = requests.get(
        f"{base}/services/data/v60.0/query", params={"q": statement}, headers=auth
    )
    assert answer.status_code == 400
    assert answer.json() == [
        {
            "message": f"\n{statement}\n                 ^\nERROR at Row:1:Column:18\n"
            "No such column 'Jira_Issue_Keys__c' on entity 'Opportunity'. If you are "
            "attempting to use a custom field, be sure to append the '__c' after the custom "
            "field name. Please reference your WSDL or the describe call for the appropriate "
            "names.",
            "errorCode": "INVALID_FIELD",
        }
    ]
    assert query_all(tenants["minimal"], "SELECT Id, Name FROM Opportunity")


def test_a_multi_currency_org_converts_into_its_corporate_currency(
    tenants: dict[str, SandboxServer],
) -> None:
    """Each deal in its own currency; convertCurrency(Amount) under an alias is the world's
    amount in the corporate currency, so the sums equal a single-currency org's."""
    multi = query_all(
        tenants["multi-currency"],
        "SELECT Id, Amount, CurrencyIsoCode, convertCurrency(Amount) ConvertedAmount "
        "FROM Opportunity ORDER BY Id",
    )
    full = query_all(tenants["full"], "SELECT Id, Amount FROM Opportunity ORDER BY Id")
    assert {r["CurrencyIsoCode"] for r in multi} == {"USD", "EUR", "GBP", "JPY"}
    assert [(r["Id"], r["ConvertedAmount"]) for r in multi] == [
        (r["Id"], r["Amount"]) for r in full
    ]
    euro = next(r for r in multi if r["CurrencyIsoCode"] == "EUR")
    assert euro["Amount"] == euro["ConvertedAmount"] * 0.8
    plain = query_all(
        tenants["multi-currency"], "SELECT Id, convertCurrency(Amount) FROM Opportunity ORDER BY Id"
    )
    assert [r["Amount"] for r in plain] == [r["Amount"] for r in full]  # no alias: the field's name
    corporate = query_all(
        tenants["multi-currency"],
        "SELECT IsoCode, ConversionRate FROM CurrencyType WHERE IsCorporate = true",
    )
    assert [(r["IsoCode"], r["ConversionRate"]) for r in corporate] == [("USD", 1.0)]
    base, auth = session_on(tenants["full"])
    single = requests.get(
        f"{base}/services/data/v60.0/query",
        params={"q": "SELECT Id, convertCurrency(Amount) FROM Opportunity"},
        headers=auth,
    )
    assert single.status_code == 400 and single.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_a_messy_org_has_null_amounts_websites_and_non_ascii_names(
    tenants: dict[str, SandboxServer],
) -> None:
    deals = query_all(tenants["messy"], "SELECT Id, Name, Amount, IsClosed, IsWon FROM Opportunity")
    empty = [d for d in deals if d["Amount"] is None]
    assert empty and all(d["IsClosed"] and not d["IsWon"] for d in empty)
    assert any(not d["Name"].isascii() for d in deals)
    accounts = query_all(tenants["messy"], "SELECT Id, Website, AnnualRevenue FROM Account")
    assert any(a["Website"] is None and a["AnnualRevenue"] is None for a in accounts)
    assert all(a["Website"] for a in query_all(tenants["full"], "SELECT Website FROM Account"))


def test_versions_limits_refresh_tokens_and_unknown_routes(server: SandboxServer) -> None:
    root = f"{server.url}/salesforce"
    versions = requests.get(f"{root}/services/data/").json()  # no session needed
    assert {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"} in versions
    url = f"{root}/services/oauth2/token"
    refreshed = requests.post(
        url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": salesforce_sandbox.REFRESH_TOKEN,
            "client_id": "demo@example.com",
        },
    )
    assert refreshed.status_code == 200 and refreshed.json()["token_type"] == "Bearer"
    stale = requests.post(
        url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "5Aep8x",
            "client_id": "demo@example.com",
        },
    )
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
    auth = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    before = requests.get(f"{root}/services/data/v60.0/limits/", headers=auth).json()
    after = requests.get(f"{root}/services/data/v60.0/limits", headers=auth).json()
    assert after["DailyApiRequests"]["Remaining"] == before["DailyApiRequests"]["Remaining"] - 1
    for path in ("/services/data/v60.0/nothing", "/services/apexrest/x", "/nowhere"):
        unknown = requests.get(f"{root}{path}", headers=auth)
        assert unknown.status_code == 404
        assert unknown.json() == [
            {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
        ]


def test_pmsync_reads_an_org_without_the_custom_field_and_check_says_so(
    tenants: dict[str, SandboxServer],
) -> None:
    """The minimal tenant: the pull leaves Jira_Issue_Keys__c out, every opportunity still
    arrives, and `check` passes the tool while naming the missing feature."""
    from connectors import registry
    from connectors.salesforce.client import SalesforceConnector
    from connectors.salesforce.lookup import check_salesforce
    from connectors.settings import Settings

    settings = Settings.for_sandbox(tenants["minimal"].url)
    connector = SalesforceConnector(settings)

    pages = list(connector.pull(lambda stream: None))

    deals = {r.id for p in pages if p.kind == "deal" for r in p.records}
    assert deals == {r["Id"] for r in query_all(tenants["minimal"], "SELECT Id FROM Opportunity")}
    assert not any(p.dead for p in pages)
    assert list(connector.missing) == ["opportunity_issue_keys"]
    assert "readable" in check_salesforce(settings)
    found = {c.name: c for c in registry.vendor("salesforce").capabilities(settings)}
    assert not found["opportunity_issue_keys"].available
    assert "create the custom field Jira_Issue_Keys__c" in found["opportunity_issue_keys"].detail
    assert all(c.available for name, c in found.items() if name != "opportunity_issue_keys")


def test_pmsync_sums_a_multi_currency_org_in_its_corporate_currency(
    tenants: dict[str, SandboxServer],
) -> None:
    from connectors.salesforce.client import SalesforceConnector
    from connectors.settings import Settings

    def deals(tenant: str) -> dict[str, Any]:
        connector = SalesforceConnector(Settings.for_sandbox(tenants[tenant].url))
        pages = list(connector.pull(lambda stream: None))
        return {r.id: r for p in pages if p.kind == "deal" for r in p.records}

    multi, full = deals("multi-currency"), deals("full")
    assert {k: d.amount for k, d in multi.items()} == {k: d.amount for k, d in full.items()}
    assert {d.currency for d in multi.values()} == {"USD"}
    assert {d.currency for d in full.values()} == {None}
