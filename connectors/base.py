"""What every connector shares: the page it yields and how a raw record becomes a model."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, ClassVar, Generic, NamedTuple, Self, TypeVar, cast
from urllib.parse import urlsplit

from pydantic import ValidationError

from connectors.http import ApiClient, Calls
from models import CoreSettings, Record
from models.settings import ToolPart
from store import DeadLetter

CursorReader = Callable[[str], Any]
S = TypeVar("S", bound=CoreSettings)


@dataclass
class Page:
    """Records of one stream, the dead letters among them, and the cursor that follows.

    `cursor` is saved in the same transaction as the records; `None` leaves it alone.
    `deleted_ids` are records the tool reports deleted (or archived): they leave the store,
    and their links and demand with them, in that same transaction.
    `complete_ids` marks the last page of a stream read in full: what the tool did not
    return is gone from the tool.
    """

    source: str
    kind: str
    stream: str
    records: list[Record] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    cursor: Any = None
    deleted_ids: list[str] = field(default_factory=list)
    complete_ids: set[str] | None = None


class Window(NamedTuple):
    """A pull bounded for backfills: `since` is where a stream with no cursor starts
    (instead of its beginning), `until` an exclusive upper bound on the records' change
    time, and `listings=False` skips what is read in full every run (accounts, the tools'
    Jira links, id sweeps, archived-record lists)."""

    since: datetime | None = None
    until: datetime | None = None
    listings: bool = True


class Connector(Generic[S]):
    """Every connector's `pull`: pages of records changed since each stream's cursor,
    within a `Window`. A connector says how it reads in `read`, and how it sets itself up
    from its settings in `configure`: the tool's address, its client `self.api` (built by
    `api_client`), its options and what it keeps for one run."""

    tool: str
    part: ClassVar[ToolPart]  # its settings: a refused call names their credentials

    def __init__(self, settings: S, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        # Optional features this tenant refused during a pull (flows.pipeline reads them).
        self.missing = MissingFeatures()
        self.calls = Calls.per(settings, sleep)
        self.configure(settings)

    def configure(self, settings: S) -> None:
        raise NotImplementedError

    def api_client(
        self,
        site: str,
        *secrets: str,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiClient:
        """A client of the tool at `site` under the shared retry policy, signing in with
        `auth` or `headers`; `secrets` never show in its errors or logs."""
        return ApiClient(
            self.tool,
            site,
            auth=auth,
            headers=headers,
            credential_settings=self.part.credential_settings,
            secrets=secrets,
            calls=self.calls,
        )

    def pull(
        self,
        cursor_for: CursorReader,
        full: bool = False,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        listings: bool = True,
    ) -> Iterator[Page]:
        return self.read(cursor_for, full, Window(since, until, listings))

    def read(self, cursor_for: CursorReader, full: bool, window: Window) -> Iterator[Page]:
        raise NotImplementedError


class DuplicatePageToken(RuntimeError):
    """The API sent the same page token twice: following it would loop forever."""


def parse_time(value: Any, name: str = "timestamp") -> datetime:
    """Any timestamp a tool sends, as aware UTC; `name` says which field in the error.

    A value without a zone is refused: guessing one is how connectors lose data."""
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: not a timestamp: {value!r}")
    try:
        # Jira sends offsets without a colon (+0000), which fromisoformat reads since 3.11.
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name}: timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


# Where each kind of cursor keeps its time, and the position within that time it resumes
# after (None: everything at that time): a bare timestamp, HubSpot's and Salesforce's
# compound positions, a listing's cursor.
CURSOR_TIMES = (("modified", "after_id"), ("modstamp", "last_id"), ("since", None))


def cursor_time(value: Any) -> datetime | None:
    """The time a saved cursor holds; None for opaque ones (Zendesk's export cursor)."""
    if isinstance(value, dict):
        value = next((value[key] for key, _ in CURSOR_TIMES if value.get(key)), None)
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def clamped_cursor(value: Any, to: datetime | None) -> Any:
    """A cursor moved back to `to` (None: the stream's beginning), inclusive of it."""
    if to is None:
        return None
    if isinstance(value, dict):
        for key, position in CURSOR_TIMES:
            if value.get(key):
                moved = {**value, key: to.isoformat()}
                if position:
                    moved[position] = None
                if "full_at" in moved and (cursor_time(moved["full_at"]) or to) > to:
                    moved["full_at"] = to.isoformat()
                return moved
        return value
    return to.isoformat()


@dataclass(frozen=True)
class TimeAndId:
    """Where a stream read in (change time, id) order resumes: every record changed after
    `at`, and those changed exactly then whose id comes after `after_id` (all of them when
    it is None), so that any number of records sharing one time are neither skipped nor
    read forever. Saved as readable JSON under the tool's own `keys` (see CURSOR_TIMES)."""

    at: datetime
    after_id: str | None = None

    keys: ClassVar[tuple[str, str]]  # the saved cursor's names for `at` and `after_id`
    name: ClassVar[str]  # what an unreadable cursor is called in its error

    @classmethod
    def read(cls, saved: Any) -> Self | None:
        if not saved:
            return None
        if isinstance(saved, str):  # the cursor of earlier versions: a bare timestamp
            return cls(parse_time(saved, cls.name))
        at, after_id = cls.keys
        checked = cls.checked_id(saved.get(after_id))
        return cls(parse_time(saved[at], cls.name), checked)

    @classmethod
    def checked_id(cls, value: Any) -> str | None:
        """The saved id, refused (ValueError) where the tool's queries could not take it."""
        return cast("str | None", value)

    def saved(self, started: datetime) -> dict[str, Any]:
        """As stored, never past the run's start: later changes may not be in the tool's
        index yet, so a position past it re-reads all of that moment."""
        at, after_id = self.keys
        if self.at > started:
            return {at: started.isoformat(), after_id: None}
        return {at: self.at.isoformat(), after_id: self.after_id}


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


BUILD_ERRORS = (ValidationError, ValueError, KeyError, TypeError, AttributeError)


def convert(
    page: Page,
    raw: dict[str, Any],
    build: Callable[[dict[str, Any]], Record],
    raw_id: Any = None,
    context: dict[str, Any] | None = None,
) -> Record | None:
    """Validate one raw record into the page, or into its dead letters with the reason.

    `context` is what `build` reads besides `raw` (a sideloaded user, associated ids): a
    dead letter keeps it, so a replay can rebuild the record later (flows/replay.py)."""
    record_id = raw_id if raw_id is not None else raw.get("id") if isinstance(raw, dict) else None
    try:
        record = build(raw)
    except BUILD_ERRORS as error:
        reason = failure_reason(error)
        letter_id = None if record_id is None else str(record_id)
        page.dead.append(DeadLetter(page.source, page.kind, letter_id, reason, raw, context))
        return None
    page.records.append(record)
    return record


def failure_reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
            for e in error.errors(include_url=False)
        ]
        return "; ".join(parts)
    if isinstance(error, KeyError):
        return f"missing field {error}"
    return f"{type(error).__name__}: {error}"


