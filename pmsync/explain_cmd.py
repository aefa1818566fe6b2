"""`pmsync explain`: how the numbers on one issue add up."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from models import RecordKind
from pmsync.common import JsonOption, console, fail, folded_table, settings_or_exit
from store import Store


def explain(
    key: Annotated[str, typer.Argument(help="The Jira issue, e.g. ANA-12.")],
    as_json: JsonOption = False,
) -> None:
    """How the numbers on one issue add up: every request, customer and deal, with the
    method, evidence and confidence of each link."""
    from linking.explain import explain as explain_issue
    from services.demand import calculator_for

    settings = settings_or_exit()
    store = Store(settings.database_url, upgrade=True)
    issue = next((i for i in store.records.load(RecordKind.ISSUE) if i.key == key.upper()), None)
    if issue is None:
        from linking.references import unknown_issue_keys

        unknown = unknown_issue_keys(
            store.records.load(RecordKind.DEAL), store.records.issue_keys()
        )
        naming = [
            deal
            for typed, deals in unknown.items()
            if typed.upper() == key.upper()
            for deal in deals
        ]
        also = (
            f"; {len(naming)} deals name it in their issue keys field ({', '.join(naming[:5])}), "
            "which links nothing until the issue exists"
            if naming
            else ""
        )
        fail(f"{key} is not an issue pmsync has pulled (run `pmsync sync` first?){also}")
        return
    report = explain_issue(
        calculator_for(settings, store),
        issue,
        store.links.all(key, suggested=False),
        store.links.all(key, suggested=True),
    )
    if as_json:
        print(json.dumps(report))
        return
    console.print(f"[bold]{key}[/bold] {issue.summary} ({issue.status})")
    console.print(report["headline"])
    for name, text in report["adds_up"].items():
        console.print(f"  {name}: {text}", highlight=False)
    table = folded_table("Requests", ("Record", "Customer", "Method", "Confidence", "Evidence"))
    for r in report["requests"]:
        table.add_row(
            f"{r['source']}:{r['record_id']}",
            r["customer"],
            r["method"],
            f"{r['confidence']:.2f}",
            r["evidence"][:70],
        )
    console.print(table)
    deals = folded_table(
        "Deals that count", ("Deal", "Name", "Amount", "Stage", "Counts in", "Why")
    )
    for d in report["deals"]:
        deals.add_row(
            f"{d['source']}:{d['id']}",
            d["name"],
            d["amount"],
            d["stage"],
            ", ".join(d["counts_in"]),
            "; ".join(d["why"]),
        )
    console.print(deals)
    if report["suggestions"]:
        console.print(
            f"{len(report['suggestions'])} suggestions wait for a person: "
            f"`pmsync links list --suggested --issue {key}`"
        )
