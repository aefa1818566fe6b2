"""Writing to Jira: custom fields by name and the issue property in one edit, the one
managed comment.

Writes respect the people on the issue:
- edits go with `notifyUsers=false`, so a sync that moves a number mails no watcher. Jira
  lets only admins (Administer Jira, or Administer Projects on the project) discard the
  notification and answers 403 to anyone else: the first such refusal switches quiet edits
  off for the run (the edit is sent again as a plain one) and is noted as the missing
  feature `quiet_edits`;
- on Jira Service Management projects (`projectTypeKey` "service_desk") a comment is public
  on the customer portal unless it carries the property `sd.public.comment`
  `{"internal": true}`: the managed comment always carries it there.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

from connectors import adf
from connectors.base import MissingFeatures
from connectors.http import ApiError, AuthError
from connectors.jira import PROPERTY_KEY, JiraConnector
from models import ConfigError

log = logging.getLogger("pmsync.jira")

# Text that marks the comment pmsync manages; it is how a lost ledger entry is recovered.
COMMENT_MARKER = "pmsync demand summary"
INTERNAL_COMMENT = [{"key": "sd.public.comment", "value": {"internal": True}}]
SERVICE_DESK = "service_desk"
QUIET_EDITS = "quiet_edits"
QUIET_EDITS_MISSING = (
    "Jira refused notifyUsers=false (403): the API user is not an admin, so every edit "
    "that moves a number mails the issue's watchers. Give the user Administer Projects on "
    "PMSYNC_JIRA_PROJECTS (or Jira admin) to make edits quiet."
)


class JiraWriter:
    def __init__(self, jira: JiraConnector) -> None:
        self.jira = jira
        self.api = jira.api
        self.missing = MissingFeatures()
        # None until the first edit finds out whether Jira lets this user edit quietly.
        self.quiet: bool | None = None
        self._project_types: dict[str, str] | None = None

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
        if not body:
            return
        path = f"/rest/api/3/issue/{key}"
        if self.quiet is False:
            self.api.request("PUT", path, json=body)
            return
        try:
            self.api.request("PUT", path, params={"notifyUsers": "false"}, json=body)
        except AuthError as error:
            if error.status != 403:
                raise
            # Not an admin: the same edit with Jira's default. Should that be refused too,
            # the user may not edit at all, and that error is the one to raise.
            self.api.request("PUT", path, json=body)
            self.quiet = False
            self.missing.note(QUIET_EDITS, QUIET_EDITS_MISSING)
            return
        self.quiet = True

    def project_types(self) -> dict[str, str]:
        """Project key -> projectTypeKey ("software", "business", "service_desk") of the
        configured projects, read once (`GET /rest/api/3/project/search`, paged)."""
        if self._project_types is None:
            types: dict[str, str] = {}
            start = 0
            try:
                while True:
                    page = self.api.get_json(
                        "/rest/api/3/project/search",
                        params={"keys": list(self.jira.settings.jira_projects), "startAt": start},
                    )
                    values = page.get("values") or []
                    types.update(
                        (str(p["key"]), str(p.get("projectTypeKey") or "")) for p in values
                    )
                    start += len(values)
                    if page.get("isLast", True) or not values:
                        break
            except ApiError as error:
                log.warning("project types unknown (%s): managed comments are internal", error)
                types = {}
            self._project_types = types
        return self._project_types

    def is_service_desk(self, key: str) -> bool:
        """Whether the issue's project is a service desk; when Jira will not say (the
        project listing refused), the comment is taken to be on one: an internal comment
        elsewhere costs nothing, a public one on a portal exposes customers."""
        return self.project_types().get(key.split("-")[0], SERVICE_DESK) == SERVICE_DESK

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

    def write_comment(
        self, key: str, body: dict[str, Any], comment_id: str | None, quiet: bool = False
    ) -> str:
        """Add or rewrite the managed comment; internal on a service-desk project. A
        `quiet` rewrite (numbers caught up, nobody new) goes with notifyUsers=false, which
        Jira's comment update takes from any user who may edit the comment; adding a
        comment always notifies."""
        payload: dict[str, Any] = {"body": body}
        if self.is_service_desk(key):
            payload["properties"] = INTERNAL_COMMENT
        if comment_id:
            self.api.request(
                "PUT",
                f"/rest/api/3/issue/{key}/comment/{comment_id}",
                params={"notifyUsers": "false"} if quiet else None,
                json=payload,
            )
            return comment_id
        return self.api.write_once(
            "POST",
            f"/rest/api/3/issue/{key}/comment",
            created=lambda response: str(response.json()["id"]),
            find_existing=lambda: self.find_managed_comment(key),
            json=payload,
        )
