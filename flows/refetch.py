"""Refetching dead letters: read each dead-lettered record again from its tool (after it
was fixed there: a date typed right, a missing field filled), through the same
single-record reads webhooks use (connectors.lookup). What the tool now serves valid goes
into the store and its letters are resolved; a record the tool says is gone resolves its
letters (nothing is left to fix); the rest keep their letter with the reason they fail
now. Then relink and publish once, as `deadletters replay` does.

`replay` rebuilds the stored payload with pmsync's current code; `refetch` asks the tool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors import registry
from connectors.base import failure_reason
from connectors.lookup import InvalidRecord, Lookup, read_kind
from connectors.settings import Settings
from flows.pipeline import EXPECTED_FAILURES
from flows.replay import LettersReport, conclude, letters_matching
from models import Record
from store import Store


@dataclass
class RefetchReport(LettersReport):
    fixed: list[int] = field(default_factory=list)  # letters whose record is now stored
    gone: list[int] = field(default_factory=list)  # the tool no longer has the record

    @property
    def stored(self) -> list[int]:
        return self.fixed

    def headline(self) -> str:
        return (
            f"{len(self.fixed)} records stored, {len(self.gone)} gone from their tool, "
            f"{len(self.still_bad)} still fail"
        )


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
        named = read_kind(tool, kind)
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
    conclude(settings, store, report, f"refetched {len(letters)} dead letters", changed, relink)
    return report
