"""Salesforce Bulk API 2.0 query jobs, as its developer guide documents them:
`POST /services/data/vXX.X/jobs/query` creates a job (`operation` query or queryAll, a SOQL
`query`, CSV with a comma and LF line endings) and answers its JobInfo in state
`UploadComplete`; `GET .../jobs/query/{id}` answers the job, here done at once
(`JobComplete`, `numberRecordsProcessed`); `GET .../jobs/query/{id}/results` answers the
rows as CSV, `maxRecords` at a time, with `Sforce-NumberOfRecords` and `Sforce-Locator` (the
next locator, or the text `null` on the last page); `PATCH` with `{"state": "Aborted"}`
aborts a job, `DELETE` removes it, `GET .../jobs/query` lists them. A query the REST API
refuses is refused when the job is created (400, the same error)."""

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox import salesforce_query  # the REST query's selection, shared
from sandbox.salesforce_data import USER_ID
from sandbox.state import SandboxState
from sandbox.web import json_response

MAX_RECORDS = 50_000  # the default page of results when maxRecords is not given


@dataclass
class Job:
    info: dict[str, Any]
    rows: list[dict[str, Any]]
    columns: list[str]


def _errors(status: int, message: str, code: str) -> Response:
    return json_response([{"errorCode": code, "message": message}], status)


def _jobs(state: SandboxState) -> dict[str, Job]:
    return state.salesforce.bulk_jobs


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


async def create_job(request: Request, state: SandboxState) -> Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _errors(400, "Unable to parse the request body", "JSON_PARSER_ERROR")
    operation = body.get("operation", "query") if isinstance(body, dict) else None
    if operation not in ("query", "queryAll"):
        return _errors(400, "operation must be query or queryAll", "INVALIDJOB")
    if body.get("contentType", "CSV") != "CSV" or body.get("columnDelimiter", "COMMA") != "COMMA":
        return _errors(400, "Only CSV with a COMMA delimiter is served here", "INVALIDJOB")
    version = request.path_params["version"]
    selected = salesforce_query.select(state, str(body.get("query") or ""), operation == "queryAll")
    if isinstance(selected, Response):
        return selected
    query, ids = selected
    with state.lock:
        rows = salesforce_query.rendered(state, query, ids, version)
        jid = state.salesforce.new_id("AsyncApexJob")
        now = _now()
        info = {
            "id": jid,
            "operation": operation,
            "object": query.sobject,
            "createdById": USER_ID,
            "createdDate": now,
            "systemModstamp": now,
            "state": "UploadComplete",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version.lstrip("v")),
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": "COMMA",
        }
        columns = [c.key for c in query.columns]
        _jobs(state)[jid] = Job(info, rows, columns)
    return json_response(info)


def _finished(job: Job) -> dict[str, Any]:
    if job.info["state"] == "UploadComplete":  # the sandbox runs a job as it is created
        job.info["state"] = "JobComplete"
    return {
        **job.info,
        "jobType": "V2Query",
        "numberRecordsProcessed": len(job.rows) if job.info["state"] == "JobComplete" else 0,
        "retries": 0,
        "totalProcessingTime": 0,
        "isPkChunkingSupported": True,
    }


async def job_info(request: Request, state: SandboxState) -> Response:
    with state.lock:
        job = _jobs(state).get(request.path_params["job"])
        if job is None:
            return _errors(404, "The requested resource does not exist", "NOT_FOUND")
        return json_response(_finished(job))


async def list_jobs(request: Request, state: SandboxState) -> Response:
    with state.lock:
        records = [_finished(job) for job in _jobs(state).values()]
    return json_response({"done": True, "records": records, "nextRecordsUrl": None})


async def results(request: Request, state: SandboxState) -> Response:
    params = request.query_params
    with state.lock:
        job = _jobs(state).get(request.path_params["job"])
        if job is None:
            return _errors(404, "The requested resource does not exist", "NOT_FOUND")
        if _finished(job)["state"] != "JobComplete":
            return _errors(400, "Job is not in JobComplete state", "INVALIDJOB")
        try:
            start = int(params.get("locator") or 0)
            size = max(1, int(params.get("maxRecords", MAX_RECORDS)))
        except ValueError:
            return _errors(400, "Invalid locator or maxRecords", "INVALID_LOCATOR")
        page, end = job.rows[start : start + size], start + size
        columns = job.columns
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    for row in page:
        writer.writerow([_cell(row.get(c)) for c in columns])
    headers = {
        "Sforce-NumberOfRecords": str(len(page)),
        "Sforce-Locator": str(end) if end < len(job.rows) else "null",
    }
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


async def change_job(request: Request, state: SandboxState) -> Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = None
    with state.lock:
        job = _jobs(state).get(request.path_params["job"])
        if job is None:
            return _errors(404, "The requested resource does not exist", "NOT_FOUND")
        if request.method == "DELETE":
            del _jobs(state)[request.path_params["job"]]
            return Response(status_code=204)
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            return _errors(400, "Only state Aborted can be set on a query job", "INVALIDJOB")
        if job.info["state"] == "UploadComplete":
            job.info["state"] = "Aborted"
        return json_response(_finished(job))


def routes(api: str) -> list[tuple[str, str, Any]]:
    """(method, path, handler) under `api` (`/services/data/{version}`)."""
    return [
        ("POST", f"{api}/jobs/query", create_job),
        ("GET", f"{api}/jobs/query", list_jobs),
        ("GET", f"{api}/jobs/query/{{job}}", job_info),
        ("PATCH", f"{api}/jobs/query/{{job}}", change_job),
        ("DELETE", f"{api}/jobs/query/{{job}}", change_job),
        ("GET", f"{api}/jobs/query/{{job}}/results", results),
    ]
