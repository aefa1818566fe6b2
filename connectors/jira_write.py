"""Writing to Jira: custom fields by name and the issue property in one edit, the one
managed comment."""

from __future__ import annotations

import difflib
from typing import Any

from connectors import adf
from connectors.jira import PROPERTY_KEY, JiraConnector
from models import ConfigError

# Text that marks the comment pmsync manages; it is how a lost ledger entry is recovered.
COMMENT_MARKER = "pmsync demand summary"


class JiraWriter:
    def __init__(self, jira: JiraConnector) -> None:
        self.jira = jira
        self.api = jira.api

    def resolve_fields(self, names: list[str]) -> dict[str, str]:
        """Custom field names to ids, or a ConfigError before anything is written."""
        catalogue = self.api.get_json("/rest/api/3/field")
        by_name = {field["name"]: field["id"] for field in catalogue}
        missing = [name for name in names if name not in by_name]
        if missing:
            hints = []
            for name in missing:
                close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.6)
                hint = (
                    f"did you mean {', '.join(repr(c) for c in close)}?"
                    if close
                    else "no field with a similar name"
                )
                hints.append(f"{name!r} ({hint})")
            raise ConfigError(
                "Jira has no custom field named "
                + "; ".join(hints)
                + ". Fix PMSYNC_JIRA_FIELD_* or create the field in Jira."
            )
        return {name: by_name[name] for name in names}

    def edit_issue(
        self,
        key: str,
        fields: dict[str, Any],
        add_labels: tuple[str, ...] = (),
        remove_labels: tuple[str, ...] = (),
        demand: dict[str, Any] | None = None,
    ) -> None:
        """Fields, labels and pmsync's issue property in one edit (the property rides in the
        edit body's documented `properties` member): Jira limits writes per issue."""
        body: dict[str, Any] = {}
        if fields:
            body["fields"] = fields
        changes = [{"add": label} for label in add_labels]
        changes += [{"remove": label} for label in remove_labels]
        if changes:
            body["update"] = {"labels": changes}
        if demand is not None:
            body["properties"] = [{"key": PROPERTY_KEY, "value": demand}]
        if body:
            self.api.request("PUT", f"/rest/api/3/issue/{key}", json=body)

    def find_managed_comment(self, key: str) -> str | None:
        """The id of the comment pmsync wrote earlier, if one is on the issue."""
        start = 0
        while True:
            page = self.api.get_json(
                f"/rest/api/3/issue/{key}/comment", params={"startAt": start, "maxResults": 100}
            )
            comments = page.get("comments", [])
            for comment in comments:
                if COMMENT_MARKER in adf.to_text(comment.get("body")):
                    return str(comment["id"])
            start += len(comments)
            if not comments or start >= page.get("total", 0):
                return None

    def write_comment(self, key: str, body: dict[str, Any], comment_id: str | None) -> str:
        if comment_id:
            self.api.request(
                "PUT", f"/rest/api/3/issue/{key}/comment/{comment_id}", json={"body": body}
            )
            return comment_id
        return self.api.write_once(
            "POST",
            f"/rest/api/3/issue/{key}/comment",
            created=lambda response: str(response.json()["id"]),
            find_existing=lambda: self.find_managed_comment(key),
            json={"body": body},
        )
