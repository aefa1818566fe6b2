"""`pmsync links confirm` and `reject`: a person's decision on one link."""

from __future__ import annotations

from typing import Annotated

import typer

from models import RecordKind
from pmsync.common import console, fail, settings_or_exit
from store import Store


def _decide(record: str, issue_key: str, decision: str) -> None:
    source, sep, record_id = record.partition(":")
    if not sep or not source or not record_id:
        fail(f"{record!r} is not SOURCE:ID (for example zendesk:1234 or hubspot:987)")
    store = Store(settings_or_exit().database_url, upgrade=True)
    known = {issue.key for issue in store.records.load(RecordKind.ISSUE)}
    if issue_key not in known:
        fail(f"{issue_key} is not an issue pmsync has pulled (run `pmsync sync` first?)")
    if not any(
        r.id == record_id
        for kind in (RecordKind.FEEDBACK, RecordKind.DEAL)
        for r in store.records.load(kind, source)
    ):
        fail(f"{record} is not a ticket or deal pmsync has pulled")
    store.links.decide(source, record_id, issue_key, decision)
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
