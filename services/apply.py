"""The one path from stored records to the tracker: link, sum, publish and close the loop over a
scope. `pmsync sync`, backfills, webhook events, `pmsync publish` and dead-letter replays
all come through `apply`; what differs between them is their scope (services.scope)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors import registry
from connectors.settings import Settings
from models import ConfigError, DemandSummary, Issue
from services.close_loop import close_loop
from services.demand import demand
from services.incremental import demand_of_changes, demand_step, link_step, relink_changes
from services.links import link_all
from services.publish import PublishReport, publish_all
from services.scope import Scope
from store import Store

# The store-wide lease of the runs that link and publish (sync, backfill, webhook events,
# `pmsync publish`, replay): their relinks would collide, and their writes double.
WRITER_LEASE = "writer"

# Wraps each step (as a Prefect task, by the flows); the plain function otherwise.
Step = Callable[[Callable[..., Any]], Callable[..., Any]]
# What a run tells whoever watches it (the CLI's progress bars): ("page", tool, records
# in the page), ("pulled", tool, records), ("failed", tool, 0), ("step", name, 0) when
# link/sum/publish/close-loop starts and ("done", name, count) when it ends.
Progress = Callable[[str, str, int], None]


def unwatched(event: str, name: str, count: int) -> None:
    pass


def plain(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


@dataclass
class Applied:
    links: int | None = None  # the links that count (a scope of records counts none)
    issues: list[str] = field(default_factory=list)  # the issues summed
    report: PublishReport | None = None  # None: nothing published (no tracker, or held back)
    notes: dict[str, int] = field(default_factory=dict)  # closing the loop's counts


def apply(
    store: Store,
    settings: Settings,
    scope: Scope,
    *,
    publish: bool = True,
    step: Step = plain,
    progress: Progress = unwatched,
    now: datetime | None = None,
    dry_run: bool = False,
    max_writes: int | None = None,
    only: str | None = None,
) -> Applied:
    """Link, sum and publish what `scope` covers; the caller holds WRITER_LEASE.
    `publish=False` links only (a sync whose tracker pull failed: its issues may be stale).
    `dry_run`, `max_writes` and `only` are `publish_all`'s."""
    done = Applied()
    everything = scope.kind == "everything"
    affected: set[str] = set()
    progress("step", "link", 0)
    if scope.changes is not None:
        affected = step(relink_changes)(settings, store, scope.changes)
    elif scope.sync:
        done.links = step(link_step)(settings, store, everything)
    else:
        done.links = step(link_all)(settings, store)
    progress("done", "link", done.links or 0)
    if not (publish and registry.tracker_configured(settings)):
        return done
    pending = store.ledger.pending() if scope.sync else set()
    progress("step", "sum", 0)
    summaries: Mapping[str, DemandSummary]
    if scope.changes is not None:
        summaries = step(demand_of_changes)(settings, store, scope.changes, affected, now)
    elif scope.sync:
        summaries = step(demand_step)(settings, store, everything)
    else:
        summaries = step(demand)(settings, store)
    done.issues = list(summaries)
    progress("done", "sum", len(summaries))
    if only and only not in summaries:
        raise ConfigError(f"{only} has no demand to publish (no links, or not in the store)")
    progress("step", "publish", 0)
    # A sync's reconcile also reads the issues back and repairs what people changed.
    # Only the options a run sets are passed: a step records what it was given.
    options: dict[str, Any] = {"repair": everything} if scope.sync else {}
    if dry_run or max_writes is not None or only:
        options.update(dry_run=dry_run, max_writes=max_writes, only=only)
    done.report = step(publish_all)(settings, store, summaries, **options)
    progress("done", "publish", done.report.written)
    if scope.sync:
        # Pending issues with no demand to show (suggestions only) are done with too.
        store.ledger.clear_pending((pending | set(summaries)) - done.report.not_written)
        store.ledger.mark_pending(done.report.not_written)
    if settings.close_loop and closes_loop(scope):
        progress("step", "close-loop", 0)
        done.notes = step(close_loop)(settings, store)
        progress("done", "close-loop", done.notes.get("written", 0))
    return done


def closes_loop(scope: Scope) -> bool:
    """A sync closes the loop, and events that changed or deleted an issue; a run over
    everything outside a sync (a backfill, `pmsync publish`) leaves it to the next sync."""
    if scope.changes is not None:
        issues = any(isinstance(record, Issue) for record in scope.changes.changed)
        return issues or bool(scope.changes.deleted.get((registry.tracker().name, "issue")))
    return scope.sync
