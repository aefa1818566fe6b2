"""Publishing demand onto the tracker: custom fields, labels and the issue property in one
edit, then the one managed comment; written only when the content changed (the publish
ledger's hash), and healed when a run died between a write and its ledger entry. What is
written where is the tracker's (its vendor's `publishing`, connectors.tracker); when it is
written is decided here.

The comment mails every watcher each time it is rewritten, so it follows the numbers less
eagerly than the fields and the property do: it is rewritten at once for a material change
(the tracker's `material_change`: new customers, other quotes), and for numbers
alone at most once per PMSYNC_COMMENT_MIN_INTERVAL_HOURS. A comment left behind catches up
the next time its issue is in a publish after the interval (a reconcile reads them all).
What the comment shows, and when it was written, rides in the ledger entry (`comment`).

The ledger says what pmsync wrote, not what the issue shows now: a reconcile (`repair`)
reads every issue back in one search and rewrites what people changed (services.drift), and
keeps one managed comment per issue, deleting the extras pmsync wrote."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors import registry
from connectors.base import DuplicatePageToken
from connectors.http import ApiError
from connectors.settings import Settings
from connectors.tracker import Publishing, SeenIssue, TrackerWriter
from linking.demand import content_hash
from models import DemandSummary
from services.drift import COMMENT_PARTS, EDIT_PARTS, FIELDS, Drift, drift_of
from store import LedgerEntry, Store
from store.leases import Leases, take_waiting

log = logging.getLogger("pmsync.publish")


@dataclass(frozen=True)
class Plan:
    """Everything one issue's write will carry, decided before any call is made."""

    summary: DemandSummary
    previous: dict[str, Any] | None
    comment_id: str | None
    fields: dict[str, int | float]
    labels_add: tuple[str, ...]
    labels_remove: tuple[str, ...]
    content_hash: str
    # The issue carried pmsync's property when last read: a managed comment may be there.
    written_before: bool = True
    # Nothing changed since the last write but the comment, left behind for the interval
    # (or what a person changed, in `repair`).
    comment_only: bool = False
    # What drifted from the ledger (services.drift), rewritten by this write.
    repair: frozenset[str] = frozenset()
    extra_comments: tuple[str, ...] = ()  # managed comments beyond the one kept: deleted

    @property
    def key(self) -> str:
        return self.summary.issue_key


@dataclass
class PublishReport:
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    deferred: int = 0
    # What each planned write changes (requests, pipeline): the run's biggest movers.
    changes: list[dict[str, Any]] = field(default_factory=list)
    # The plans themselves, on a dry run only (a person reads them).
    plans: list[Plan] = field(default_factory=list)
    # Issues not written this run (failed or over --max-writes): they stay pending.
    not_written: set[str] = field(default_factory=set)
    busy: int = 0  # issues another run was writing: left pending
    # Optional write features the tracker refused this run (quiet_edits), feature -> what to change.
    missing: dict[str, str] = field(default_factory=dict)
    # Drift repaired (services.drift: part -> issues, and "issues"); None when not read back.
    repaired: dict[str, int] | None = None

    def counts(self) -> dict[str, int]:
        return {"written": self.written, "unchanged": self.unchanged, "failed": self.failed}


COMMENT = "comment"  # the ledger entry's record of what the managed comment shows


def publishing(settings: Settings) -> Publishing:
    """What the tracker writes where, from its vendor."""
    tracker = registry.tracker()
    if tracker.publishing is None:
        raise ValueError(f"the tracker {tracker.name!r} has no publishing")
    return tracker.publishing(settings)


