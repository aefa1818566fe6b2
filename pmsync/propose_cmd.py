"""`pmsync themes propose THEME`: a theme of requests no issue covers, as a proposed
tracker issue (summary and description: terms, size, customers, revenue, the requests' own words
with their links); with `--create`, the issue made in the tracker and the theme's requests
suggested for it, waiting for a person in `pmsync links review`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from connectors import registry
from connectors.settings import Settings
from connectors.tracker import Bullets, Document, Paragraph, Span
from models.records import money
from pmsync.common import SandboxOption, console, fail, settings_or_exit
from store import Store

if TYPE_CHECKING:  # building themes loads scikit-learn: only `propose` does it
    from linking.themes import Theme

themes_app = typer.Typer(help="Themes of requests that link to no issue.", no_args_is_help=True)
LISTED_REQUESTS = 10


@dataclass
class Proposal:
    summary: str
    lines: list[str]  # the description as text, one paragraph or item a line
    description: Document  # the same, for the tracker to render in its format
    label: str  # names the theme's requests: the same theme proposes the same issue


def propose(theme: Theme, currency: str | None = None) -> Proposal:
    """The issue a theme would become: what customers ask, in their words, and its worth."""
    summary = "Customers ask: " + ", ".join(theme.terms[:3])
    names = ", ".join(theme.customer_names[:5])
    more = theme.customers - min(len(theme.customer_names), 5)
    if more > 0:
        names += f" and {more} more"
    headline = (
        f"{theme.size} request{'s' if theme.size != 1 else ''} from {theme.customers} "
        f"customer{'s' if theme.customers != 1 else ''} ({names}), "
        f"{money(theme.revenue, currency)} revenue, link to no issue yet."
    )
    terms = "Terms that explain the theme: " + ", ".join(theme.terms) + "."
    quotes = [
        (f"“{q.text}” ", f"{q.customer}, {q.source} #{q.record_id}", q.url) for q in theme.quotes
    ]
    listed = [(f"{r.source} #{r.record_id}: {r.subject}", r.url) for r in theme.requests]
    listed = listed[:LISTED_REQUESTS]
    blocks: list[Paragraph | Bullets] = [
        Paragraph((Span(headline, bold=True),)),
        Paragraph((Span(terms),)),
    ]
    lines = [headline, terms]
    if quotes:
        blocks.append(Paragraph((Span("In their words", bold=True),)))
        blocks.append(Bullets(tuple((Span(t), Span(who, link=url)) for t, who, url in quotes)))
        lines += ["In their words:"] + [f"- {t}{who} <{url}>" for t, who, url in quotes]
    if listed:
        blocks.append(Paragraph((Span("Requests", bold=True),)))
        blocks.append(Bullets(tuple((Span(t, link=url or None),) for t, url in listed)))
        lines += ["Requests:"] + [f"- {t} <{url}>" for t, url in listed]
    tail = "Proposed by pmsync from a theme of requests no issue covers."
    blocks.append(Paragraph((Span(tail),)))
    lines.append(tail)
    digest = hashlib.sha256(json.dumps(sorted(theme.records)).encode()).hexdigest()[:10]
    return Proposal(summary, lines, tuple(blocks), f"pmsync-theme-{digest}")


def create(settings: Settings, store: Store, theme: Theme, project: str) -> tuple[str, bool]:
    """The issue made in the tracker (or found, made before from the same requests) and
    the theme's requests suggested for it: (key, made now)."""
    from services.publish import publishing

    proposal = propose(theme)
    key, made = publishing(settings).create_issue(
        project, proposal.summary, proposal.description, proposal.label
    )
    for source, record_id in theme.records:
        store.links.decide(source, record_id, key, "suggested")
    return key, made


@themes_app.command("propose")
def themes_propose(
    theme_id: Annotated[int, typer.Argument(metavar="THEME", help="From `report --unlinked`.")],
    project: Annotated[
        str | None, typer.Option(help="The Jira project (default: the first configured).")
    ] = None,
    do_create: Annotated[
        bool,
        typer.Option("--create", help="Create the issue in Jira and suggest its requests."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    sandbox: SandboxOption = None,
) -> None:
    """A theme of requests no issue covers, as a proposed issue: its summary and
    description. With --create, the issue is created in Jira (once: again finds it) and
    the theme's requests wait for a person as suggestions (`pmsync links review`) from the
    next sync, which pulls the new issue."""
    from pmsync.themes_cmd import themes_of

    settings = settings_or_exit(sandbox)
    store = Store(settings.database_url, upgrade=True)
    theme = next((t for t in themes_of(settings, store) if t.id == theme_id), None)
    if theme is None:
        fail(f"no theme {theme_id}: `pmsync report --unlinked` lists them")
        return
    proposal = propose(theme)
    key, made = None, False
    if do_create:
        from services.publish import publishing

        tracker = registry.tracker()
        target = project or publishing(settings).default_project()
        if not tracker.configured(settings) or not target:
            fail(
                f"--create needs {tracker.shown_as} ({tracker.url_setting}) "
                "and a project (--project KEY)"
            )
            return
        key, made = create(settings, store, theme, target.upper())
    if as_json:
        print(
            json.dumps(
                {
                    "theme": theme.id,
                    "summary": proposal.summary,
                    "description": proposal.lines,
                    "label": proposal.label,
                    "requests": [f"{s}:{r}" for s, r in theme.records],
                    "issue": key,
                    "created": made,
                }
            )
        )
        return
    console.print(f"[bold]{proposal.summary}[/bold]", highlight=False)
    console.print("\n".join(proposal.lines), highlight=False, soft_wrap=True)
    if key:
        said = "Created" if made else "Already created from these requests:"
        console.print(
            f"\n{said} {key}; its {len(theme.records)} requests wait as suggestions from the "
            "next `pmsync sync` (then `pmsync links review`)."
        )
    else:
        console.print(f"\nCreate it with `pmsync themes propose {theme.id} --create`.")
