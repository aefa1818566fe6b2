"""Creating a Jira issue (`POST /rest/api/3/issue`), once: the issue carries a label that
names what it was made from, and before a retry (or a second `--create`) a search for that
label finds the issue a lost answer hid."""

from __future__ import annotations

from typing import Any

import requests

from connectors.jira.client import JiraConnector


def existing_issue(jira: JiraConnector, label: str) -> str | None:
    """The key of an issue that carries `label`, if any."""
    for page in jira.search(f'labels = "{label}"', ["summary"], 1):
        for raw in page.get("issues", []):
            return str(raw["key"])
    return None


def create_issue(
    jira: JiraConnector,
    project: str,
    summary: str,
    description: dict[str, Any],
    label: str,
    issue_type: str = "Story",
) -> tuple[str, bool]:
    """The new issue's key and True; or the key of the issue made before and False."""
    found = existing_issue(jira, label)
    if found is not None:
        return found, False

    def created(response: requests.Response) -> str:
        return str(response.json()["key"])

    fields = {
        "project": {"key": project},
        "issuetype": {"name": issue_type},
        "summary": summary[:255],  # Jira's limit
        "description": description,
        "labels": [label],
    }
    key = jira.api.write_once(
        "POST",
        "/rest/api/3/issue",
        created=created,
        find_existing=lambda: existing_issue(jira, label),
        json={"fields": fields},
    )
    return key, True
