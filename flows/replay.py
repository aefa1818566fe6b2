"""Replaying dead letters: rebuild each stored raw record with its connector's own builder
(after a fix to pmsync or a change of configuration), move the ones that now validate into
the store, keep the others with the reason they fail for now, then relink and publish once.

Builders read a record and, for a few, context the tool sent beside it (a sideloaded
requester, a requester's contact, a deal's associated companies, an instance URL, the issue
a tracker's remote link belongs to). Connectors keep that context in the letter's payload
under `_context` (store.CONTEXT_KEY); everything else comes from the settings (the site
URLs). Each vendor package lists its rebuilders (`Vendor.rebuilders`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from connectors import registry
from connectors.base import BUILD_ERRORS, failure_reason
from connectors.settings import Settings
from models import Record, RecordKind
from services.apply import WRITER_LEASE, apply
from services.scope import Scope
from store import CONTEXT_KEY, Store
from store.leases import exclusive

log = logging.getLogger("pmsync.replay")


def rebuild(letter: dict[str, Any], settings: Settings) -> Record:
    """The record a dead letter holds, built again; raises what the builder raises."""
    payload = letter["payload"]
    vendor = registry.find(letter["source"])
    builder = vendor.rebuilders.get(letter["kind"]) if vendor else None
    if vendor is None or builder is None:
        raise ValueError(f"no builder for {letter['source']} {letter['kind']} records")
    if not isinstance(payload, dict):
        raise TypeError(f"the stored payload is a {type(payload).__name__}, not a record")
    # Kinds whose builder reads context that decides who the customer is: rebuilt without
    # it, a ticket or deal would count for no customer. A letter kept without it (by an
    # older pmsync, or a path that keeps none) waits for the next sync to read it again.
    if letter["kind"] in vendor.needs_context and CONTEXT_KEY not in payload:
        raise ValueError(
            f"kept without {CONTEXT_KEY} (the requester or companies its customer comes "
            "from): the next sync that reads this record stores it, or `pmsync sync --full`"
        )
    context = payload.get(CONTEXT_KEY) or {}
    raw = {k: v for k, v in payload.items() if k != CONTEXT_KEY}
    return builder(raw, context, settings)


@dataclass
class LettersReport:
    """What a replay and a refetch both report, after what each found."""

    still_bad: dict[int, str] = field(default_factory=dict)  # letter id -> why it fails now
    links: int | None = None
    published: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        # JSON keys are strings: a letter id in `still_bad` is written "12".
        shared = {
            "still_bad": {str(k): v for k, v in self.still_bad.items()},
            "links": self.links,
            "published": self.published,
        }
        return {k: v for k, v in asdict(self).items() if k not in shared} | shared

    @property
    def stored(self) -> list[int]:
        """The letters whose record is now in the store."""
        raise NotImplementedError

    def headline(self) -> str:
        raise NotImplementedError


@dataclass
class ReplayReport(LettersReport):
    moved: list[int] = field(default_factory=list)  # letters whose record is now stored
    superseded: list[int] = field(default_factory=list)  # the store already holds newer

    @property
    def stored(self) -> list[int]:
        return self.moved

    def headline(self) -> str:
        return (
            f"{len(self.moved)} records stored, {len(self.superseded)} already newer in the "
            f"store, {len(self.still_bad)} still fail"
        )


def replay_dead_letters(
    settings: Settings,
    store: Store,
    reason: str | None = None,
    ids: list[int] | None = None,
    relink: bool = True,
) -> ReplayReport:
    """Replay the unresolved letters (those whose reason contains `reason`, or with one
    of `ids`); see the module's docstring."""
    letters = letters_matching(store, reason, ids)
    report = ReplayReport()
    rebuilt: dict[int, Record] = {}
    for letter in letters:
        try:
            rebuilt[letter["id"]] = rebuild(letter, settings)
        except BUILD_ERRORS as error:
            report.still_bad[letter["id"]] = failure_reason(error)
    # A record the tool has since served valid (and a sync stored) may be newer than the
    # letter's: the letter is resolved, the stored record stays.
    fresh: dict[int, Record] = {}
    by_kind: dict[tuple[str, str], list[int]] = {}
    letters_by_id = {letter["id"]: letter for letter in letters}
    for letter_id in rebuilt:
        letter = letters_by_id[letter_id]
        by_kind.setdefault((letter["source"], letter["kind"]), []).append(letter_id)
    for (source, kind), letter_ids in by_kind.items():
        stored = store.records.stored_versions(
            source, RecordKind(kind), [rebuilt[i].id for i in letter_ids]
        )
        latest: dict[str, int] = {}  # record id -> its newest letter among these
        for letter_id in sorted(letter_ids, key=lambda i: (rebuilt[i].updated_at, i)):
            record = rebuilt[letter_id]
            newer = stored.get(record.id)
            if newer is not None and newer > record.updated_at:
                report.superseded.append(letter_id)
                continue
            if record.id in latest:
                report.superseded.append(latest[record.id])
                del fresh[latest[record.id]]
            latest[record.id] = letter_id
            fresh[letter_id] = record
    store.records.revive(list(fresh.values()), [*fresh, *report.superseded])
    report.moved = sorted(fresh)
    report.superseded.sort()
    changed = {k: v for k, v in report.still_bad.items() if v != letters_by_id[k]["reason"]}
    conclude(settings, store, report, f"replayed {len(letters)} dead letters", changed, relink)
    return report


def conclude(
    settings: Settings,
    store: Store,
    report: LettersReport,
    done: str,
    changed: dict[int, str],
    relink: bool,
) -> None:
    """How a replay or refetch ends: the letters still failing keep the reason they fail
    with now (`changed`, where it differs), and once records came back from the letters,
    everything is relinked and published once."""
    if changed:
        store.dead_letters.update_reasons(changed)
    log.info("%s: %s", done, report.headline())
    if relink and report.stored:
        report.links, report.published = relink_and_publish(settings, store)


def letters_matching(
    store: Store, reason: str | None, ids: list[int] | None
) -> list[dict[str, Any]]:
    """The unresolved letters whose reason contains `reason` (any case), or with one of
    `ids`: what replay and refetch work on."""
    return [
        letter
        for letter in store.dead_letters.all()
        if (reason is None or reason.lower() in letter["reason"].lower())
        and (ids is None or letter["id"] in ids)
    ]


def relink_and_publish(settings: Settings, store: Store) -> tuple[int, dict[str, int] | None]:
    """Once records came back from the dead letters: relink everything and publish."""
    with exclusive(store.engine, WRITER_LEASE, settings.lease_wait_s, "writing"):
        done = apply(store, settings, Scope.everything())
    assert done.links is not None
    return done.links, done.report.counts() if done.report else None
