"""`pmsync eval`: measure linking against labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# Only constants here: scikit-learn loads when the command runs, not on every `pmsync`.
from linking.text_calibration import DEFAULT_SUGGEST_THRESHOLD
from pmsync.common import csv_file, fraction_option
from pmsync.eval_themes_cmd import THEMES_HELP, themes

TARGET_PRECISION = 0.95  # issue 4; evaluation.links.TARGET_PRECISION, without its imports

eval_app = typer.Typer(help="Measure pmsync's linking against labelled data.", no_args_is_help=True)
err = Console(stderr=True)


LINKS_HELP = (
    "How well free-text feedback is linked to the issue it asks for.\n\n"
    "Reads a bug tracker's reports (Summary, Issue id, Resolution, Description, ...) and the "
    "pairs its maintainers marked as the same problem (Issue id, Duplicate id). Every report "
    "resolved as a duplicate that has a partner in the pairs file is feedback; every other "
    "report is a candidate issue; the right answers are the feedback's partners.\n\n"
    "Prints n (feedback whose right issue is among the candidates), recall_at_1, recall_at_5, "
    "mrr, and at the automatic threshold auto_precision (links made for feedback whose "
    "partners are not among the candidates count as wrong) and auto_coverage (the share of "
    "the n that got an automatic link).\n\n"
    "The reports may also be a Jira CSV export as Jira writes it (Issue key, Issue id, "
    "Summary, Description, Resolution, Created, Resolved; dates such as 30/Sep/21 17:20 or "
    "30/Sep/21 5:20 PM; repeated Inward/Outward issue link (Duplicate) columns): without "
    "--pairs, its duplicate links are the pairs.\n\n"
    "A candidate already closed (Resolution set, Resolved "
    "at or before the feedback's Created) is no candidate for that feedback, as pmsync only "
    "matches issues not yet done.\n\n"
    "Both automatic figures are held out: each item's confidence (the calibrated probability "
    "that its top candidate is right) comes from a calibration fitted on all the other items, "
    "never on itself. A link is automatic when that confidence reaches --target-precision; "
    "--auto-threshold sets another threshold.\n\n"
    "Issues created more than some days after the feedback (Created) weigh less; the days and "
    "the weight are chosen, for each item, on the other items, and time_grace_days and "
    "time_later_weight show the ones chosen on all the data. --no-time-prior turns this off."
)


@eval_app.command("links", help=LINKS_HELP)
def links(
    reports: Annotated[Path, csv_file("--reports", "The reports CSV.")],
    pairs: Annotated[
        Path | None,
        csv_file(
            "--pairs",
            "The duplicate pairs CSV; without it, the reports CSV is a Jira export and its "
            "duplicate links are the pairs.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Measure plain TF-IDF cosine instead.")
    ] = False,
    auto_threshold: Annotated[
        float | None,
        fraction_option("Confidence that makes a link automatic; by default --target-precision."),
    ] = None,
    target_precision: Annotated[
        float,
        fraction_option(
            "Precision automatic links must reach; also the default automatic threshold."
        ),
    ] = TARGET_PRECISION,
    suggest_threshold: Annotated[
        float, fraction_option("Confidence that makes a suggestion.")
    ] = DEFAULT_SUGGEST_THRESHOLD,
    time_prior: Annotated[
        bool,
        typer.Option(
            "--time-prior/--no-time-prior",
            help="Weigh down issues created well after the feedback (pmsync's matcher).",
        ),
    ] = True,
    write_calibration: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Fit the confidence calibration on all of this data and write it as a "
            "JSON file (linking/text_calibration.json is the one pmsync ships). Its "
            "automatic threshold is the one measured if the held-out links reached "
            "--target-precision, else 1 (no automatic text links).",
        ),
    ] = None,
) -> None:
    from evaluation.links import (
        calibration_file,
        evaluate_links,
        fit_calibration,
        shipped_threshold,
    )
    from linking.text_calibration import NO_TIME_PRIOR, TimePrior

    if write_calibration and baseline:
        err.print("[red]error:[/red] --write-calibration fits pmsync's matcher, not the baseline")
        raise typer.Exit(2)
    if auto_threshold is not None and suggest_threshold > auto_threshold:
        err.print("[red]error:[/red] --suggest-threshold is above --auto-threshold")
        raise typer.Exit(2)
    method = "tfidf-baseline" if baseline else "pmsync"
    with Progress(
        TextColumn("matching feedback"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("match", total=None)
        result, ranked = evaluate_links(
            reports,
            pairs,
            method,
            auto_threshold,
            suggest_threshold,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            target_precision=target_precision,
            time_prior=time_prior,
        )
    if write_calibration:
        calibration = fit_calibration(ranked)
        source = f"--reports {reports.name}" + (f" --pairs {pairs.name}" if pairs else "")
        write_calibration.write_text(
            calibration_file(
                calibration,
                source,
                shipped_threshold(result),
                suggest_threshold,
                result.target_precision,
                (
                    TimePrior(result.time_grace_days, result.time_later_weight)
                    if result.time_grace_days is not None and result.time_later_weight is not None
                    else NO_TIME_PRIOR
                ),
            ),
            encoding="utf-8",
        )
        err.print(f"wrote {write_calibration}: {calibration}")
    numbers = result.as_dict()
    if as_json:
        print(json.dumps(numbers))
        return
    table = Table(title=f"Text linking ({method}), {result.candidates} candidate issues")
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    for name, value in numbers.items():
        if name not in {"method", "candidates"}:
            table.add_row(name, "n/a" if value is None else str(value))
    Console().print(table)


eval_app.command("themes", help=THEMES_HELP)(themes)
