"""`pmsync links list`, `confirm` and `reject`: every link, and a person's decision on one."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pmsync.common import (
    JsonOption,
    console,
    fail,
    settings_or_exit,
)
from store import Store


def links_list(
    as_json: JsonOption = False,
    issue: Annotated[str | None, typer.Option(help="Only links to this issue.")] = None,
    suggested: Annotated[
        bool,
        typer.Option(
            "--suggested",
            help="Only suggestions waiting for a person: who asks, what it is worth, which "
            "issue, most worth deciding first (value x confidence), a page at a time.",
        ),
    ] = False,
    value: Annotated[
        str, typer.Option(help="With --suggested: rank by revenue or customers.")
    ] = "revenue",
    page: Annotated[int, typer.Option(min=1, help="With --suggested: the page.")] = 1,
    per_page: Annotated[int, typer.Option(min=1, help="With --suggested: rows a page.")] = 20,
) -> None:
    """Every link pmsync made (suggestions excluded unless --suggested), with its method
    and confidence."""
    settings = settings_or_exit()
    store = Store(settings.database_url)
    if suggested and not issue:
        from pmsync.links_cmd import show_suggestions

        show_suggestions(settings, store, value, page, per_page, as_json)
        return
    links = store.links(issue, suggested=suggested)
    if as_json:
        fields = {"source", "record_id", "kind", "issue_key", "method", "confidence"}
        if suggested:
            fields |= {"evidence", "status"}
        print(json.dumps([link.model_dump(include=fields) for link in links]))
        return
    table = Table(title=f"{len(links)} {'suggested ' if suggested else ''}links")
    for column in ("Issue", "Record", "Kind", "Method", "Status", "Confidence", "Evidence"):
        table.add_column(column, overflow="fold")
    for link in links:
        table.add_row(
            link.issue_key,
            f"{link.source}:{link.record_id}",
            link.kind,
            link.method,
            link.status,
            f"{link.confidence:.2f}",
            link.evidence[:80],
        )
    console.print(table)
    if suggested and links:
        console.print(
            "Confirm one with `pmsync links confirm SOURCE:ID KEY`, "
            "or reject it with `pmsync links reject SOURCE:ID KEY`."
        )


def _decide(record: str, issue_key: str, decision: str) -> None:
    source, sep, record_id = record.partition(":")
    if not sep or not source or not record_id:
        fail(f"{record!r} is not SOURCE:ID (for example zendesk:1234 or hubspot:987)")
    store = Store(settings_or_exit().database_url)
    known = {issue.key for issue in store.load("issue")}
    if issue_key not in known:
        fail(f"{issue_key} is not an issue pmsync has pulled (run `pmsync sync` first?)")
    if not any(
        r.id == record_id for kind in ("feedback", "deal") for r in store.load(kind, source)
    ):
        fail(f"{record} is not a ticket or deal pmsync has pulled")
    store.decide(source, record_id, issue_key, decision)
    console.print(
        f"{record} -> {issue_key} {decision}; no later run will change that. "
        "Run `pmsync publish` (or wait for the next sync) to update the ticket."
    )


def links_confirm(
    record: Annotated[str, typer.Argument(metavar="SOURCE:ID", help="e.g. zendesk:1234")],
    issue_key: Annotated[str, typer.Argument(metavar="KEY", help="e.g. ANA-12")],
) -> None:
    """Confirm that a ticket or deal asks for an issue: it counts from now on, always."""
    _decide(record, issue_key, "confirmed")


def links_reject(
    record: Annotated[str, typer.Argument(metavar="SOURCE:ID", help="e.g. zendesk:1234")],
    issue_key: Annotated[str, typer.Argument(metavar="KEY", help="e.g. ANA-12")],
) -> None:
    """Reject a link or suggestion: the pair never links, and is never suggested again."""
    _decide(record, issue_key, "rejected")
