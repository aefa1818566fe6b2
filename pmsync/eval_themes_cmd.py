"""`pmsync eval themes`: how well themes of unlinked requests recover labelled groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pmsync.common import csv_file

THEMES_HELP = (
    "How well pmsync groups requests that link to no issue into themes.\n\n"
    "Reads a bug tracker's reports and its duplicate pairs (the format of `pmsync eval "
    "links`); a duplicate group is a connected component of the pairs. Two settings: "
    "'labelled' groups only the reports of the duplicate groups; 'all' groups every report, "
    "the others acting as unrelated requests. For each threshold: themes (groups of 2 or "
    "more), purity (the share of a theme's reports that belong to its most common group; "
    "unlabelled reports in a theme count against it), labelled_purity (the same among "
    "labelled reports only) and coverage (the share of labelled reports placed in a theme "
    "with another report of their group)."
)


def themes(
    reports: Annotated[Path, csv_file("--reports", "The reports CSV.")],
    pairs: Annotated[Path, csv_file("--pairs", "The duplicate pairs CSV.")],
    threshold: Annotated[
        list[float] | None,
        typer.Option(help="Similarity threshold(s) to measure (default: the shipped one)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    from evaluation.themes import labelled_groups, purity_and_coverage
    from linking.themes import THRESHOLD, cluster

    texts, labels = labelled_groups(reports, pairs)
    grouped = [i for i, label in enumerate(labels) if label is not None]
    results = []
    for t in threshold or [THRESHOLD]:
        only = [labels[i] for i in grouped]
        results.append(
            {
                "threshold": t,
                "labelled": purity_and_coverage(
                    only, cluster([texts[i] for i in grouped], threshold=t)
                ),
                "all": purity_and_coverage(labels, cluster(texts, threshold=t)),
            }
        )
    if as_json:
        print(json.dumps({"results": results}))
        return
    table = Table(title=f"Themes against {len(set(labels) - {None})} duplicate groups")
    for column in ("threshold", "setting", "items", "themes", "purity", "labelled_purity"):
        table.add_column(column, justify="right")
    table.add_column("coverage", justify="right")
    for result in results:
        for setting in ("labelled", "all"):
            m = result[setting]
            assert isinstance(m, dict)
            table.add_row(
                str(result["threshold"]),
                setting,
                str(m["items"]),
                str(m["themes"]),
                str(m["purity"]),
                str(m["labelled_purity"]),
                str(m["coverage"]),
            )
    Console().print(table)
