"""`pmsync deadletters`: records that failed validation: list, show, replay, refetch."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connectors.settings import Settings
from models import ConfigError
from pmsync.common import JsonOption, SandboxOption, console, fail, folded_table, settings_or_exit
from pmsync.status import iso as _iso
from store import Store

if TYPE_CHECKING:
    from flows.replay import LettersReport

deadletters_app = typer.Typer(
    help="Records that failed validation: list, show, replay, refetch.", no_args_is_help=True
)
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", metavar="R", help="Only letters whose reason contains R."),
]
IdsOption = Annotated[
    list[int] | None, typer.Option("--id", metavar="ID", help="Only this letter (repeatable).")
]


@deadletters_app.command("list")
def deadletters_list(
    reason: ReasonOption = None,
    include_resolved: Annotated[bool, typer.Option("--all", help="Resolved letters too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Unresolved dead letters (the raw payloads are in `show ID`)."""
    store = Store(settings_or_exit().database_url, upgrade=True)
    letters = [
        {
            "id": d["id"],
            "source": d["source"],
            "kind": d["kind"],
            "record_id": d["record_id"],
            "reason": d["reason"],
            "created_at": _iso(d["created_at"]),
            "resolved": d["resolved"],
        }
        for d in store.dead_letters.all(include_resolved=include_resolved)
        if reason is None or reason.lower() in d["reason"].lower()
    ]
    if as_json:
        print(json.dumps(letters))
        return
    table = folded_table(
        f"{len(letters)} dead letters", ("Id", "Record", "Kind", "Reason", "Since")
    )
    for d in letters:
        table.add_row(
            str(d["id"]),
            f"{d['source']}:{d['record_id']}",
            d["kind"],
            d["reason"][:90],
            d["created_at"] or "",
        )
    console.print(table)


@deadletters_app.command("show")
def deadletters_show(
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="The letter's id (see list).")],
) -> None:
    """One dead letter with its raw payload, as JSON (`_context` is pmsync's: what the
    record's builder read besides the record)."""
    letter = Store(settings_or_exit().database_url, upgrade=True).dead_letters.get(letter_id)
    if letter is None:
        fail(f"no dead letter {letter_id} (see `pmsync deadletters list --all`)")
        return
    letter["created_at"] = _iso(letter["created_at"])
    print(json.dumps(letter, indent=2, default=str))


@deadletters_app.command("replay")
def deadletters_replay(
    reason: ReasonOption = None,
    ids: IdsOption = None,
    sandbox: SandboxOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild the stored raw records with pmsync's current code and configuration: those
    that now validate go into the store (their letters resolved), the others stay with the
    reason they fail now; then relink and publish once."""
    from flows.replay import replay_dead_letters

    _show_letters_done(_on_letters(replay_dead_letters, sandbox, reason, ids), as_json)


@deadletters_app.command("refetch")
def deadletters_refetch(
    reason: ReasonOption = None,
    ids: IdsOption = None,
    sandbox: SandboxOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read the dead-lettered records again from their tools (once fixed there): those the
    tool now serves valid go into the store (their letters resolved), those it no longer
    has resolve their letters, the others stay with the reason they fail now; then relink
    and publish once."""
    from flows.refetch import refetch_dead_letters

    _show_letters_done(_on_letters(refetch_dead_letters, sandbox, reason, ids), as_json)


def _on_letters(
    run: Callable[[Settings, Store, str | None, list[int] | None], Any],
    sandbox: str | None,
    reason: str | None,
    ids: list[int] | None,
) -> Any:
    """Run a replay or refetch over the chosen letters; a configuration error exits."""
    settings = settings_or_exit(sandbox)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(settings, Store(settings.database_url, upgrade=True), reason, ids)
    except ConfigError as error:
        fail(str(error))
        raise  # fail() exits; this line only tells type checkers so


def _show_letters_done(report: LettersReport, as_json: bool) -> None:
    """What a replay or refetch did: the JSON, or the headline, the letters still failing
    and what was relinked and published."""
    if as_json:
        print(json.dumps(report.as_dict()))
        return
    console.print(report.headline(), highlight=False)
    for letter_id, why in report.still_bad.items():
        console.print(f"  {letter_id}: {why[:110]}", highlight=False)
    if report.published is not None:
        console.print(f"relinked ({report.links} links), published {report.published}")
