"""`pmsync links`: every link pmsync made (`list`), a person's decision on one (`confirm`,
`reject`, in pmsync.links_decide_cmd), a request's importance (`importance`, in
pmsync.importance_cmd), and suggestions worth a person's minute: `links list --suggested`
(who asks, what it is worth, which issue), `links review` (one at a time in the terminal),
`links export --suggested --csv` and `links apply FILE.csv` (many at once). Decisions go to
the store's link_decisions, which every later run obeys (services.links.apply_decisions)."""

from __future__ import annotations

import csv
import json
import math
import sys
import webbrowser
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from connectors.settings import Settings
from linking.importance import importance_of
from models import RecordKind
from models.records import money
from pmsync.common import JsonOption, console, err, fail, folded_table, settings_or_exit
from pmsync.importance_cmd import (
    apply_importances,
    current,
    links_importance,
    read_importances,
)
from pmsync.links_decide_cmd import links_confirm, links_reject
from store import Store

VALUES = ("revenue", "customers")
EXPORT_COLUMNS = (
    "decision",
    "importance",
    "source",
    "record_id",
    "issue_key",
    "confidence",
    "score",
    "subject",
    "customer",
    "revenue",
    "url",
    "issue_summary",
    "issue_url",
    "evidence",
)
# What a person may write in the CSV's decision column, in their words or the store's.
DECISIONS = {
    "confirm": "confirmed",
    "confirmed": "confirmed",
    "yes": "confirmed",
    "y": "confirmed",
    "reject": "rejected",
    "rejected": "rejected",
    "no": "rejected",
    "n": "rejected",
}

links_app = typer.Typer(
    help="Links between feedback or deals and Jira issues.", no_args_is_help=True
)


@links_app.command("list")
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
    store = Store(settings.database_url, upgrade=True)
    if suggested and not issue:
        show_suggestions(settings, store, value, page, per_page, as_json)
        return
    links = store.links.all(issue, suggested=suggested)
    if as_json:
        fields = {"source", "record_id", "kind", "issue_key", "method", "confidence"}
        if suggested:
            fields |= {"evidence", "status"}
        print(json.dumps([link.model_dump(include=fields) for link in links]))
        return
    table = folded_table(
        f"{len(links)} {'suggested ' if suggested else ''}links",
        ("Issue", "Record", "Kind", "Method", "Status", "Confidence", "Evidence"),
    )
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


links_app.command("confirm")(links_confirm)
links_app.command("reject")(links_reject)
links_app.command("importance")(links_importance)


@dataclass
class Suggestion:
    source: str
    record_id: str
    issue_key: str
    confidence: float
    score: float
    subject: str
    customer: str
    revenue: Decimal
    url: str
    issue_summary: str
    issue_url: str
    evidence: str
    # The request's weight, 1 to 3 (linking.importance); None for a deal.
    importance: int | None = None

    @property
    def record(self) -> str:
        return f"{self.source}:{self.record_id}"


def suggestions(settings: Settings, store: Store, value: str = "revenue") -> list[Suggestion]:
    """Every suggestion no person decided yet, most worth deciding first: the asking
    customer's revenue (or, with value="customers", how many customers the suggestions
    would add to the issue) times the confidence."""
    from services.demand import calculator_for

    decided = store.links.decisions()
    waiting = [
        x
        for x in store.links.all(suggested=True)
        if decided.get((x.source, x.record_id, x.issue_key)) in (None, "suggested")
    ]
    # As if they counted: the calculator then holds their feedback, deals and customers.
    counted = [x.model_copy(update={"status": "auto"}) for x in waiting]
    calculator = calculator_for(settings, store, datetime.now(UTC), counted)
    issues = {issue.key: issue for issue in store.records.load(RecordKind.ISSUE)}
    rows = []
    customers_of: dict[str, set[str]] = defaultdict(set)
    for link in waiting:
        pair = (link.source, link.record_id)
        item = calculator.feedback.get(pair)
        deal = calculator.deals.get(pair)
        if item is not None:
            customer = calculator.directory.for_feedback(item)
            subject, url = item.subject or item.body[:80], item.url
            key, name = customer.key, customer.name
            weight: int | None = importance_of(item, calculator.importance)
        elif deal is not None:
            owners = calculator.directory.for_deal(deal)
            subject, url = deal.name, deal.url
            key = owners[0].key if owners else ""
            name = owners[0].name if owners else ""
            weight = None
        else:
            continue  # the record is gone; the next sync drops the link
        customers_of[link.issue_key].add(key)
        issue = issues.get(link.issue_key)
        rows.append(
            Suggestion(
                source=link.source,
                record_id=link.record_id,
                issue_key=link.issue_key,
                confidence=link.confidence,
                score=0.0,
                subject=subject,
                customer=name,
                revenue=calculator.revenue_of(key) if key else Decimal(0),
                url=url,
                issue_summary=issue.summary if issue else "",
                issue_url=issue.url if issue else "",
                evidence=link.evidence,
                importance=weight,
            )
        )
    for row in rows:
        worth = float(row.revenue) if value == "revenue" else len(customers_of[row.issue_key])
        row.score = round(worth * row.confidence, 2)
    rows.sort(key=lambda r: (-r.score, -r.confidence, r.issue_key, r.source, r.record_id))
    return rows


