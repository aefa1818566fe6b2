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
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.base import MissingFeatures, parse_time
from connectors.http import ApiError, AuthError
from connectors.jira import adf
from connectors.jira.client import PROPERTY_KEY, JiraConnector
from connectors.paging import OffsetPaging, Request, Stream
from connectors.tracker import SeenComment, SeenIssue, demand_digest
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
# `isLast` missing is taken for true: a listing that does not say it goes on is not followed.
PROJECTS = Stream(
    "/rest/api/3/project/search",
    "values",
    OffsetPaging("values", lambda page, _start: bool(page.get("isLast", True))),
)
# Jira Cloud pages comments 100 at a time whatever maxResults asks: `total` ends them.
COMMENTS = OffsetPaging("comments", lambda page, start: start >= page.get("total", 0))


class JiraWriter:
    def __init__(self, jira: JiraConnector) -> None:
        self.jira = jira
        self.api = jira.api
        self.missing = MissingFeatures()
        # None until the first edit finds out whether Jira lets this user edit quietly.
        self.quiet: bool | None = None
        self._project_types: dict[str, str] | None = None
        self._account_id: str | None = None
        # comment id -> its `updated` as Jira answered pmsync's last write of it
        self.updated: dict[str, str | None] = {}

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
            params = {"keys": list(self.jira.settings.jira_projects), "startAt": 0}
            try:
                for page in PROJECTS.pages(self._get, params):
                    values = page.get("values") or []
                    types.update(
                        (str(p["key"]), str(p.get("projectTypeKey") or "")) for p in values
                    )
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

    def comments(self, key: str) -> Iterator[dict[str, Any]]:
        """Every comment on the issue, oldest first (Jira Cloud pages them 100 at a time
        whatever maxResults asks)."""
        first = Request(f"/rest/api/3/issue/{key}/comment", {"startAt": 0, "maxResults": 100})
        for page in COMMENTS.pages(self._get, first):
            yield from page.get("comments", [])

    def _get(self, request: Request) -> Any:
        return self.api.get_json(request.path, params=request.params)

    def find_managed_comment(self, key: str) -> str | None:
        """The id of the comment pmsync wrote earlier, if one is on the issue (the newest,
        should there be several)."""
        found = [c for c in self.comments(key) if _marked(c)]
        return str(newest(found)["id"]) if found else None

    def account_id(self) -> str | None:
        """The API user's accountId (`GET /rest/api/3/myself`), read once; None when Jira
        will not say, and then no comment is deleted."""
        if self._account_id is None:
            try:
                self._account_id = str(self.api.get_json("/rest/api/3/myself")["accountId"])
            except (ApiError, KeyError, TypeError) as error:
                log.warning("the API user's accountId is unknown (%s): no comment deleted", error)
                self._account_id = ""
        return self._account_id or None

    def is_mine(self, comment: dict[str, Any]) -> bool:
        """Whether the API user wrote the comment: only those are ever deleted, whatever
        text a person's comment quotes."""
        account = self.account_id()
        return account is not None and (comment.get("author") or {}).get("accountId") == account

    def keep_one(self, key: str, keep: str | None = None) -> str | None:
        """Heal: of the managed comments on the issue, keep `keep` if it is one of them,
        else the newest, and delete the others pmsync wrote (two runs that raced each
        posted one). Returns the kept comment's id."""
        found = [c for c in self.comments(key) if _marked(c)]
        mine = [c for c in found if self.is_mine(c)]
        pool = mine or found  # a person's comment quoting the marker is never kept
        if not pool:
            return None
        kept = next((c for c in pool if str(c["id"]) == keep), None) or newest(pool)
        for comment in mine:
            if comment is not kept:
                self.delete_comment(key, str(comment["id"]))
        return str(kept["id"])

    def delete_comment(self, key: str, comment_id: str) -> None:
        """Delete a comment; one already gone (404) is as good."""
        try:
            self.api.request("DELETE", f"/rest/api/3/issue/{key}/comment/{comment_id}")
        except ApiError as error:
            if error.status != 404:
                raise
        log.info("%s: deleted comment %s, a second managed comment", key, comment_id)

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
            answer = self.api.request(
                "PUT",
                f"/rest/api/3/issue/{key}/comment/{comment_id}",
                params={"notifyUsers": "false"} if quiet else None,
                json=payload,
            )
            self.updated[comment_id] = _updated(answer)
            return comment_id

        def created(response: requests.Response) -> str:
            new_id = str(response.json()["id"])
            self.updated[new_id] = _updated(response)
            return new_id

        return self.api.write_once(
            "POST",
            f"/rest/api/3/issue/{key}/comment",
            created=created,
            find_existing=lambda: self.find_managed_comment(key),
            json=payload,
        )

    def read_back(self, keys: set[str], field_ids: list[str]) -> dict[str, SeenIssue]:
        """What these issues carry of pmsync's writes, read in bulk: one search of the
        configured projects for the fields, labels, comments and pmsync's property (the
        issues a page holds, not a GET each). An issue whose comments the search cut short
        has them read on their own."""
        projects = ", ".join(self.jira.settings.jira_projects)
        wanted = [*field_ids, "labels", "comment"]
        seen: dict[str, SeenIssue] = {}
        for result in self.jira.search(
            f"project in ({projects})", wanted, 100, properties=PROPERTY_KEY
        ):
            for raw in result.get("issues", []):
                key = str(raw.get("key"))
                if key in keys:
                    seen[key] = self._seen(key, raw, field_ids)
        return seen

    def read_issue(self, key: str, field_ids: list[str]) -> SeenIssue | None:
        """One issue read back on its own (`GET /issue`, consistent where search may lag);
        None when it is gone."""
        try:
            raw = self.api.get_json(
                f"/rest/api/3/issue/{key}",
                params={
                    "fields": ",".join([*field_ids, "labels", "comment"]),
                    "properties": PROPERTY_KEY,
                },
            )
        except ApiError as error:
            if error.status != 404:
                raise
            return None
        return self._seen(key, raw, field_ids)

    def _seen(self, key: str, raw: dict[str, Any], field_ids: list[str]) -> SeenIssue:
        fields = raw.get("fields") or {}
        page = fields.get("comment") or {}
        comments = page.get("comments") or []
        # (unconfirmed) how many comments a search result carries: when fewer than its
        # total, the issue's own listing has them all.
        if int(page.get("total") or 0) > len(comments):
            comments = list(self.comments(key))
        kept = [
            SeenComment(
                str(c["id"]),
                str(c.get("created") or ""),
                str(c.get("updated") or ""),
                _marked(c),
                self.is_mine(c),
            )
            for c in comments
            if _marked(c) or self.is_mine(c)
        ]
        labels = fields.get("labels")
        return SeenIssue(
            fields={field_id: fields.get(field_id) for field_id in field_ids},
            labels=[str(label) for label in labels] if isinstance(labels, list) else [],
            demand=demand_digest((raw.get("properties") or {}).get(PROPERTY_KEY)),
            comments=kept,
        )


def _marked(comment: dict[str, Any]) -> bool:
    return COMMENT_MARKER in adf.to_text(comment.get("body"))


def newest(comments: list[dict[str, Any]]) -> dict[str, Any]:
    """The comment created last (Jira's ids grow with time: they break ties)."""

    def age(comment: dict[str, Any]) -> tuple[datetime, int]:
        try:
            created = parse_time(str(comment.get("created")), "created")
        except ValueError:
            created = datetime.min.replace(tzinfo=UTC)
        text = str(comment.get("id"))
        return created, int(text) if text.isdigit() else 0

    return max(comments, key=age)


def _updated(response: requests.Response) -> str | None:
    """When Jira says the comment was last changed, from its answer to pmsync's write: a
    later time read back means a person edited it."""
    try:
        value = response.json().get("updated")
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None