def before(moment: datetime | None, until: datetime | None) -> bool:
    """Inside a window's exclusive upper bound (always, without one; an unreadable time
    too, so that the record reaches its dead letter instead of vanishing)."""
    return until is None or moment is None or moment < until


def bookmark(newest: datetime | None, started: datetime) -> str | None:
    """The cursor a page saves: the newest change seen, never past the run's start (later
    changes may not be indexed yet)."""
    return min(newest, started).isoformat() if newest else None


@dataclass(frozen=True)
class ListingRead:
    """How this run reads a listing (accounts, a tool's Jira links): in full, which also
    tells the store what the tool deleted, or only what changed since `since`."""

    since: datetime | None  # None: read it in full
    full_at: datetime  # when it was last read in full (this run's start, if now)
    fields: str | None = None  # the optional fields read (a revenue field), if any

    @property
    def full(self) -> bool:
        return self.since is None

    def closing(self, source: str, kind: str, stream: str, seen: set[str], **position: Any) -> Page:
        """The listing's last page: its cursor and, after a full read, every id seen (what
        the tool did not name is gone from it)."""
        return Page(
            source,
            kind,
            stream,
            complete_ids=seen if self.full else None,
            cursor=self.cursor(self.full_at, **position),
        )

    def cursor(self, started: datetime, **position: Any) -> dict[str, Any]:
        """The cursor saved with the listing's last page: changes up to this run's start
        are read (a listing has no index lag beyond the lookback each read subtracts)."""
        cursor = {"since": started.isoformat(), "full_at": self.full_at.isoformat(), **position}
        return {**cursor, "fields": self.fields} if self.fields else cursor


def listing_read(
    saved: Any, full: bool, started: datetime, settings: CoreSettings, fields: str | None = None
) -> ListingRead:
    """A listing is read in full on a full sync, the first time, once
    `PMSYNC_RECONCILE_HOURS` have passed since its last full read (so deletions, which an
    incremental read cannot see, leave the store within that period), and when the optional
    `fields` it reads changed (the records stored lack them); otherwise from its cursor,
    less the lookback."""
    if not full and isinstance(saved, dict) and saved.get("since") and saved.get("full_at"):
        full_at = parse_time(saved["full_at"], "full_at")
        same = saved.get("fields") == fields
        if same and started - full_at < timedelta(hours=settings.reconcile_hours):
            lookback = timedelta(minutes=settings.lookback_minutes)
            return ListingRead(parse_time(saved["since"], "since") - lookback, full_at, fields)
    return ListingRead(None, started, fields)