class Publisher:
    def __init__(
        self, settings: Settings, store: Store, writer: TrackerWriter | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.tracker = publishing(settings)
        self._writer = writer
        self._marks: dict[str, tuple[list[str], bool]] | None = None

    @property
    def writer(self) -> TrackerWriter:
        if self._writer is None:
            self._writer = self.tracker.writer()
        return self._writer

    def field_values(self, summary: DemandSummary) -> dict[str, int | float]:
        """Configured fields by name -> value; a field whose name is empty is switched off."""
        return self.tracker.field_values(summary)

    def comment_shown(
        self, previous: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, datetime | None]:
        """What the managed comment shows (the tracker's `comment_basis`) and when it was
        written, from the ledger entry; entries older than this record take the comment
        for the summary they hold, written long ago."""
        if previous is None:
            return None, None
        shown = previous.get(COMMENT)
        if isinstance(shown, dict):
            at = shown.get("at")
            return shown, datetime.fromisoformat(at) if isinstance(at, str) else None
        return self.tracker.comment_basis(DemandSummary.model_validate(previous)), None

    def wanted_labels(self, summary: DemandSummary) -> set[str]:
        """The highest threshold label the issue has reached, if any."""
        for label, minimum in sorted(self.settings.demand_label_rules, key=lambda r: -r[1]):
            if summary.requests >= minimum:
                return {label}
        return set()

    def plan(
        self,
        summaries: Mapping[str, DemandSummary],
        only: str | None = None,
        seen: Mapping[str, SeenIssue] | None = None,
        field_ids: dict[str, str] | None = None,
    ) -> tuple[list[Plan], int]:
        """The issues whose content changed since the ledger, or whose writes drifted from
        it (`seen`: the issues read back, with the configured fields' `field_ids`), and
        how many are unchanged."""
        wanted_keys = [key for key in summaries if not only or key == only]
        ledger = self.store.ledger.entries(wanted_keys)
        if self._marks is None:  # read once: a publish plans a batch of issues at a time
            self._marks = self.store.records.issue_marks()
        marks = self._marks
        managed = {label for label, _ in self.settings.demand_label_rules}
        plans, unchanged = [], 0
        for key in wanted_keys:
            summary = summaries[key]
            labels, published = marks.get(key, ([], False))
            fields = self.field_values(summary)
            wanted = self.wanted_labels(summary)
            entry = ledger.get(key)
            drift = None
            if seen is not None and key in seen:
                drift = self.drift(key, entry, seen[key], field_ids or {})
                labels = list(drift.labels or ()) if drift else labels
            current = set(labels) & managed
            signature = json.dumps([content_hash(summary), sorted(fields), sorted(wanted)])
            digest = hashlib.sha256(signature.encode()).hexdigest()
            repair = drift.parts if drift else frozenset()
            comment_only = False
            if entry and entry.content_hash == digest:
                if not repair and not self.comment_due(entry.summary, summary):
                    unchanged += 1
                    continue
                comment_only = True
            plans.append(
                Plan(
                    summary=summary,
                    previous=entry.summary if entry else None,
                    comment_id=drift.comment_id if drift else entry.comment_id if entry else None,
                    fields=fields,
                    labels_add=tuple(sorted(wanted - current)),
                    labels_remove=tuple(sorted(current - wanted)),
                    content_hash=digest,
                    # Read back: the comments are known, none is looked for.
                    written_before=drift is None and (bool(entry) or published),
                    comment_only=comment_only,
                    repair=repair,
                    extra_comments=drift.extra_comments if drift else (),
                )
            )
        return plans, unchanged

    def drift(
        self, key: str, entry: LedgerEntry | None, seen: SeenIssue, field_ids: dict[str, str]
    ) -> Drift | None:
        """What drifted on the issue from its ledger entry (None: not known). The tracker's
        search may be eventually consistent, so drift found in a search answer is confirmed on
        the issue itself before anything is rewritten or deleted."""
        found = self._drift(entry, seen, field_ids)
        if not found.parts:
            return found
        try:
            again = self.writer.read_issue(key, list(field_ids.values()))
        except ApiError as error:
            log.warning(
                "%s: not read back (%s): its drift waits for the next reconcile", key, error
            )
            return None
        return self._drift(entry, again, field_ids) if again is not None else None

    def _drift(
        self, entry: LedgerEntry | None, seen: SeenIssue, field_ids: dict[str, str]
    ) -> Drift:
        if entry is None:
            return drift_of(seen, None, None, None, None, set(), None)
        before = DemandSummary.model_validate(entry.summary)
        shown = entry.summary.get(COMMENT)
        return drift_of(
            seen,
            entry.comment_id,
            {k: v for k, v in entry.summary.items() if k != COMMENT},
            {field_ids[n]: v for n, v in self.field_values(before).items() if n in field_ids},
            self.wanted_labels(before),
            {label for label, _ in self.settings.demand_label_rules},
            shown.get("updated") if isinstance(shown, dict) else None,
        )

    def field_names(self) -> list[str]:
        """The configured fields' names (an empty name switches its field off)."""
        return self.tracker.field_names()

    def comment_due(
        self, previous: dict[str, Any] | None, summary: DemandSummary, now: datetime | None = None
    ) -> bool:
        """Whether the managed comment is rewritten for this summary: at once for a
        material change, for numbers alone once the interval since the last rewrite is over."""
        shown, at = self.comment_shown(previous)
        if self.tracker.material_change(shown, summary):
            return True
        if not self.tracker.numbers_changed(shown, summary):
            return False
        interval = timedelta(hours=self.settings.comment_min_interval_hours)
        return at is None or (now or datetime.now(UTC)) - at >= interval

    def fields_written(self, plan: Plan) -> dict[str, int | float] | None:
        """The field values the last write put on the issue (the ledger's): when the new
        ones are the same, the edit is not sent again (a new quote or a solved ticket
        changes the comment, not the numbers)."""
        if plan.previous is None:
            return None
        return self.field_values(DemandSummary.model_validate(plan.previous))

    def apply(self, plan: Plan, field_ids: dict[str, str]) -> None:
        """One issue, written once: one edit carrying the property, and the fields and
        labels when they changed (or drifted); then the comment.

        The ledger entry comes last; if the run dies before it, the next run (which reads
        the property back with the issue) finds the comment it already posted instead of
        adding a second one."""
        key = plan.key
        for extra in plan.extra_comments:  # heal: one managed comment per issue
            self.writer.delete_comment(key, extra)
        # When this issue's writes began: the next search sees it in the property and takes
        # the issue's `updated` for pmsync's own change (the tracker's connector reads no
        # remote links for it).
        started = datetime.now(UTC)
        written = dict(plan.previous or {})
        if not plan.comment_only or plan.repair & EDIT_PARTS:
            fields: dict[str, int | float] = {}
            if (
                plan.labels_add
                or plan.labels_remove
                or FIELDS in plan.repair
                or plan.fields != self.fields_written(plan)
            ):
                fields = {field_ids[name]: value for name, value in plan.fields.items()}
            # The property goes before the comment: an issue without it has no managed
            # comment, so only issues written to before are searched for one.
            payload = self.tracker.fit_property(plan.summary, written_at=started.isoformat())
            self.writer.edit_issue(
                key,
                fields,
                add_labels=plan.labels_add,
                remove_labels=plan.labels_remove,
                demand=payload,
            )
            # The ledger keeps what was written, not when (a re-run must compare equal).
            written = {k: v for k, v in payload.items() if k != "written_at"}
        comment_id = plan.comment_id
        shown, shown_at = self.comment_shown(plan.previous)
        restore = bool(plan.repair & COMMENT_PARTS)
        if restore or self.comment_due(plan.previous, plan.summary, started):
            if comment_id is None and plan.written_before:
                comment_id = self.writer.keep_one(key)
            now = datetime.now(UTC)
            # "Since the last update" compares with what the comment showed; a comment
            # restored with the numbers it showed keeps the comparison it made.
            since = _basis(shown)
            if restore and not self.tracker.numbers_changed(shown, plan.summary):
                kept = (shown or {}).get("since")
                since = _basis(kept) if isinstance(kept, dict) else since
            body = self.tracker.render_comment(plan.summary, since, now)
            # Numbers catching up (or a restore) tell nobody anything new: no mail.
            quiet = not self.tracker.material_change(shown, plan.summary)
            try:
                comment_id = self.writer.write_comment(key, body, comment_id, quiet)
            except ApiError as error:
                if error.status != 404 or comment_id is None:
                    raise
                comment_id = self.writer.write_comment(key, body, None)  # deleted by a person
            shown, shown_at = self.tracker.comment_basis(plan.summary), now
            shown = {**shown, "since": since, "updated": self.writer.updated.get(comment_id)}
        if shown is not None:
            stamp = shown_at.isoformat() if shown_at else None
            written[COMMENT] = {**shown, "at": stamp}
        self.store.ledger.record_publish(LedgerEntry(key, plan.content_hash, comment_id, written))


def _basis(shown: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a comment showed (the tracker's `comment_basis`) without the ledger's own notes
    (when, the tracker's `updated`, what it compared with)."""
    if shown is None:
        return None
    return {k: v for k, v in shown.items() if k not in ("at", "updated", "since")}


PUBLISH_BATCH = 500


def publish_all(
    settings: Settings,
    store: Store,
    summaries: Mapping[str, DemandSummary],
    *,
    dry_run: bool = False,
    max_writes: int | None = None,
    only: str | None = None,
    writer: TrackerWriter | None = None,
    repair: bool = False,
) -> PublishReport:
    """Write what changed, a batch of issues at a time: `summaries` may compute theirs
    as they are read (services.demand.Summaries), so no more than a batch is held. With
    `repair` (a reconcile), the issues are read back first and what drifted from the
    ledger is rewritten too (services.drift)."""
    report = PublishReport()
    keys = [key for key in summaries if not only or key == only]
    publisher = Publisher(settings, store, writer)
    if dry_run:
        _publish(publisher, summaries, keys, report, dry_run, max_writes, repair)
        return report
    # One writer per issue: a batch's issues are leased before its ledger entries are read,
    # so two runs never both see "no comment yet" and both post one.
    with Leases(store.engine).kept_alive() as lease:
        _publish(publisher, summaries, keys, report, dry_run, max_writes, repair, lease)
    return report


def _publish(
    publisher: Publisher,
    summaries: Mapping[str, DemandSummary],
    keys: list[str],
    report: PublishReport,
    dry_run: bool,
    max_writes: int | None,
    repair: bool,
    lease: Leases | None = None,
) -> None:
    settings = publisher.settings
    field_ids: dict[str, str] | None = None
    seen: dict[str, SeenIssue] | None = None
    if repair and keys:
        # A missing or misspelt field stops the run here, before any write.
        field_ids = publisher.writer.resolve_fields(publisher.field_names())
        try:
            seen = publisher.writer.read_back(set(keys), list(field_ids.values()))
            report.repaired = {"issues": 0}
        except (ApiError, DuplicatePageToken) as error:
            # What people changed waits for the next reconcile; what changed goes out now.
            log.warning("reading the issues back failed (%s): no drift repaired this run", error)
    for start in range(0, len(keys), PUBLISH_BATCH):
        wanted = keys[start : start + PUBLISH_BATCH]
        if lease is not None:
            wanted = _leased(lease, wanted, settings.lease_wait_s, report)
        batch = {key: summaries[key] for key in wanted}
        plans, unchanged = publisher.plan(batch, seen=seen, field_ids=field_ids)
        report.unchanged += unchanged
        report.changes += [change_of(plan) for plan in plans]
        if not plans:
            continue
        if field_ids is None:
            # A missing or misspelt field stops the run here, before any write. Every plan
            # writes the same configured fields.
            names = sorted({name for plan in plans for name in plan.fields})
            field_ids = publisher.writer.resolve_fields(names)
        if dry_run:
            report.plans += plans
            continue
        for plan in plans:
            if max_writes is not None and report.written + report.failed >= max_writes:
                report.deferred += 1
                report.not_written.add(plan.key)
                continue
            try:
                publisher.apply(plan, field_ids)
                report.written += 1
                if plan.repair and report.repaired is not None:
                    _count_repair(plan, report.repaired)
            except ApiError as error:
                report.failed += 1
                report.not_written.add(plan.key)
                log.error("publishing %s failed: %s", plan.key, error)
    if publisher._writer is not None:
        report.missing = dict(publisher._writer.missing)
    if report.deferred:
        log.warning(
            "%d issues wait for the next run (--max-writes %s)", report.deferred, max_writes
        )
    log.info("published: %s", report.counts())


def _count_repair(plan: Plan, repaired: dict[str, int]) -> None:
    repaired["issues"] += 1
    for part in plan.repair:
        repaired[part] = repaired.get(part, 0) + 1
    log.warning("%s: repaired what drifted from the last write: %s", plan.key, sorted(plan.repair))


def _leased(lease: Leases, keys: list[str], wait_s: float, report: PublishReport) -> list[str]:
    """The keys of `keys` this run holds the lease of; the others, which another run is
    writing, stay pending for the next run."""
    names = {f"issue:{key}": key for key in keys}
    held = take_waiting(lease, set(names), wait_s)
    busy = [key for name, key in names.items() if name not in held]
    if busy:
        report.not_written.update(busy)
        report.busy += len(busy)
        log.warning(
            "%d issues are being written by another pmsync run (%s): left for the next run",
            len(busy),
            ", ".join(sorted(lease.holders(set(names) - held))) or "finished since",
        )
    return [key for key in keys if f"issue:{key}" in held]


def change_of(plan: Plan) -> dict[str, Any]:
    """How far one planned write moves the issue's numbers."""
    before = plan.previous or {}
    now = plan.summary
    return {
        "issue": now.issue_key,
        "requests": now.requests,
        "requests_change": now.requests - int(before.get("requests", 0)),
        "open_pipeline": float(now.open_pipeline),
        "pipeline_change": float(now.open_pipeline) - float(before.get("open_pipeline", 0)),
    }


def describe(plan: Plan, publisher: Publisher) -> list[str]:
    """What a write would change on one issue, as lines a person reads in a terminal."""
    previous = DemandSummary.model_validate(plan.previous) if plan.previous else None
    old_fields = publisher.field_values(previous) if previous else {}
    lines = [f"{plan.key}: {'update' if previous else 'first write'}"]
    for name, value in plan.fields.items():
        old = old_fields.get(name)
        if old != value:
            lines.append(f"  field {name!r}: {'(empty)' if old is None else old} -> {value}")
    lines += [f"  label +{label}" for label in plan.labels_add]
    lines += [f"  label -{label}" for label in plan.labels_remove]
    if previous is None:
        lines.append(f"  comment (new): {plan.summary.headline}")
    elif not publisher.comment_due(plan.previous, plan.summary):
        hours = publisher.settings.comment_min_interval_hours
        lines.append(f"  comment: left as it is (numbers only: rewritten at most every {hours:g}h)")
    elif previous.headline != plan.summary.headline:
        lines.append(f"  comment: {previous.headline}")
        lines.append(f"        -> {plan.summary.headline}")
    else:
        lines.append("  comment: numbers unchanged; the requests or customers listed changed")
    size = publisher.tracker.property_bytes(publisher.tracker.fit_property(plan.summary))
    lines.append(f"  property pmsync.demand: {size} bytes")
    return lines
