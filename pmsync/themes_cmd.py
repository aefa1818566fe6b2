"""Themes of the requests that link to no issue: `pmsync report --unlinked` and the
report page's section."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime

from connectors.settings import Settings
from linking.themes import MAX_ITEMS, Theme, cluster
from models import Feedback, Link, RecordKind
from models.records import money
from pmsync.common import console, folded_table
from store import Store

THEME_KEY = "(theme)"  # a stand-in issue key: a theme is summed as an issue would be


def unlinked_feedback(store: Store) -> list[Feedback]:
    """Feedback no counting link ties to an issue, most recent first (at most MAX_ITEMS)."""
    linked = {
        (x.source, x.record_id) for x in store.links.all(suggested=False) if x.kind == "feedback"
    }
    items = [f for f in store.records.load(RecordKind.FEEDBACK) if (f.source, f.id) not in linked]
    items.sort(key=lambda f: (f.created_at or f.updated_at, f.source, f.id), reverse=True)
    return items[:MAX_ITEMS]


def themes_of(settings: Settings, store: Store, now: datetime | None = None) -> list[Theme]:
    """The themes, with requests, customers, revenue and quotes counted as on a ticket."""
    from services.demand import calculator_for

    items = unlinked_feedback(store)
    themes = cluster([f"{f.subject}\n{f.body}" for f in items])
    links = [
        Link(source=f.source, record_id=f.id, kind="feedback", issue_key=THEME_KEY, method="text")
        for f in items
    ]
    calculator = calculator_for(settings, store, now or datetime.now(UTC), links)
    for theme in themes:
        summary = calculator.summary(THEME_KEY, [links[i] for i in theme.members])
        theme.size, theme.customers = summary.requests, summary.customers
        theme.revenue, theme.quotes = summary.revenue, summary.quotes
        theme.records = [(items[i].source, items[i].id) for i in theme.members]
        theme.requests = summary.feedback
        theme.customer_names = [c.name for c in summary.top_customers]
    themes.sort(key=lambda t: (-t.customers, -t.revenue, -t.size, t.id))
    return themes


def show_themes(settings: Settings, store: Store, as_json: bool, as_csv: bool) -> None:
    themes = themes_of(settings, store)
    rows = [
        {
            "theme": t.id,
            "terms": ", ".join(t.terms),
            "requests": t.size,
            "customers": t.customers,
            "revenue": str(t.revenue),
            "quotes": [q.model_dump() for q in t.quotes],
        }
        for t in themes
    ]
    if as_json:
        print(json.dumps({"themes": rows}))
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=[*rows[0]] if rows else ["theme"])
        writer.writeheader()
        for row in rows:
            quotes = row["quotes"]
            assert isinstance(quotes, list)
            writer.writerow(
                {**row, "quotes": " | ".join(f"{q['text']} <{q['url']}>" for q in quotes)}
            )
        return
    table = folded_table(
        f"{len(themes)} themes among requests that link to no issue",
        ("Theme", "Terms", "Requests", "Customers", "Revenue", "Example"),
    )
    for t in themes:
        quote = t.quotes[0] if t.quotes else None
        table.add_row(
            str(t.id),
            ", ".join(t.terms),
            str(t.size),
            str(t.customers),
            money(t.revenue),
            f"{quote.customer}: {quote.text} ({quote.url})" if quote else "",
        )
    console.print(table)
