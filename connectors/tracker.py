"""What publishing asks of the tracker, whichever tool it is: `services.publish` keeps the
policy (the ledger, leases, drift, when to rewrite) and reaches the tracker only through
`Publishing`, which the tracker's vendor builds from the settings (`Vendor.publishing`).

The tracker's package says which field carries which number, what the managed comment and
the property hold and when a new summary changes the comment materially; its writer sends
the edits and reads the issues back as `SeenIssue`s."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from models import DemandSummary


@dataclass(frozen=True)
class SeenComment:
    """A comment pmsync wrote (or one bearing its marker), as read back."""

    id: str
    created: str
    updated: str
    marked: bool  # it carries the managed comment's marker
    mine: bool  # the API user wrote it


@dataclass
class SeenIssue:
    """What an issue carries of pmsync's writes, as read back from the tracker."""

    fields: dict[str, Any]  # field id -> value
    labels: list[str]
    demand: str | None  # demand_digest of pmsync's property; None when it is gone
    comments: list[SeenComment]


def demand_digest(value: Any) -> str | None:
    """A digest of the demand property as written, `written_at` left out (the ledger does
    not keep when)."""
    if not isinstance(value, dict):
        return None
    kept = {k: v for k, v in value.items() if k != "written_at"}
    text = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Span:
    """A run of text in a document pmsync writes: bold, or a link, or plain."""

    text: str
    bold: bool = False
    link: str | None = None


@dataclass(frozen=True)
class Paragraph:
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[tuple[Span, ...], ...]  # each item a run of spans


# A document pmsync writes on the tracker (a proposed issue's description), in no tool's
# format: the tracker's package renders it in its own.
Document = tuple[Paragraph | Bullets, ...]


class TrackerWriter(Protocol):
    """The tracker's writes: fields, labels and pmsync's property in one edit, the one
    managed comment, and the issues read back."""

    # comment id -> its `updated` as the tracker answered pmsync's last write of it
    updated: dict[str, str | None]

    @property
    def missing(self) -> Mapping[str, str]:
        """Optional write features the tracker refused this run, feature -> what to change."""
        ...

    def resolve_fields(self, names: list[str]) -> dict[str, str]: ...

    def edit_issue(
        self,
        key: str,
        fields: dict[str, Any],
        add_labels: tuple[str, ...] = (),
        remove_labels: tuple[str, ...] = (),
        demand: dict[str, Any] | None = None,
    ) -> None: ...

    def keep_one(self, key: str, keep: str | None = None) -> str | None: ...

    def delete_comment(self, key: str, comment_id: str) -> None: ...

    def write_comment(
        self, key: str, body: dict[str, Any], comment_id: str | None, quiet: bool = False
    ) -> str: ...

    def read_back(self, keys: set[str], field_ids: list[str]) -> dict[str, SeenIssue]: ...

    def read_issue(self, key: str, field_ids: list[str]) -> SeenIssue | None: ...


class Publishing(Protocol):
    """What the tracker shows of a summary, for the configured settings."""

    def writer(self) -> TrackerWriter: ...

    def field_values(self, summary: DemandSummary) -> dict[str, int | float]:
        """Configured fields by name -> value; a field whose name is empty is switched off."""
        ...

    def field_names(self) -> list[str]:
        """The configured fields' names (an empty name switches its field off)."""
        ...

    def comment_basis(self, summary: DemandSummary) -> dict[str, Any]:
        """What the managed comment shows of the summary (kept in the ledger)."""
        ...

    def material_change(self, shown: dict[str, Any] | None, summary: DemandSummary) -> bool:
        """Whether the comment must be rewritten now, whatever the interval."""
        ...

    def numbers_changed(self, shown: dict[str, Any] | None, summary: DemandSummary) -> bool:
        """Whether the numbers the comment shows are no longer the summary's."""
        ...

    def render_comment(
        self, summary: DemandSummary, previous: dict[str, Any] | None, written_at: datetime
    ) -> dict[str, Any]: ...

    def fit_property(self, summary: DemandSummary, **extra: Any) -> dict[str, Any]:
        """The summary (and `extra`) as the property's value, within the tracker's limit."""
        ...

    def property_bytes(self, value: Any) -> int: ...

    def default_project(self) -> str | None:
        """Where a new issue goes unless a project is named: the first configured."""
        ...

    def create_issue(
        self, project: str, summary: str, description: Document, label: str
    ) -> tuple[str, bool]:
        """The issue made once (`label` names what it was made from): (key, made now), or
        the key of the issue made before with that label and False."""
        ...
