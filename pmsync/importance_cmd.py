"""A request's importance, 1 to 3 (linking.importance): `pmsync links importance SOURCE:ID
[N]` and the importance column of `links export --suggested --csv` / `links apply`. A
person's word is kept in the store's request_importance, which no sync touches, and the
issues the request counts for are marked to be summed and published again."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated

import typer

from linking.importance import HIGHEST, LOWEST, from_priority, importance_of
from models import Feedback, RecordKind
from pmsync.common import console, fail, settings_or_exit
from store import Store
from store.importance import Importances

Pair = tuple[str, str]


def parse_importance(text: str) -> int | None:
    """1, 2 or 3 (None: not one of them)."""
    value = text.strip()
    return int(value) if value in {str(n) for n in range(LOWEST, HIGHEST + 1)} else None


def current(store: Store, items: Iterable[Feedback]) -> dict[Pair, int]:
    """Each request's importance now: a person's, else its priority's."""
    chosen = Importances(store.engine).all()
    return {(f.source, f.id): importance_of(f, chosen) for f in items}


def apply_importances(store: Store, choices: Mapping[Pair, int | None]) -> set[str]:
    """Keep a person's importances (None: forget it) and mark the issues those requests
    count for, so the next publish sums them again; the issues marked."""
    Importances(store.engine).set((s, r, n) for (s, r), n in choices.items())
    issues = {x.issue_key for x in store.links.of_owners(choices) if x.counts}
    store.ledger.mark_pending(issues)
    return issues


def read_importances(path: Path, known: Mapping[Pair, int]) -> tuple[dict[Pair, int], list[str]]:
    """The importances a links CSV changes (its `importance` column, where it differs from
    the request's importance now), and the problems of the rows that cannot be applied."""
    wanted: dict[Pair, int] = {}
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if "importance" not in (reader.fieldnames or []):
            return {}, []
        for line, row in enumerate(reader, 2):
            text = (row.get("importance") or "").strip()
            if not text:
                continue
            pair = ((row.get("source") or "").strip(), (row.get("record_id") or "").strip())
            value = parse_importance(text)
            if pair not in known:
                problems.append(f"line {line}: {pair[0]}:{pair[1]} is no request to weigh")
            elif value is None:
                problems.append(f"line {line}: importance {text!r} is not 1, 2 or 3")
            elif wanted.setdefault(pair, value) != value:
                problems.append(f"line {line}: {pair[0]}:{pair[1]} has two importances")
    changed = {pair: value for pair, value in wanted.items() if value != known[pair]}
    return changed, problems


def links_importance(
    record: Annotated[str, typer.Argument(metavar="SOURCE:ID", help="e.g. zendesk:1234")],
    importance: Annotated[
        int | None,
        typer.Argument(
            metavar="N", min=LOWEST, max=HIGHEST, help="1, 2 or 3; leave out to show it."
        ),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Forget the person's word: the priority speaks.")
    ] = False,
) -> None:
    """How much a request weighs in its issues' demand, 1 to 3 (as Productboard's +1..+3):
    from its ticket's priority (urgent 3, high 2, else 1) unless a person set it here."""
    source, sep, record_id = record.partition(":")
    if not sep or not source or not record_id:
        fail(f"{record!r} is not SOURCE:ID (for example zendesk:1234)")
    if importance is not None and clear:
        fail("give N or --clear, not both")
    store = Store(settings_or_exit().database_url, upgrade=True)
    item = next(
        (f for f in store.records.load(RecordKind.FEEDBACK, source) if f.id == record_id), None
    )
    if item is None:
        fail(f"{record} is not a ticket or conversation pmsync has pulled")
        return
    if importance is None and not clear:
        now = current(store, [item])[(source, record_id)]
        said = Importances(store.engine).all().get((source, record_id))
        why = "set by a person" if said is not None else f"from its priority {item.priority}"
        console.print(f"{record}: importance {now} ({why if item.priority or said else 'default'})")
        return
    issues = apply_importances(store, {(source, record_id): importance})
    now = importance if importance is not None else from_priority(item.priority)
    console.print(
        f"{record}: importance {now}{'' if importance else ' (from its priority)'}; no sync "
        f"changes it. {len(issues)} issues to update: run `pmsync publish` (or wait for the "
        "next sync)."
    )
