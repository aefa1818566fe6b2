"""What one run links, sums and publishes: everything, what changed since the sync's
watermarks, or these records (read back one by one, as webhook events do)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from models import Link, Record

Owner = tuple[str, str]  # (source, record_id) as links name their record
RecordKey = tuple[str, str, str]  # (source, kind, record_id) as the store keeps a record


@dataclass(frozen=True)
class Changes:
    """Records read back one by one and stored already, and what the store held before."""

    changed: tuple[Record, ...] = ()
    deleted: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=dict)  # ids
    links_changed: tuple[Record, ...] = ()  # tickets whose tool links moved
    before: Mapping[RecordKey, Any] = field(default_factory=dict)  # payloads; None: new
    # The records named: the issues they link to, before and after, are summed.
    owners: frozenset[Owner] = frozenset()
    named: frozenset[str] = frozenset()  # issue keys named outright
    links_before: tuple[Link, ...] = ()  # the store's links before the records were stored


@dataclass(frozen=True)
class Scope:
    kind: Literal["everything", "changed", "records"]
    # A sync's scope: it moves the sync's watermarks and pending issues, a reconcile
    # repairs what drifted on the tracker, and the loop is closed.
    sync: bool = False
    changes: Changes | None = None

    @classmethod
    def everything(cls) -> Scope:
        """Every record and issue; the sync's watermarks stay where they are."""
        return cls("everything")

    @classmethod
    def sync_run(cls, reconcile: bool) -> Scope:
        """A sync: everything on a reconcile, else what changed since the watermarks."""
        return cls("everything" if reconcile else "changed", sync=True)

    @classmethod
    def these(cls, changes: Changes) -> Scope:
        return cls("records", changes=changes)
