"""Demand with no issue yet: requests that link to nothing, grouped into themes a product
manager can read, and the measure of how well the grouping recovers labelled duplicates."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from connectors.settings import Settings
from evaluation.themes import labelled_groups, purity_and_coverage
from flows.pipeline import run_cycle
from linking.themes import cluster
from pmsync.cli import app
from store import Store

TEXTS = [
    "Please put our purchase order number on the invoice",
    "Our accounts team needs the purchase order number printed on every invoice",
    "Invoice must show the purchase order number or finance rejects it",
    "Password reset email never arrives",
    "I asked for a password reset twice and no email arrived",
    "Can we get a dark mode for the dashboard editor",
    "The weather in Lisbon was lovely this spring",
]


def test_similar_requests_form_themes_named_by_their_terms() -> None:
    themes = cluster(TEXTS)
    groups = sorted(sorted(t.members) for t in themes)
    assert groups == [[0, 1, 2], [3, 4]]
    invoice = next(t for t in themes if 0 in t.members)
    assert {"purchase", "invoice"} <= set(invoice.terms)


def test_purity_counts_strangers_against_a_theme_and_coverage_counts_pairs_found() -> None:
    labels = ["a", "a", "a", "b", "b", None, None]
    themes = cluster(TEXTS)
    assert purity_and_coverage(labels, themes)["purity"] == 1.0
    assert purity_and_coverage(labels, themes)["coverage"] == 1.0
    mixed = [t for t in themes if 0 in t.members]
    mixed[0].members = [0, 1, 3, 6]  # two of group a, one of b, one stranger
    measured = purity_and_coverage(labels, mixed)
    assert measured["purity"] == 0.5 and measured["coverage"] == 0.4


def test_duplicate_groups_are_the_pairs_connected(tmp_path: Path) -> None:
    """A duplicate of a duplicate is the same problem; a report whose partner is absent
    is in no group."""
    reports = tmp_path / "reports.csv"
    reports.write_text(
        "Summary,Issue id,Description\nA,1,x\nB,2,x\nC,3,x\nD,4,x\n", encoding="utf-8"
    )
    pairs = tmp_path / "pairs.csv"
    pairs.write_text('Issue id,Duplicate id\n1,2\n3,"2"\n4,99\n', encoding="utf-8")
    texts, labels = labelled_groups(reports, pairs)
    assert texts[0] == "A\nx"
    assert labels == ["1", "1", "1", None]


def test_unlinked_themes_hold_only_requests_no_issue_counts(
    settings: Settings, store: Store, store_url: str
) -> None:
    """`pmsync report --unlinked --json` lists themes of requests that link to no issue,
    each with its customers and quotes linking back to the ticket."""
    run_cycle(settings, store)
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, ["report", "--unlinked", "--json"], env=env)
    assert result.exit_code == 0, result.output
    themes = json.loads(result.stdout)["themes"]
    assert themes, "the sandbox world has requests no issue covers"
    linked = {(x.source, x.record_id) for x in store.links.all(suggested=False)}
    for theme in themes:
        assert theme["requests"] >= 2 and 1 <= theme["customers"] <= theme["requests"]
        assert theme["terms"] and theme["quotes"]
        for quote in theme["quotes"]:
            assert (quote["source"], quote["record_id"]) not in linked
            assert quote["url"].startswith("http")