def show_suggestions(
    settings: Settings, store: Store, value: str, page: int, per_page: int, as_json: bool
) -> None:
    """One page of suggestions, most worth deciding first (`links list --suggested`)."""
    if value not in VALUES:
        fail(f"--value is one of {', '.join(VALUES)}")
    rows = suggestions(settings, store, value)
    pages = max(1, math.ceil(len(rows) / per_page))
    shown = rows[(page - 1) * per_page : page * per_page]
    if as_json:
        print(
            json.dumps(
                {
                    "total": len(rows),
                    "page": page,
                    "pages": pages,
                    "suggestions": [_as_json(r) for r in shown],
                }
            )
        )
        return
    table = folded_table(
        f"{len(rows)} suggestions by {value} x confidence, page {page} of {pages}",
        ("Record", "Subject", "Customer", "Revenue", "Issue", "Conf.", "Score"),
    )
    for row in shown:
        table.add_row(
            f"{row.record}\n[link={row.url}]{row.url}[/link]",
            row.subject[:60],
            row.customer,
            money(row.revenue),
            f"{row.issue_key} {row.issue_summary[:40]}",
            f"{row.confidence:.2f}",
            f"{row.score:,.0f}" if value == "revenue" else f"{row.score:.2f}",
        )
    console.print(table)
    if page < pages:
        console.print(f"Next: `pmsync links list --suggested --page {page + 1}`.")
    if rows:
        console.print(
            "Decide them one by one with `pmsync links review`, or many at once with "
            "`pmsync links export --suggested --csv > s.csv`, a decision column filled in, "
            "and `pmsync links apply s.csv`."
        )


def _as_json(row: Suggestion) -> dict[str, Any]:
    data = asdict(row)
    data["revenue"] = str(row.revenue)
    return data


@links_app.command("review")
def links_review(
    value: Annotated[str, typer.Option(help="Rank by revenue or customers.")] = "revenue",
) -> None:
    """Walk through the suggestions, most worth deciding first: [c]onfirm, [r]eject,
    [s]kip, [o]pen the ticket in a browser, [q]uit. Each decision is kept at once."""
    settings = settings_or_exit()
    store = Store(settings.database_url, upgrade=True)
    rows = suggestions(settings, store, value)
    decided = {"confirmed": 0, "rejected": 0}
    for number, row in enumerate(rows, 1):
        console.rule(f"{number} of {len(rows)}")
        console.print(
            f"[bold]{row.subject}[/bold]\n{row.customer or 'unknown customer'}, "
            f"{money(row.revenue)} revenue - {row.url}\n"
            f"asks for [bold]{row.issue_key}[/bold] {row.issue_summary}? "
            f"(confidence {row.confidence:.2f}; {row.evidence[:100]})"
        )
        while True:
            answer = typer.prompt("[c]onfirm [r]eject [s]kip [o]pen [q]uit", default="s")
            choice = answer.strip().lower()[:1]
            if choice == "o":
                webbrowser.open(row.url)
                continue
            break
        if choice == "q":
            break
        if choice in ("c", "r"):
            decision = "confirmed" if choice == "c" else "rejected"
            store.links.decide(row.source, row.record_id, row.issue_key, decision)
            decided[decision] += 1
    console.print(
        f"{decided['confirmed']} confirmed, {decided['rejected']} rejected. Run `pmsync "
        "publish` (or wait for the next sync) to update the tickets."
    )


