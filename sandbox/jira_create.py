"""Jira Cloud's `POST /rest/api/{2,3}/issue`: create an issue. As documented: `fields`
must name the project (by key or id), the issue type (by name or id) and a summary; v3
takes the description as ADF, v2 as plain text; the answer is 201 with `id`, `key` and
`self`, and a missing or unknown field is a 400 with `errors` naming it."""

from __future__ import annotations

from typing import Any

from sandbox.jira_data import API_USER, NUMBER_FIELDS, OTHER_CUSTOM_FIELDS, STATUSES, adf
from sandbox.timefmt import jira_time, utcnow

ISSUE_TYPES = {"Story": "10001", "Bug": "10002", "Task": "10003"}


def _named(ref: Any, table: dict[str, str]) -> str | None:
    """The name of a `{"name": ...}` or `{"id": ...}` reference among `table`'s."""
    if not isinstance(ref, dict):
        return None
    if ref.get("name") in table:
        return str(ref["name"])
    return next((name for name, id_ in table.items() if str(ref.get("id")) == id_), None)


def create_issue(
    issues: dict[str, dict[str, Any]],
    projects: dict[str, dict[str, Any]],
    body: Any,
    version: str,
    new_id: str,
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The issue added to `issues`, or None and Jira's `errors` by field."""
    fields = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(fields, dict):
        return None, {"fields": "Field 'fields' is required."}
    errors: dict[str, str] = {}
    ref = fields.get("project")
    project = next(
        (
            p
            for p in projects.values()
            if isinstance(ref, dict) and (ref.get("key") == p["key"] or ref.get("id") == p["id"])
        ),
        None,
    )
    if project is None:
        errors["project"] = "Specify a valid project ID or key"
    kind = _named(fields.get("issuetype"), ISSUE_TYPES)
    if kind is None:
        errors["issuetype"] = "Specify an issue type"
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors["summary"] = "You must specify a summary of the issue."
    elif len(summary) > 255:
        errors["summary"] = "Summary must be less than 255 characters."
    description = fields.get("description")
    if version == "3" and description is not None and not isinstance(description, dict):
        errors["description"] = "Operation value must be an Atlassian Document (see ADF)."
    labels = fields.get("labels") or []
    if not isinstance(labels, list) or any(not isinstance(x, str) or " " in x for x in labels):
        errors["labels"] = "Labels are strings without spaces."
    if errors or project is None or kind is None:
        return None, errors
    number = 1 + max(
        (int(k.rsplit("-", 1)[1]) for k in issues if k.startswith(f"{project['key']}-")), default=0
    )
    key, now = f"{project['key']}-{number}", jira_time(utcnow())
    stored: dict[str, Any] = {
        "summary": summary,
        "description": adf(description) if isinstance(description, str) else description,
        "status": STATUSES["To Do"],
        "labels": list(labels),
        "components": [],
        "fixVersions": [],
        "project": project,
        "issuetype": {"id": ISSUE_TYPES[kind], "name": kind, "subtask": False},
        "priority": {"id": "3", "name": "Medium"},
        "assignee": None,
        "reporter": API_USER,
        "resolution": None,
        "resolutiondate": None,
        "created": now,
        "updated": now,
    }
    stored.update(dict.fromkeys([*NUMBER_FIELDS, *OTHER_CUSTOM_FIELDS]))
    issue = {"id": new_id, "key": key, "fields": stored}
    issues[key] = issue
    return issue, {}
