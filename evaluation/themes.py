"""How well themes (linking.themes) recover the groups of labelled duplicates: the
measures of `pmsync eval themes`."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from linking.themes import Theme


def purity_and_coverage(
    labels: Sequence[str | None], themes: Sequence[Theme]
) -> dict[str, float | int]:
    """How well themes recover labelled groups. `labels[i]` is item i's group (None: an
    item in no group, a distractor).

    - purity: over the labelled items placed in a theme, the share that sit with the
      majority group of their theme (distractors in a theme count against it);
    - coverage: the share of labelled items placed in a theme with another of their group;
    - themes, pure_themes: how many themes, and how many hold one group only."""
    in_theme = 0
    labelled_in_theme = 0
    with_majority = 0
    together = 0
    pure = 0
    for theme in themes:
        groups = [labels[i] for i in theme.members]
        counted = [g for g in groups if g is not None]
        if not counted:
            continue
        majority = max(set(counted), key=counted.count)
        in_theme += len(groups)
        labelled_in_theme += len(counted)
        with_majority += counted.count(majority)
        pure += len(set(groups)) == 1
        together += sum(1 for g in counted if counted.count(g) >= 2)
    labelled = sum(1 for g in labels if g is not None)
    return {
        "items": len(labels),
        "labelled": labelled,
        "themes": len(themes),
        "pure_themes": pure,
        "purity": round(with_majority / in_theme, 3) if in_theme else 0.0,
        "labelled_purity": round(with_majority / labelled_in_theme, 3) if in_theme else 0.0,
        "coverage": round(together / labelled, 3) if labelled else 0.0,
    }


def labelled_groups(reports: Path, pairs: Path) -> tuple[list[str], list[str | None]]:
    """Every report's text (summary and description) and its duplicate group: the
    connected components of the pairs file (a duplicate of a duplicate is the same
    problem), named by their smallest id; None for a report in no group of two or more
    present reports. The format of `shared/data/linking/` (evaluation.tasks)."""
    with reports.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    with pairs.open(newline="", encoding="utf-8") as f:
        for pair in csv.DictReader(f):
            one = pair["Issue id"].strip()
            for other in (o.strip() for o in pair["Duplicate id"].split(",")):
                if one and other:
                    a, b = sorted((root(one), root(other)))
                    parent[b] = a
    present = [r["Issue id"].strip() for r in rows]
    sizes = Counter(root(i) for i in present if i in parent)
    labels = [root(i) if i in parent and sizes[root(i)] >= 2 else None for i in present]
    return [f"{r['Summary']}\n{r['Description']}" for r in rows], labels
