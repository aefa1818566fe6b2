"""The one list of the tools pmsync knows, and what each vendor package tells the rest.

Each vendor is a package under `connectors/` that exports `VENDOR`, a `Vendor`: the rest of
pmsync (flows, webhooks) asks this registry, never a vendor by name. Adding a tool is one
package and one line in `PACKAGES`; tests add one with `register`.

The packages are imported on first use, not when this module is: a vendor package imports
this module for `Vendor`.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from models import Record, ToolLink
from models.config_checks import variable

if TYPE_CHECKING:
    from connectors.base import Capability
    from connectors.notes import NoteWriter
    from connectors.settings import Settings
    from connectors.tracker import Publishing
    from connectors.webhook import Hint, SignedRequest, Verifier
    from store.inbox import Delivery

# The vendor packages, in the order a sync pulls them (the tracker first).
PACKAGES = (
    "connectors.jira",
    "connectors.zendesk",
    "connectors.intercom",
    "connectors.freshdesk",
    "connectors.hubspot",
    "connectors.salesforce",
)

TRACKER, SUPPORT, CRM = "tracker", "support", "crm"


class Reader(NamedTuple):
    """A single-record read (connectors.lookup): the kind the store keeps the record as,
    and `read(connector, record_id, settings)` giving (raw, build) or None when gone."""

    kind: str
    read: Callable[[Any, str, Settings], tuple[Any, Callable[[Any], Record]] | None]


# Rebuilding a dead letter (flows.replay): (raw, context kept beside it, settings) -> record.
# (Settings named as a string: connectors.settings imports every vendor package, which
# imports this module.)
Rebuild = Callable[[dict[str, Any], dict[str, Any], "Settings"], Record]


@dataclass(frozen=True)
class Webhook:
    """What the receiver needs of a tool that sends webhooks."""

    secret_env: str  # the setting that arms the route; unset, it accepts nothing
    verifier: Callable[[Settings], Verifier | None]
    deliveries: Callable[[Any, SignedRequest], list[Delivery]]
    hints: Callable[[Any], list[Hint]]
    headers: tuple[str, ...]  # delivery headers kept with each event (never signatures)

    @classmethod
    def of(cls, module: Any) -> Webhook:
        """The route a vendor's webhook module describes (SECRET_ENV, verifier,
        deliveries, hints, HEADERS)."""
        return cls(
            module.SECRET_ENV, module.verifier, module.deliveries, module.hints, module.HEADERS
        )


class RecordPages(NamedTuple):
    """Where a tool's web app shows one of its tickets or deals, for reading the tracker's
    remote links (which name their target by URL only): the path under the configured
    site (its first group the record's id), and the vendor's own hosts, where the path is
    looked for when no site of its own is configured."""

    path: re.Pattern[str]
    hosts: tuple[str, ...]


class OwnWriteContext(NamedTuple):
    """What recognising pmsync's own writes may use: the settings, and the tracker's ids of
    pmsync's API user (webhooks name users by account id; the email is often hidden)."""

    settings: Settings
    account_ids: frozenset[str]


@dataclass(frozen=True)
class Vendor:
    name: str
    role: str  # TRACKER, SUPPORT or CRM
    connector: Callable[[Settings], Any]  # a connector.base.Connector
    # The setting of its address ("zendesk_url"): set, the tool is configured, and its
    # environment variable (PMSYNC_ZENDESK_URL) is named in what to fix.
    url_field: str
    check: Callable[[Settings], str]  # `pmsync check`: one cheap call, what it found
    capabilities: Callable[[Settings], list[Capability]] | None = None  # optional features
    lookups: Mapping[str, Reader] = field(default_factory=dict)  # kind webhooks name -> read
    # Hints of this kind also re-read the record's tool links (those the tool keeps beside
    # the record, changed without the record changing): (connector, id) -> links or None.
    tool_links: tuple[str, Callable[[Any, str], list[ToolLink] | None]] | None = None
    # The account kind (as lookups name it) read one by one when feedback names an account
    # the store lacks: for tools whose account listing is read in full only now and then.
    named_accounts: str | None = None
    record_pages: RecordPages | None = None  # its records' URLs, which remote links name
    notes: Callable[[Settings], NoteWriter] | None = None  # closing the loop
    # The tracker's: what publishing writes on its issues, and how (connectors.tracker).
    publishing: Callable[[Settings], Publishing] | None = None
    webhook: Webhook | None = None
    own_write: Callable[[Any, OwnWriteContext], str | None] | None = None
    own_identity: Callable[[Settings], set[str]] | None = None  # the tracker's API user ids
    rebuilders: Mapping[str, Rebuild] = field(default_factory=dict)  # stored kind -> rebuild
    # Its settings that shape links, numbers or what is written: a change reconciles.
    shaping: frozenset[str] = frozenset()
    # Stored kinds whose rebuild needs the context the connector keeps beside the raw record.
    needs_context: frozenset[str] = frozenset()
    # Whether the tool is configured, for one whose settings are its own (not a part of
    # connectors.settings.Settings).
    configured_by: Callable[[Settings], bool] | None = None
    # Its name as people read it in texts pmsync stores ("Jira"); the name when unset.
    title: str | None = None
    # A CRM's: its deals' field of issue keys, as link evidence names it.
    deal_keys_field: str | None = None

    def configured(self, settings: Settings) -> bool:
        if self.configured_by is not None:
            return self.configured_by(settings)
        return bool(getattr(settings, self.url_field, None))

    @property
    def shown_as(self) -> str:
        return self.title or self.name

    @property
    def url_setting(self) -> str:
        return variable(self.url_field)


_vendors: dict[str, Vendor] = {}
_loaded = False
_loading = threading.RLock()  # threads (the dispatcher's, `pmsync check`'s) share one load


def _load() -> dict[str, Vendor]:
    global _loaded
    if _loaded:
        return _vendors
    with _loading:
        if not _loaded:
            found = {}
            for package in PACKAGES:
                vendor: Vendor = importlib.import_module(package).VENDOR
                found[vendor.name] = vendor
            # Vendors registered before the first use (tests) come after the built-in ones.
            _vendors.update({**found, **_vendors})
            _loaded = True
    return _vendors


def vendors() -> list[Vendor]:
    return list(_load().values())


def vendor(name: str) -> Vendor:
    try:
        return _load()[name]
    except KeyError:
        raise ValueError(f"unknown tool {name!r} (known: {', '.join(_load())})") from None


def find(name: str) -> Vendor | None:
    return _load().get(name)


def register(extra: Vendor) -> Callable[[], None]:
    """Add a vendor that is not in PACKAGES (or stand in for one); returns what undoes it."""
    known = _load()
    before = known.get(extra.name)
    known[extra.name] = extra

    def unregister() -> None:
        if before is None:
            known.pop(extra.name, None)
        else:
            known[extra.name] = before

    return unregister


def tracker() -> Vendor:
    return next(v for v in vendors() if v.role == TRACKER)


def with_role(role: str) -> list[str]:
    return [v.name for v in vendors() if v.role == role]


def configured(settings: Settings) -> list[str]:
    """The configured tools, in the order a sync pulls them."""
    return [v.name for v in vendors() if v.configured(settings)]


def shaping() -> set[str]:
    """Every vendor's settings that shape links, numbers or what is written."""
    return {name for v in vendors() for name in v.shaping}


def tracker_configured(settings: Settings) -> bool:
    return tracker().configured(settings)


def hints(tool: str, payload: Any) -> list[Hint]:
    """The records a stored delivery says changed, for the dispatcher to re-read from the
    tool's API. Never raises on odd payloads: what cannot be read gives no hint (the
    scheduled sync is the safety net)."""
    known = find(tool)
    return known.webhook.hints(payload) if known and known.webhook else []
