"""Salesforce Bulk API 2.0 query jobs (airbyte-source-salesforce reads through them): a job
from a SOQL query, its state, its rows as CSV in pages with `Sforce-Locator`, queryAll with
deleted rows, the REST API's refusal of a bad query, abort and delete."""

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_session import salesforce_token

from sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def api(server: SandboxServer) -> Iterator[tuple[str, dict[str, str]]]:
    root = f"{server.url}/salesforce"
    token = salesforce_token(server.url, timeout=10).json()["access_token"]
    yield f"{root}/services/data/v62.0/jobs/query", {"Authorization": f"Bearer {token}"}


def _rows(url: str, headers: dict[str, str], job: str, size: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    locator: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"maxRecords": size, **({"locator": locator} if locator else {})}
        page = requests.get(f"{url}/{job}/results", headers=headers, params=params, timeout=10)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/csv")
        found = list(csv.DictReader(io.StringIO(page.text)))
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(found)
        rows += found
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            return rows
    raise AssertionError("results paging did not end")


def test_a_query_job_pages_its_rows_as_csv(
    server: SandboxServer, api: tuple[str, dict[str, str]]
) -> None:
    url, headers = api
    created = requests.post(
        url,
        headers=headers,
        json={"operation": "query", "query": "SELECT Id, Name, Amount, IsDeleted FROM Opportunity"},
        timeout=10,
    )
    assert created.status_code == 200
    job = created.json()
    assert job["state"] == "UploadComplete" and job["object"] == "Opportunity"
    assert job["id"].startswith("750")
    done = requests.get(f"{url}/{job['id']}", headers=headers, timeout=10).json()
    live = [
        r
        for r in server.app.state.sandbox.salesforce.records["Opportunity"].values()
        if not r.get("IsDeleted")
    ]
    assert done["state"] == "JobComplete" and done["numberRecordsProcessed"] == len(live)
    rows = _rows(url, headers, job["id"], size=7)
    assert sorted(r["Id"] for r in rows) == sorted(str(r["Id"]) for r in live)
    assert set(rows[0]) == {"Id", "Name", "Amount", "IsDeleted"}
    assert {r["IsDeleted"] for r in rows} == {"false"}
    listed = requests.get(url, headers=headers, timeout=10).json()
    assert job["id"] in {j["id"] for j in listed["records"]}
    assert requests.delete(f"{url}/{job['id']}", headers=headers, timeout=10).status_code == 204
    gone = requests.get(f"{url}/{job['id']}", headers=headers, timeout=10)
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "NOT_FOUND"


def test_query_all_sees_deleted_rows_and_bad_queries_are_refused(
    server: SandboxServer, api: tuple[str, dict[str, str]]
) -> None:
    url, headers = api
    store = server.app.state.sandbox.salesforce.records["Opportunity"]
    job = requests.post(
        url,
        headers=headers,
        json={"operation": "queryAll", "query": "SELECT Id FROM Opportunity"},
        timeout=10,
    ).json()
    assert len(_rows(url, headers, job["id"], size=1000)) == len(store)
    bad = requests.post(
        url, headers=headers, json={"operation": "query", "query": "SELECT Nope FROM Account"}
    )
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    wrong = requests.post(url, headers=headers, json={"operation": "upsert", "query": "x"})
    assert wrong.status_code == 400
    assert (
        requests.post(
            url, json={"operation": "query", "query": "SELECT Id FROM Account"}
        ).status_code
        == 401
    )


def test_a_job_can_be_aborted_before_it_is_read(api: tuple[str, dict[str, str]]) -> None:
    url, headers = api
    job = requests.post(
        url, headers=headers, json={"operation": "query", "query": "SELECT Id FROM Account"}
    ).json()
    aborted = requests.patch(f"{url}/{job['id']}", headers=headers, json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    refused = requests.get(f"{url}/{job['id']}/results", headers=headers)
    assert refused.status_code == 400
