"""Jira Cloud: issues through the `jira` package's enhanced search; writes in jira_write.

The story of a pull: ask /search/jql for the configured projects' issues updated since the
cursor (epoch ms: Jira reads bare JQL dates in the API user's time zone), follow
`nextPageToken` until it is absent, and save after each page the newest `updated` seen.
Deleted issues simply vanish from search, so every run ends with a sweep of the projects'
ids alone (Jira serves up to 5,000 a page when only ids are asked for: one call at ~4,000
issues); the store drops whatever the sweep did not name.

Remote links (connectors.jira.remote_links) have no search: they are read one issue at a time.
They are a listing (connectors.base.listing_read): every issue's, after the sweep, now and
then; in between, those of the issues the search returned, except issues whose last change
was pmsync's own write (the `written_at` in its property, within a minute), which would
otherwise cost a read per issue published. A link removed in between, or added within that
minute, waits for the next full read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from jira import JIRA, JIRAError

from connectors.base import (
    Connector,
    CursorReader,
    ListingRead,
    Page,
    Window,
    bookmark,
    convert,
    epoch_ms,
    listing_read,
    parse_time,
)
from connectors.http import (
    TRANSPORT_ERRORS,
    ApiError,
    NotAnAnswer,
    RetryableError,
    answer_of,
    redact,
)
from connectors.jira import adf
from connectors.jira import settings as jira_settings
from connectors.jira.remote_links import record_of, remote_link_from_raw, sites, target_url
from connectors.jira.settings import JiraSettings
from connectors.paging import Request, Stream, next_token, param
from models import Issue

STREAM = "jira.issues"
REMOTE_LINKS = "jira.remote_links"
REMOTE_LINK_PAGE = 100  # issues whose remote links one stored page holds
ECHO = timedelta(minutes=1)  # a change this soon after pmsync's write is taken for it
SWEEP_PAGE = 5000  # Jira's ceiling for maxResults when only `id`/`key` are asked for
# Only what pmsync uses: the default `*all` costs Jira work and us bandwidth.
FIELDS = [
    "summary",
    "description",
    "status",
    "labels",
    "components",
    "fixVersions",
    "project",
    "created",
    "updated",
]


# The issue property pmsync writes its demand summary to. The search asks for it, so
# publishing knows which issues pmsync wrote to before without reading their comments.
PROPERTY_KEY = "pmsync.demand"
SEARCH = Stream(
    "/rest/api/3/search/jql",
    "issues",
    next_token(
        "nextPageToken", param("nextPageToken"), "jira repeated nextPageToken {token:.20}..."
    ),
)


def issue_from_raw(raw: dict[str, Any], site: str) -> Issue:
    fields = raw["fields"]
    status = fields.get("status") or {}
    return Issue(
        source="jira",
        id=str(raw["id"]),
        key=raw["key"],
        url=f"{site}/browse/{raw['key']}",
        project=(fields.get("project") or {}).get("key") or raw["key"].split("-")[0],
        summary=fields["summary"],
        description=adf.to_text(fields.get("description")).strip(),
        status=status.get("name", ""),
        status_category=(status.get("statusCategory") or {}).get("key", "undefined"),
        labels=tuple(fields.get("labels") or ()),
        components=tuple(c["name"] for c in fields.get("components") or ()),
        fix_versions=tuple(v["name"] for v in fields.get("fixVersions") or ()),
        released_versions=tuple(
            v["name"] for v in fields.get("fixVersions") or () if v.get("released")
        ),
        created_at=parse_time(fields["created"], "created") if fields.get("created") else None,
        updated_at=parse_time(fields["updated"], "updated"),
        published=PROPERTY_KEY in (raw.get("properties") or {}),
    )


class JiraConnector(Connector[JiraSettings]):
    tool = "jira"
    part = jira_settings.JIRA

    def configure(self, settings: JiraSettings) -> None:
        settings.require_jira()
        assert settings.jira_url and settings.jira_email and settings.jira_api_token
        self.site = settings.jira_url
        token = settings.jira_api_token.get_secret_value()
        self.api = self.api_client(
            self.site,
            token,
            auth=(settings.jira_email, token),
            headers={"Content-Type": "application/json"},
        )
        self._client: JIRA | None = None
        self.tool_sites = sites(settings)
        self.echoes: set[str] = set()  # keys of issues whose last change was pmsync's write

    def jira_call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run a `jira` package call under the shared retry policy (its own is off)."""

        def attempt() -> Any:
            try:
                return fn()
            except JIRAError as error:
                if error.response is not None:
                    self.api.check(error.response, what)
                message = redact(str(error.text), self.api.secrets)
                raise RetryableError(
                    "jira", f"{what} failed: {message}", error.status_code, None
                ) from None
            except TRANSPORT_ERRORS as error:
                raise RetryableError(
                    "jira", f"{what} failed: {type(error).__name__}", None, None
                ) from None
            except ValueError:  # the package decoding a body that is not JSON (HTML, empty)
                raise NotAnAnswer("jira", f"{what} answered with no JSON") from None
            except (KeyError, TypeError):  # the package reading an answer of another shape
                raise NotAnAnswer(
                    "jira", f"{what} answered without what the API documents"
                ) from None

        return self.api.call(attempt)

    @property
    def client(self) -> JIRA:
        if self._client is None:
            token = self.api.secrets[0]
            self._client = self.jira_call(
                "GET serverInfo",
                lambda: JIRA(
                    server=self.site,
                    basic_auth=(self.settings.jira_email or "", token),
                    max_retries=0,
                    timeout=int(self.settings.http_timeout_s),
                    options={"rest_api_version": "3"},
                ),
            )
        return self._client

    def jql(self, since: datetime | None, until: datetime | None = None) -> str:
        projects = ", ".join(self.settings.jira_projects)
        where = f"project in ({projects})"
        if since is not None:
            where += f" AND updated >= {epoch_ms(since)}"
        if until is not None:
            where += f" AND updated < {epoch_ms(until)}"
        return where + " ORDER BY updated ASC, key ASC"

    def search_page(
        self,
        jql: str,
        token: str | None,
        fields: list[str],
        max_results: int,
        properties: str | None = None,
    ) -> dict[str, Any]:
        # Connect outside the search's retry: `client` retries on its own, and nesting
        # the two loops would square the attempts (6 became 36).
        client = self.client
        what = "GET /rest/api/3/search/jql"

        def page() -> Any:
            found = client.enhanced_search_issues(
                jql,
                nextPageToken=token,
                maxResults=max_results,
                fields=list(fields),
                properties=properties,
                json_result=True,
            )
            # A 200 that is no search answer (an error body) is retried, never read as
            # "no issues": the sweep would take every issue for deleted.
            return found if found is None else answer_of("jira", what, found, "issues")

        result: dict[str, Any] | None = self.jira_call(what, page)
        if result is None:
            # The package pages /search/jql only for Cloud; elsewhere it quietly gives None.
            raise ApiError(
                "jira",
                f"{self.site} is not Jira Cloud (serverInfo deploymentType); "
                "pmsync needs Jira Cloud's /rest/api/3/search/jql",
            )
        return result

    def search(
        self, jql: str, fields: list[str], max_results: int, properties: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every page of one search: an absent nextPageToken is Jira's only end signal
        (isLast is unreliable, and pages may be shorter than asked)."""

        def send(request: Request) -> dict[str, Any]:
            token = request.params.get("nextPageToken")
            return self.search_page(jql, token, fields, max_results, properties)

        yield from SEARCH.pages(send)

    def read(self, cursor_for: CursorReader, full: bool, window: Window) -> Iterator[Page]:
        since, until, listings = window
        if not listings:
            yield from self.issues(None if full else cursor_for(STREAM), since, until)
            return
        links = listing_read(cursor_for(REMOTE_LINKS), full, datetime.now(UTC), self.settings)
        for page in self.issues(None if full else cursor_for(STREAM), since, until):
            yield page
            fresh = {
                i.id: i.key
                for i in page.records
                if isinstance(i, Issue) and i.key not in self.echoes
            }
            if fresh and not links.full:
                yield self.remote_link_page(fresh)
        keys = self.sweep_keys()
        if links.full:
            yield from self.every_remote_link(keys, links)
        else:
            yield links.closing("jira", "tool_link", REMOTE_LINKS, set())
        yield Page("jira", "issue", STREAM, complete_ids=set(keys))

    def issues(
        self, saved: Any, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Issues updated from the cursor (else `since`, else ever) until `until`."""
        started = datetime.now(UTC)
        if saved:
            since = parse_time(saved) - timedelta(minutes=self.settings.lookback_minutes)
        newest = parse_time(saved) if saved else None
        jql = self.jql(since, until)
        size = min(self.settings.page_size, 100)
        for result in self.search(jql, FIELDS, size, properties=PROPERTY_KEY):
            page = Page("jira", "issue", STREAM)
            for raw in result.get("issues", []):
                issue = convert(page, raw, lambda r: issue_from_raw(r, self.site))
                if issue and (newest is None or issue.updated_at > newest):
                    newest = issue.updated_at
                if isinstance(issue, Issue) and _own_write(raw, issue.updated_at):
                    self.echoes.add(issue.key)
            page.cursor = bookmark(newest, started)
            yield page

    def count(self, since: datetime | None, until: datetime | None) -> int | None:
        """Issues updated in [since, until): one call to Jira's approximate count (a
        backfill's dry run)."""
        jql = self.jql(since, until).split(" ORDER BY")[0]
        answer = self.api.request(
            "POST", "/rest/api/3/search/approximate-count", json={"jql": jql}
        ).json()
        return int(answer["count"]) if isinstance(answer.get("count"), int) else None

    def sweep_keys(self) -> dict[str, str]:
        """Every issue of the configured projects, id to key: the store drops the issues
        not named (deleted in Jira), and a full read of remote links visits each."""
        projects = ", ".join(self.settings.jira_projects)
        keys: dict[str, str] = {}
        for result in self.search(f"project in ({projects})", ["id"], SWEEP_PAGE):
            keys.update(
                (str(raw["id"]), str(raw.get("key") or raw["id"]))
                for raw in result.get("issues", [])
                if raw.get("id")
            )
        return keys

    def remote_link_page(self, issues: dict[str, str]) -> Page:
        """The remote links of these issues (id to key) that point at a ticket or deal."""
        page = Page("jira", "tool_link", REMOTE_LINKS)
        for issue_id, key in issues.items():
            try:
                answer = self.api.get_json(f"/rest/api/3/issue/{issue_id}/remotelink")
            except ApiError as error:
                if error.status != 404:
                    raise
                continue  # deleted since it was listed: the next sweep drops it
            build = partial(remote_link_from_raw, issue_key=key, tool_sites=self.tool_sites)
            for raw in answer if isinstance(answer, list) else ():
                # Links to anything but a ticket or deal (a wiki page) are no tool links.
                if record_of(target_url(raw), self.tool_sites) is not None:
                    convert(page, raw, build, context={"issue_key": key})
        return page

    def every_remote_link(self, issues: dict[str, str], read: ListingRead) -> Iterator[Page]:
        """Every issue's remote links; the last page names them all, so that links removed
        in Jira leave the store, and carries the listing's cursor."""
        seen: set[str] = set()
        ids = list(issues)
        for start in range(0, len(ids), REMOTE_LINK_PAGE):
            page = self.remote_link_page(
                {i: issues[i] for i in ids[start : start + REMOTE_LINK_PAGE]}
            )
            seen.update(link.id for link in page.records)
            seen.update(d.record_id for d in page.dead if d.record_id)
            yield page
        yield read.closing("jira", "tool_link", REMOTE_LINKS, seen)


def _own_write(raw: dict[str, Any], updated: datetime) -> bool:
    """Whether an issue's last change was pmsync's own write: its property says when pmsync
    began writing, and nothing changed more than a minute after."""
    written = ((raw.get("properties") or {}).get(PROPERTY_KEY) or {}).get("written_at")
    try:
        return written is not None and updated - parse_time(written) <= ECHO
    except ValueError:
        return False
