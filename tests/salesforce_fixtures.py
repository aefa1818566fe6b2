"""What the Salesforce connector tests share: the mocked org, its token endpoint and
describes, and the run's start."""

from __future__ import annotations

import json
import re

import pytest
from builders import (
    RUN_START,
    SALESFORCE,
    RecordedSleep,
    freeze_now,
    query,
    sandbox_settings,
    sf_id,
)

import connectors.salesforce.client
from connectors.salesforce.client import (
    SalesforceConnector,
)

TOKEN_URL = f"{SALESFORCE}/services/oauth2/token"
QUERIES = re.compile(rf"{re.escape(SALESFORCE)}/services/data/v60\.0/query.*")
DESCRIBES = re.compile(rf"{re.escape(SALESFORCE)}/services/data/v60\.0/sobjects/(\w+)/describe")
SECRET = "sf-Secret-8c0e7f3a9c1e5b2d4f6a"
STAMP = "2024-05-01T10:20:30.000+0000"


@pytest.fixture
def salesforce_run_start(monkeypatch):
    """The Salesforce test modules use it for every test (`pytestmark`)."""
    freeze_now(monkeypatch, connectors.salesforce.client, RUN_START)


def full_org() -> dict[str, dict[str, str]]:
    """object -> field -> describe type: an org with every field pmsync reads."""
    return {
        "Opportunity": {
            "Id": "id",
            "Name": "string",
            "Amount": "currency",
            "StageName": "picklist",
            "Probability": "percent",
            "CloseDate": "date",
            "AccountId": "reference",
            "IsClosed": "boolean",
            "IsWon": "boolean",
            "Jira_Issue_Keys__c": "string",
            "SystemModstamp": "datetime",
        },
        "Account": {
            "Id": "id",
            "Name": "string",
            "Website": "url",
            "AnnualRevenue": "currency",
            "SystemModstamp": "datetime",
        },
    }


@pytest.fixture
def org(rsps) -> dict[str, dict[str, str]]:
    """The describe endpoints answer from this (tests change it before the pull)."""
    fields = full_org()

    def reply(request):
        sobject = DESCRIBES.match(request.url).group(1)
        answer = {
            "name": sobject,
            "fields": [{"name": n, "type": t} for n, t in fields.get(sobject, {}).items()],
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    rsps.add_callback("GET", DESCRIBES, callback=reply)
    return fields


@pytest.fixture
def tokens(rsps, org) -> list[str]:
    """The token endpoint: each call issues the next token and names the instance."""
    issued: list[str] = []

    def reply(request):
        issued.append(f"tok{len(issued) + 1}")
        answer = {
            "access_token": issued[-1],
            "instance_url": SALESFORCE,
            "token_type": "Bearer",
            "issued_at": "1714558830000",
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    rsps.add_callback("POST", TOKEN_URL, callback=reply)
    return issued


def connector(sleep=None, **settings) -> SalesforceConnector:
    settings.setdefault("salesforce_client_secret", SECRET)
    return SalesforceConnector(sandbox_settings(**settings), sleep=sleep or RecordedSleep())


def opportunities(sf: SalesforceConnector, saved=None) -> list:
    sf.authenticate()
    return list(sf.opportunities(connectors.salesforce.client.Position.read(saved)))


def soql_of(call) -> str:
    return query(call)["q"][0]


def query_calls(rsps) -> list:
    return [c for c in rsps.calls if QUERIES.match(c.request.url)]


def ok(body, headers=None) -> tuple[int, dict, object]:
    return 200, headers or {}, body


def ids(pages) -> list[str]:
    return [r.id for page in pages for r in page.records]


OPP = [sf_id("006", n) for n in range(10)]  # the opportunities' ids, by number
