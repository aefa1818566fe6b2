"""Refetching dead letters: read each dead-lettered record again from its tool (after it
was fixed there: a date typed right, a missing field filled), through the same
single-record reads webhooks use (connectors.lookup). What the tool now serves valid goes
into the store and its letters are resolved; a record the tool says is gone resolves its
letters (nothing is left to fix); the rest keep their letter with the reason they fail
now. Then relink and publish once, as `deadletters replay` does.

`replay` rebuilds the stored payload with pmsync's current code; `refetch` asks the tool.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from connectors import registry
from connectors.base import failure_reason
from connectors.lookup import KINDS, InvalidRecord, Lookup
from connectors.settings import Settings
from flows.pipeline import EXPECTED_FAILURES
from flows.replay import letters_matching, relink_and_publish
from models import Record
from store import Store

log = logging.getLogger("pmsync.replay")

# (tool, kind the store keeps) -> the kind a single-record read takes.
READS = {(tool, stored): named for (tool, named), stored in KINDS.items()}


@dataclass
class RefetchReport:
    fixed: list[int] = field(default_factory=list)  # letters whose record is now stored
    gone: list[int] = field(default_factory=list)  # the tool no longer has the record
    still_bad: dict[int, str] = field(default_factory=dict)  # letter id -> why, now
    links: int | None = None
    published: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        # JSON keys are strings: a letter id in `still_bad` is written "12".
        return asdict(self) | {"still_bad": {str(k): v for k, v in self.still_bad.items()}}


def refetch_dead_letters(
    settings: Settings,
    store: Store,
    reason: str | None = None,
    ids: list[int] | None = None,
    relink: bool = True,
    lookup: Lookup | None = None,
) -> RefetchReport:
    """Refetch the unresolved letters (those whose reason contains `reason`, or with one
    of `ids`); see the module's docstring."""
    letters = letters_matching(store, reason, ids)
    lookup = lookup or Lookup(settings)
    report = RefetchReport()
    fixed: dict[int, Record] = {}
    invalid: set[int] = set()  # still served invalid: their letters say why, now
    read: dict[tuple[str, str, str], Record | None | str] = {}  # one read per record
    served_invalid: set[tuple[str, str, str]] = set()
    for letter in letters:
        tool, kind, record_id = letter["source"], letter["kind"], str(letter["record_id"])
        named = READS.get((tool, kind))
        if tool not in registry.configured(settings):
            report.still_bad[letter["id"]] = f"{tool} is not configured: nothing to read from"
            continue
        if named is None:
            report.still_bad[letter["id"]] = (
                f"{tool} has no single-record read for {kind} records: the next sync that "
                "reads it stores it (or `pmsync sync --full`)"
            )
            continue
        key = (tool, kind, record_id)
        if key not in read:
            try:
                read[key] = lookup.fetch(tool, named, record_id)
            except InvalidRecord as bad:
                read[key] = failure_reason(bad.error)
                served_invalid.add(key)
            except EXPECTED_FAILURES as error:
                read[key] = f"could not read it again: {error}"
        found = read[key]
        if isinstance(found, str):
            report.still_bad[letter["id"]] = found
            if key in served_invalid:
                invalid.add(letter["id"])
        elif found is None:
            report.gone.append(letter["id"])
        else:
            fixed[letter["id"]] = found
    # Letters of one record all resolve with it; the record goes in once.
    records = {(r.source, r.id): r for r in fixed.values()}
    store.records.revive(list(records.values()), [*fixed, *report.gone])
    report.fixed = sorted(fixed)
    by_id = {letter["id"]: letter for letter in letters}
    # A letter that could not be read keeps its reason: a time-out says nothing of the record.
    changed = {
        k: v for k, v in report.still_bad.items() if k in invalid and v != by_id[k]["reason"]
    }
    if changed:
        store.dead_letters.update_reasons(changed)
    log.info(
        "refetched %d dead letters: %d fixed, %d gone from their tool, %d still fail",
        len(letters),
        len(report.fixed),
        len(report.gone),
        len(report.still_bad),
    )
    if relink and report.fixed:
        report.links, report.published = relink_and_publish(settings, store)
    return report
