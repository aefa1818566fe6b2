"""Single-record reads: what a webhook named, read back from the tool's own API.

A webhook is only a hint. Whatever its body says, the record pmsync keeps is the one the
tool serves now, built by the same `*_from_raw` builders as a pull, through the same
`ApiClient` (time-outs, retries, redaction). `None` means the tool says the record is
gone: a 404, or the tool's own deleted mark. Each vendor package lists its reads
(`Vendor.lookups`); this module chooses one through the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors import registry
from connectors.http import ApiError
from models import Record, ToolLink

if TYPE_CHECKING:
    from connectors.settings import Settings


def stored_kind(tool: str, named: str) -> str | None:
    """The kind the store keeps a record of `tool` as, given the kind webhooks name it by;
    None when the tool has no single-record read of that kind."""
    known = registry.find(tool)
    reader = known.lookups.get(named) if known else None
    return reader.kind if reader else None


def read_kind(tool: str, stored: str) -> str | None:
    """The kind a single-record read of `tool` takes for a record the store keeps as
    `stored`; None when it has none."""
    known = registry.find(tool)
    named = (
        [kind for kind, reader in known.lookups.items() if reader.kind == stored] if known else []
    )
    return named[-1] if named else None


class InvalidRecord(ValueError):
    """The tool served the record, but it does not validate: it belongs in the dead letters."""

    def __init__(self, raw: Any, build: Callable[[Any], Record], error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.raw = raw
        self.build = build  # to file it the way a pull does (connectors.base.convert)
        self.error = error


def path_id(record_id: str) -> str:
    return quote(str(record_id), safe="")


class Lookup:
    """One connector per tool, made on first use and kept: a run that re-reads many records
    of one tool pays for its session (and Salesforce's token) once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connectors: dict[str, Any] = {}

    def _connector(self, tool: str) -> Any:
        if tool not in self._connectors:
            self._connectors[tool] = registry.vendor(tool).connector(self.settings)
        return self._connectors[tool]

    def fetch(self, tool: str, kind: str, record_id: str) -> Record | None:
        """The record as the tool serves it now, or None when the tool says it is gone.
        Raises InvalidRecord when the tool serves something that does not validate."""
        known = registry.find(tool)
        reader = known.lookups.get(kind) if known else None
        if reader is None:
            raise ValueError(f"no single-record read for {tool} {kind}")
        try:
            found: tuple[Any, Callable[[Any], Record]] | None = reader.read(
                self._connector(tool), record_id, self.settings
            )
        except ApiError as error:
            if error.status in (404, 410):
                return None
            raise
        if found is None:
            return None
        raw, build = found
        try:
            return build(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidRecord(raw, build, error) from None

    def tool_links(self, tool: str, record_id: str) -> list[ToolLink] | None:
        """The tracker links a tool keeps beside one record (they change without the
        record's own fields changing); None when the tool refuses the listing (a token
        without the right), which says nothing about which links the record has."""
        links = registry.vendor(tool).tool_links
        return links[1](self._connector(tool), record_id) if links else None


def fetch(settings: Settings, tool: str, kind: str, record_id: str) -> Record | None:
    """One record as its tool serves it now; None when the tool says it is gone."""
    return Lookup(settings).fetch(tool, kind, record_id)