def unix_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with `Z`, to the second: what SOQL and Freshdesk read unambiguously."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def calendar_date(value: Any, name: str = "date") -> datetime:
    """A date without a time (a CRM close date) as midnight UTC; a full timestamp as itself."""
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{name}: not a date: {value!r}") from None
    return parse_time(value, name)


def domain_of(website: Any) -> str | None:
    """`https://www.Acme.com/about` -> `acme.com`: how a CRM's website meets an email domain."""
    if not isinstance(website, str) or not website.strip():
        return None
    text = website.strip()
    host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    host = host.removeprefix("www.")
    return host or None


KEY_SPLIT = re.compile(r"[\s,;|/]+")


def split_keys(text: Any) -> tuple[str, ...]:
    """Issue keys a person typed into a CRM field, separated however they like: commas,
    semicolons, bars, slashes or white space ("ANA-1 | ana-2/ANA-3")."""
    return tuple(k for k in KEY_SPLIT.split(text or "") if k)


class _TextOfHtml(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: Any) -> str:
    """Support tools send message bodies as HTML; linking reads words, one paragraph a line."""
    if not isinstance(html, str) or not html:
        return ""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


class SeenAtNewest:
    """The ids read at the newest timestamp so far in a run.

    A query restarted at that timestamp (a search cap, a page cap) returns them again;
    they are dropped, while a record that changed since comes back newer and is kept."""

    def __init__(self) -> None:
        self.newest: datetime | None = None
        self.ids: set[str] = set()

    def add(self, record_id: str, at: datetime | None) -> None:
        if at is None:
            return
        if self.newest is None or at > self.newest:
            self.newest, self.ids = at, {record_id}
        elif at == self.newest:
            self.ids.add(record_id)

    def repeats(self, record_id: str, at: datetime | None) -> bool:
        return at is not None and at == self.newest and record_id in self.ids


# How many times one pull re-reads a listing that moved under it before leaving the rest
# to the next run (from a cursor set back to where the move began).
REREADS = 3


class MovedWhileRead:
    """Offset-paged listings in change order (HubSpot's search `after`, Freshdesk's `page`)
    count places in a list that moves. When a record already read changes, it leaves its
    place for the end of the list, everything behind it moves up one place, and the next
    page starts one record late: the record that slid over the page boundary is never
    served. A record deleted after it was read shifts the list the same way.

    Both show: the mover comes back later in the same read with a newer timestamp, and a
    deleted record is one this read had seen. The skipped record sorts after the mover's
    old place, so re-reading from the mover's old timestamp finds it: `restart_from`."""

    def __init__(self) -> None:
        self.first: dict[str, datetime] = {}  # id -> its timestamp when first read
        self.restart_from: datetime | None = None

    def _back_to(self, moment: datetime) -> None:
        if self.restart_from is None or moment < self.restart_from:
            self.restart_from = moment

    def saw(self, record_id: str, at: datetime | None) -> None:
        if at is None:
            return
        first = self.first.setdefault(record_id, at)
        if at > first:
            self._back_to(first)

    def gone(self, record_ids: Iterable[str]) -> None:
        """Records that left the listing (deleted, archived) since this read began."""
        for record_id in record_ids:
            if record_id in self.first:
                self._back_to(self.first[record_id])

    def shrank(self, since: datetime) -> None:
        """A listing from `since` holds fewer records than a page ago: one left it."""
        self._back_to(since)


@dataclass(frozen=True)
class Capability:
    """One optional feature of a tool, as this tenant has it: a permission, a custom field,
    a plan feature. A missing one switches off that feature alone (never the tool's pull)
    and says what to change to get it back."""

    tool: str
    name: str  # e.g. "jira_links", "opportunity_issue_keys", "quiet_edits"
    available: bool
    detail: str  # what the feature gives, or why it is missing and what to change

    def line(self) -> str:
        return f"{self.name}: {'available' if self.available else 'missing'} ({self.detail})"


class MissingFeatures(dict[str, str]):
    """What a connector found missing during one pull, feature -> why and what to change.

    Each connector keeps one as `self.missing`; the pull reads it after the tool's pages,
    logs each once and puts them in the run's summary and `pmsync status`."""

    def note(self, feature: str, reason: str) -> None:
        self.setdefault(feature, reason)


class CheckFailed(Exception):
    """A check of `pmsync check` that failed; the message says what to fix."""


def one_call(
    connector: Callable[[Any], Any], path: str, params: dict[str, Any], what: str
) -> Callable[[Any], str]:
    """A check of `pmsync check` that one cheap read by the tool's `connector` answers."""

    def check(settings: Any) -> str:
        api = connector(settings).api
        api.get_json(path, params=params)
        return f"{api.base_url}: {what} readable"

    return check


def configured_site(url: str | None, tool: str) -> str:
    """A tool's configured address, for rebuilding its records (dead letters) offline."""
    if not url:
        raise ValueError(f"{tool} is not configured: its records cannot be rebuilt")
    return url.rstrip("/")
