"""Jira's single-record read, the tracker's checks for `pmsync check`, and who pmsync is."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from connectors.base import CheckFailed
from connectors.http import ApiError
from connectors.jira import client as jira
from connectors.jira.client import JiraConnector
from connectors.jira.settings import JiraSettings
from connectors.jira.write import JiraWriter
from connectors.lookup import path_id
from models import ConfigError

log = logging.getLogger("pmsync.dispatch")  # where the dispatcher reads it


def read_issue(connector: JiraConnector, issue_id: str, settings: JiraSettings) -> Any:
    raw = connector.api.get_json(
        f"/rest/api/3/issue/{path_id(issue_id)}", params={"fields": ",".join(jira.FIELDS)}
    )
    project = raw.get("key", "").split("-")[0]
    if project not in settings.jira_projects:
        return None  # moved out of the projects pmsync follows
    return raw, partial(jira.issue_from_raw, site=connector.site)


def check_jira(settings: JiraSettings) -> str:
    """The field catalogue (credentials, and every configured custom field), then the
    configured projects."""
    jira = JiraConnector(settings)
    names = settings.demand_fields()
    problems = []
    try:
        JiraWriter(jira).resolve_fields(names)
    except ConfigError as error:
        problems.append(str(error))
    projects = ", ".join(settings.jira_projects)
    try:
        count = (
            jira.api.request(
                "POST",
                "/rest/api/3/search/approximate-count",
                json={"jql": f"project in ({projects})"},
            )
            .json()
            .get("count")
        )
    except ApiError as error:
        if error.status != 400:
            raise
        problems.append(f"PMSYNC_JIRA_PROJECTS: Jira refused the projects: {error}")
    if problems:
        raise CheckFailed(" ".join(problems))
    fields = f"fields {', '.join(repr(n) for n in names)} found" if names else "no fields"
    hint = " (is PMSYNC_JIRA_PROJECTS right?)" if count == 0 else ""
    return f"{settings.jira_url}: {fields}; {count} issues in {projects}{hint}"


def account_ids(settings: JiraSettings) -> set[str]:
    """The API user's Jira account id (webhooks name users by account id; the email is
    often hidden). Unknown when Jira cannot be asked: the email still recognises it."""
    if not settings.jira_url or not settings.jira_api_token:
        return set()
    try:
        # One attempt: a dispatcher should start now, not after a minute of back-off.
        once = settings.model_copy(update={"http_max_attempts": 1})
        me = JiraConnector(once).api.get_json("/rest/api/3/myself")
    except Exception as error:
        log.warning("could not read Jira's /myself (%s): recognising pmsync by email", error)
        return set()
    return {str(me["accountId"])} if me.get("accountId") else set()