@links_app.command("export")
def links_export(
    suggested: Annotated[
        bool, typer.Option("--suggested", help="Export the suggestions waiting for a person.")
    ] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="As CSV (the only format).")] = True,
    value: Annotated[str, typer.Option(help="Rank by revenue or customers.")] = "revenue",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE, not the terminal.")
    ] = None,
) -> None:
    """The suggestions as CSV, most worth deciding first, with an empty `decision` column:
    fill it with confirm or reject (or leave it empty to skip), then `pmsync links apply`."""
    if not suggested:
        fail("only --suggested can be exported")
    del as_csv
    settings = settings_or_exit()
    rows = suggestions(settings, Store(settings.database_url, upgrade=True), value)
    with output.open("w", newline="", encoding="utf-8") if output else _stdout() as out:
        write_export(rows, out)
    if output:
        err.print(f"Wrote {len(rows)} suggestions to {output}")


class _stdout:
    def __enter__(self) -> TextIO:
        return sys.stdout

    def __exit__(self, *_: object) -> None:
        sys.stdout.flush()


def write_export(rows: list[Suggestion], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({"decision": "", **_as_json(row)})


def read_decisions(
    path: Path, known_issues: set[str], known_records: set[tuple[str, str]]
) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """(source, record_id, issue_key, decision) of every decided row, and the problems
    of the rows that cannot be applied (line numbers as a spreadsheet shows them)."""
    decided, problems = [], []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"decision", "source", "record_id", "issue_key"} - set(reader.fieldnames or [])
        if missing:
            return [], [f"{path} has no column {', '.join(sorted(missing))}"]
        for line, row in enumerate(reader, 2):
            word = (row["decision"] or "").strip().lower()
            if word in ("", "skip", "s"):
                continue
            decision = DECISIONS.get(word)
            source, record_id = row["source"].strip(), row["record_id"].strip()
            key = row["issue_key"].strip()
            if decision is None:
                problems.append(f"line {line}: {word!r} is not confirm, reject or empty")
            elif key not in known_issues:
                problems.append(f"line {line}: {key} is not an issue pmsync has pulled")
            elif (source, record_id) not in known_records:
                problems.append(f"line {line}: {source}:{record_id} is not a ticket or deal")
            else:
                decided.append((source, record_id, key, decision))
    return decided, problems


@links_app.command("apply")
def links_apply(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, metavar="FILE.csv", help="Decisions.")
    ],
) -> None:
    """Apply the decisions of a CSV (`links export --suggested --csv`, its decision column
    filled with confirm or reject, its importance column with 1, 2 or 3 where a request
    weighs otherwise): every later run keeps them. A file with a bad row
    applies nothing and names the rows."""
    settings = settings_or_exit()
    store = Store(settings.database_url, upgrade=True)
    known_issues = {issue.key for issue in store.records.load(RecordKind.ISSUE)}
    known_records = {
        (record.source, record.id)
        for kind in (RecordKind.FEEDBACK, RecordKind.DEAL)
        for record in store.records.load(kind)
    }
    decided, problems = read_decisions(path, known_issues, known_records)
    weights, weight_problems = read_importances(
        path, current(store, store.records.load(RecordKind.FEEDBACK))
    )
    problems += weight_problems
    if problems:
        for problem in problems:
            err.print(f"[red]{problem}[/red]")
        fail(f"{len(problems)} rows cannot be applied; nothing was (fix them and run again)")
    for source, record_id, key, decision in decided:
        store.links.decide(source, record_id, key, decision)
    if weights:
        apply_importances(store, dict(weights))
    counts = {d: sum(1 for *_, x in decided if x == d) for d in ("confirmed", "rejected")}
    console.print(
        f"{counts['confirmed']} confirmed, {counts['rejected']} rejected"
        + (f", {len(weights)} importances set" if weights else "")
        + "; no later run will change them. Run `pmsync publish` (or wait for the next sync) "
        "to update the tickets."
    )
