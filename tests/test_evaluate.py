"""`pmsync eval links`: the linking task read from a tracker's reports and duplicate pairs,
and the numbers it prints, checked against a small hand-made set."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from evaluation.links import (
    PriorRanks,
    Ranked,
    calibration_file,
    choose_time_prior,
    fit_calibration,
    held_out,
    rank_all,
    rank_scores,
    report,
    shipped_threshold,
)
from evaluation.rankers import task_scores
from evaluation.tasks import FeedbackCase, LinkingTask, read_task
from linking.text_analysis import IssueText
from linking.text_calibration import NO_TIME_PRIOR, Calibration, TimePrior
from pmsync.cli import app

REPORT_COLUMNS = ["Summary", "Issue id", "Status", "Priority", "Resolution", "Created",
                  "Resolved", "Description"]  # fmt: skip

# (id, resolution, summary, description)
REPORTS = [
    ("100", "", "Export dashboards to PDF", "Download a dashboard as a PDF file."),
    ("101", "FIXED", "Single sign-on with Okta", "SAML login for administrators."),
    ("102", "", "Dark mode", "A dark colour theme for the application."),
    ("103", "WONTFIX", "Slack alerts", "Post to Slack when a metric crosses a threshold."),
    ("104", "DUPLICATE", "Old duplicate nobody paired", "Resolved as duplicate, no pair."),
    ("200", "DUPLICATE", "PDF export of a dashboard", "We want dashboards as PDF."),
    ("201", "Duplicate", "Okta SSO please", "Our IT needs SAML single sign-on."),
    ("202", "DUPLICATE", "Night theme", "The white background hurts; dark theme please."),
    ("203", "DUPLICATE", "Keyboard shortcuts", "Partner 999 is not among the reports."),
]
PAIRS = [
    ("200", "100"),
    ("101", "201"),  # listed the other way round: still a pair
    ("202", "102, 103"),  # two partners in one cell
    ("203", "999"),
]


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    reports, pairs = tmp_path / "reports.csv", tmp_path / "pairs.csv"
    with reports.open("w", newline="") as f:
        writer = csv.DictWriter(f, REPORT_COLUMNS)
        writer.writeheader()
        for rid, resolution, summary, description in REPORTS:
            writer.writerow(
                {
                    "Issue id": rid,
                    "Resolution": resolution,
                    "Summary": summary,
                    "Description": description,
                    "Status": "RESOLVED",
                    "Priority": "--",
                    "Created": "",
                    "Resolved": "",
                }  # fmt: skip
            )
    with pairs.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Issue id", "Duplicate id"])
        writer.writerows(PAIRS)
    return reports, pairs


def test_the_task_is_read_as_the_data_readme_says(data):
    """Duplicates with a partner are feedback (whatever the case of "Duplicate"); every other
    report, an unpaired duplicate included, is a candidate; right answers are the partners
    among the candidates, read both ways and from comma-separated cells."""
    task = read_task(*data)
    assert [c.key for c in task.candidates] == ["100", "101", "102", "103", "104"]
    partners = {f.id: set(f.partners) for f in task.feedback}
    assert partners == {"200": {"100"}, "201": {"101"}, "202": {"102", "103"}, "203": set()}
    assert [f.id for f in task.answerable] == ["200", "201", "202"]
    assert task.feedback[0].text == "PDF export of a dashboard\nWe want dashboards as PDF."


def test_a_duplicate_of_a_duplicate_asks_for_the_first_issue(tmp_path):
    """Pairs chain: 300 duplicates 301, itself a duplicate (so not a candidate) of 100; the
    same problem is transitive, so 100 is 300's right answer, not "unanswerable"."""
    reports, pairs = tmp_path / "reports.csv", tmp_path / "pairs.csv"
    with reports.open("w", newline="") as f:
        writer = csv.DictWriter(f, REPORT_COLUMNS, restval="")
        writer.writeheader()
        for rid, resolution in (("100", ""), ("301", "DUPLICATE"), ("300", "DUPLICATE")):
            writer.writerow({"Issue id": rid, "Resolution": resolution, "Summary": rid})
    pairs.write_text("Issue id,Duplicate id\n300,301\n301,100\n")
    task = read_task(reports, pairs)
    assert [c.key for c in task.candidates] == ["100"]
    assert {f.id: set(f.partners) for f in task.feedback} == {"301": {"100"}, "300": {"100"}}


def fixed_ranker(order: dict[str, list[str]]):
    """A ranker that puts, for each feedback text, the given keys first in that order."""

    def rank(
        candidates: Sequence[IssueText], texts: Sequence[str], progress: object = None
    ) -> tuple[list[str], np.ndarray]:
        keys = [c.key for c in candidates]
        scores = np.zeros((len(texts), len(keys)))
        for row, text in enumerate(texts):
            for position, key in enumerate(order[text]):
                scores[row, keys.index(key)] = 1.0 - position / 10
        return keys, scores

    return rank


def test_ranking_metrics_on_known_ranks():
    """Right answers at ranks 1, 2 and 6 give recall@1 1/3, recall@5 2/3 and
    MRR (1 + 1/2 + 1/6) / 3; the first right answer counts when there are two."""
    candidates = [IssueText(str(k), f"issue {k}") for k in range(10)]
    feedback = [
        FeedbackCase("a", "a", frozenset({"0"})),
        FeedbackCase("b", "b", frozenset({"1", "7"})),
        FeedbackCase("c", "c", frozenset({"5"})),
        FeedbackCase("d", "d", frozenset()),  # unanswerable: not in the ranking metrics
    ]
    task = LinkingTask(candidates, feedback)
    ranked = rank_all(
        task,
        fixed_ranker(
            {
                "a": ["0", "1"],
                "b": ["2", "1", "7"],
                "c": ["9", "8", "7", "6", "4", "5"],
                "d": ["3", "4"],
            }
        ),
    )
    assert [r.first_right for r in ranked] == [1, 2, 6, None]
    result = report(task, ranked, "test", 0.9, confidences=[[0.5]] * 4)
    assert result.n == 3
    assert result.recall_at_1 == pytest.approx(1 / 3)
    assert result.recall_at_5 == pytest.approx(2 / 3)
    assert result.mrr == pytest.approx((1 + 1 / 2 + 1 / 6) / 3)
    assert result.unanswerable == 1


def ranked_item(right: bool, answerable: bool = True) -> Ranked:
    partners = frozenset({"1"}) if answerable else frozenset()
    top = ["1", "2", "3"] if right else ["2", "1", "3"]
    case = FeedbackCase("x", "x", partners)
    return Ranked(case, 1 if right else (2 if answerable else None), top, [0.5, 0.4, 0.3])


def test_automatic_link_precision_and_coverage():
    """Precision counts every automatic link, those made for feedback whose right issue is
    not among the candidates as wrong; coverage is the share of answerable feedback that got
    an automatic link; below the threshold nothing counts."""
    ranked = [
        ranked_item(right=True),  # auto, right
        ranked_item(right=True),  # auto, right
        ranked_item(right=False),  # auto, wrong
        ranked_item(right=True),  # below the threshold: suggestion only
        ranked_item(right=False, answerable=False),  # auto, wrong: nothing to link to
        ranked_item(right=False, answerable=False),  # below: no link, rightly
    ]
    confidences = [[0.95, 0.1], [0.91, 0.1], [0.93, 0.4], [0.5, 0.2], [0.92, 0.1], [0.2, 0.1]]
    task = LinkingTask([], [r.case for r in ranked])
    result = report(task, ranked, "test", 0.9, 0.3, confidences=confidences)
    assert result.auto_links == 4
    assert result.auto_precision == pytest.approx(2 / 4)
    assert result.auto_coverage == pytest.approx(3 / 4)
    assert result.unanswerable_auto_links == 1
    # Surfaced to a person: the two right auto links, the suggestion above 0.3, and the
    # wrong auto link's item does not count (its right issue was never shown).
    assert result.suggest_recall == pytest.approx(3 / 4)


def test_no_automatic_link_leaves_precision_undefined():
    ranked = [ranked_item(right=True)]
    result = report(LinkingTask([], [ranked[0].case]), ranked, "t", 0.9, 0.1, [[0.2]])
    assert result.auto_links == 0 and result.auto_precision is None


def scored_item(score: float, right: bool) -> Ranked:
    """A feedback item whose top candidate has `score` (margin `score` too) and is right
    or wrong (wrong ones are unanswerable: linking them is wrong)."""
    case = FeedbackCase("x", "x", frozenset({"1"}) if right else frozenset())
    return Ranked(case, 1 if right else None, ["1", "2"], [score, 0.0])


def test_held_out_confidences_are_fitted_without_the_item():
    """Each item's confidence comes from a calibration fitted on all the other items."""
    items = [scored_item(0.9 - i / 20, i % 3 != 2) for i in range(12)]
    folds = held_out(items)
    for i, item in enumerate(items):
        rest = fit_calibration(items[:i] + items[i + 1 :])
        assert folds[i] == [rest.probability(s, m) for s, m in item.features()]


def test_the_automatic_threshold_is_the_target_precision_unless_fixed():
    """By default a link is automatic when its calibrated probability of being right
    reaches the target precision; a fixed threshold replaces it."""
    items = [scored_item(0.5, True), scored_item(0.5, True)]
    task = LinkingTask([], [i.case for i in items])
    confidences = [[0.96], [0.94]]
    chosen = report(task, items, "t", confidences=confidences, target_precision=0.95)
    assert (chosen.auto_threshold, chosen.target_precision, chosen.auto_links) == (0.95, 0.95, 1)
    fixed = report(task, items, "t", 0.9, confidences=confidences)
    assert (fixed.auto_threshold, fixed.target_precision, fixed.auto_links) == (0.9, None, 2)


@pytest.mark.parametrize(
    ("precision", "target", "shipped"),
    [
        (1.0, 0.95, 0.95),
        (0.95, 0.95, 0.95),
        (0.9, 0.95, None),
        (None, 0.95, None),
        (0.5, None, 0.7),
    ],
)
def test_the_shipped_threshold_is_off_unless_held_out_links_reached_the_target(
    precision, target, shipped
):
    """--write-calibration ships the threshold only when the held-out automatic links were
    right at least the target share of the time (or the caller fixed it)."""
    threshold = 0.95 if target else 0.7
    result = report(LinkingTask([], []), [], "t", threshold if target is None else None)
    result = dataclasses.replace(result, auto_precision=precision, target_precision=target)
    assert shipped_threshold(result) == shipped


def test_a_candidate_closed_before_the_feedback_is_no_candidate_for_it(tmp_path):
    """As in production, where only issues not yet done are matched: a report resolved at
    or before the feedback was written scores 0 for it and is not its right answer; one
    closed later, or with no time, stays a candidate."""
    reports, pairs = tmp_path / "reports.csv", tmp_path / "pairs.csv"
    rows = [  # (id, resolution, created, resolved)
        ("1", "FIXED", "2024-01-01 00:00:00+00:00", "2024-02-01 00:00:00+00:00"),
        ("2", "FIXED", "2024-01-01 00:00:00+00:00", "2024-03-01 00:00:00+00:00"),
        ("3", "", "2024-01-01 00:00:00+00:00", "2024-01-15 00:00:00+00:00"),  # open
        ("4", "WONTFIX", "2024-01-01 00:00:00+00:00", ""),  # closed, time unknown
        ("9", "DUPLICATE", "2024-02-01 00:00:00+00:00", "2024-02-02 00:00:00+00:00"),
    ]
    with reports.open("w", newline="") as f:
        writer = csv.DictWriter(f, REPORT_COLUMNS, restval="")
        writer.writeheader()
        for rid, resolution, created, resolved in rows:
            writer.writerow(
                {
                    "Issue id": rid,
                    "Resolution": resolution,
                    "Summary": "same words",
                    "Created": created,
                    "Resolved": resolved,
                }  # fmt: skip
            )
    pairs.write_text('Issue id,Duplicate id\n9,"1,2"\n')
    task = read_task(reports, pairs)
    assert task.feedback[0].partners == {"2"}  # 1 closed at the very time 9 was written
    keys, scores = task_scores(task, fixed_ranker({"same words\n": ["1", "2", "3", "4"]}))
    assert dict(zip(keys, scores[0], strict=True)) == pytest.approx(
        {"1": 0.0, "2": 0.9, "3": 0.8, "4": 0.7}
    )


def test_the_written_calibration_turns_automatic_links_off_when_no_threshold_qualifies():
    values = json.loads(calibration_file(Calibration(), "--reports r --pairs p", None, 0.1))
    assert values["auto_threshold"] == 1.0


REQUIRED_KEYS = {"n", "recall_at_1", "recall_at_5", "mrr", "auto_precision", "auto_coverage"}


@pytest.mark.parametrize("flags", [[], ["--baseline"]])
def test_cli_json_prints_one_object_with_the_metrics(data, flags):
    """`pmsync eval links --json` prints exactly one JSON object on stdout, for the matcher
    and for the baseline, with the keys the issue names."""
    reports, pairs = data
    args = ["eval", "links", "--reports", str(reports), "--pairs", str(pairs), "--json"]
    result = CliRunner().invoke(app, args + flags)
    assert result.exit_code == 0, result.output
    numbers = json.loads(result.stdout)
    assert set(numbers) >= REQUIRED_KEYS
    assert numbers["n"] == 3
    assert numbers["method"] == ("tfidf-baseline" if flags else "pmsync")
    for key in ("recall_at_1", "recall_at_5", "mrr", "auto_coverage"):
        assert 0 <= numbers[key] <= 1
    assert numbers["auto_precision"] is None or 0 <= numbers["auto_precision"] <= 1
    # On this easy set every right answer is in the top 5.
    assert numbers["recall_at_5"] == 1.0


def test_cli_table_and_calibration_refit(data, tmp_path):
    """Without --json a table is printed; --write-calibration writes a calibration file with
    non-negative weights."""
    reports, pairs = data
    target = tmp_path / "calibration.json"
    args = ["eval", "links", "--reports", str(reports), "--pairs", str(pairs)]
    result = CliRunner().invoke(app, [*args, "--write-calibration", str(target)])
    assert result.exit_code == 0, result.output
    assert "recall_at_5" in result.stdout
    values = json.loads(target.read_text())
    assert values["calibration"]["score_coef"] >= 0 and values["calibration"]["margin_coef"] >= 0
    assert 0 <= values["suggest_threshold"] <= values["auto_threshold"] <= 1


def test_cli_rejects_a_missing_file(tmp_path):
    result = CliRunner().invoke(
        app, ["eval", "links", "--reports", str(tmp_path / "no.csv"), "--pairs", "x.csv"]
    )
    assert result.exit_code != 0


def test_the_time_prior_is_chosen_without_the_item_it_ranks():
    """Held out like the calibration: an item is ranked with the time prior that ranks the
    other items best (recall@5, then MRR), not the one that flatters itself."""
    later = TimePrior(0, 0.5)
    keys = ["old", "new"]
    feedback = [FeedbackCase(str(i), "x", frozenset({"old"})) for i in range(3)]
    task = LinkingTask([IssueText(k, k) for k in keys], feedback)
    ranks = PriorRanks(
        keys,
        np.array([[0.4, 0.6]] * 3, dtype=np.float32),
        np.array([[-10.0, 5.0]] * 3),  # "new" was created 5 days after each item
        {NO_TIME_PRIOR: [1, 1, 3], later: [6, 1, 1]},
    )
    assert choose_time_prior(ranks) == NO_TIME_PRIOR
    assert choose_time_prior(ranks, without=0) == later
    assert choose_time_prior(ranks, without=2) == NO_TIME_PRIOR
    ranked = rank_scores(task, ranks)
    assert [r.time_prior for r in ranked] == [later, NO_TIME_PRIOR, NO_TIME_PRIOR]
    # weighed with its prior, "new" (0.6 -> 0.3) falls below "old" (0.4)
    assert [r.top_keys[0] for r in ranked] == ["old", "new", "new"]


def test_creation_dates_are_read_and_missing_ones_leave_scores_alone(data, tmp_path):
    reports, pairs = data
    task = read_task(reports, pairs)
    assert all(c.created_at is None for c in task.candidates)
    rows = list(csv.DictReader(reports.open()))
    for row in rows:
        row["Created"] = "2024-03-01 12:00:00+00:00"
    dated = tmp_path / "dated.csv"
    with dated.open("w", newline="") as f:
        writer = csv.DictWriter(f, REPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    task = read_task(dated, pairs)
    assert task.feedback[0].created is not None
    assert task.feedback[0].created.isoformat() == "2024-03-01T12:00:00+00:00"
    assert task.candidates[0].created_at == task.feedback[0].created


def test_the_written_calibration_carries_the_time_prior():
    written = calibration_file(
        Calibration(), "--reports r --pairs p", None, 0.1, time_prior=TimePrior(7, 0.5)
    )
    assert json.loads(written)["time_prior"] == {"grace_days": 7.0, "later_weight": 0.5}


def test_the_shipped_calibration_is_read_as_written():
    """linking/text_calibration.json is what --write-calibration writes for the values pmsync
    reads from it, byte for byte: the reader and the writer agree on the format."""
    from importlib.resources import files

    from linking import text_calibration

    shipped = files("linking").joinpath("text_calibration.json").read_text(encoding="utf-8")
    written = calibration_file(
        text_calibration.Calibration(),
        "--reports seamonkey_reports.csv --pairs seamonkey_pairs.csv",
        text_calibration.DEFAULT_AUTO_THRESHOLD,
        text_calibration.DEFAULT_SUGGEST_THRESHOLD,
        time_prior=text_calibration.TimePrior(),
    )
    assert written == shipped


def test_the_settings_default_to_the_shipped_thresholds():
    """PMSYNC_TEXT_AUTO_THRESHOLD and PMSYNC_TEXT_SUGGEST_THRESHOLD default to what
    linking/text_calibration.json ships (the settings carry literals to stay import-light)."""
    from connectors.settings import Settings
    from linking import text_calibration

    fields = Settings.model_fields
    assert fields["text_auto_threshold"].default == text_calibration.DEFAULT_AUTO_THRESHOLD
    assert fields["text_suggest_threshold"].default == text_calibration.DEFAULT_SUGGEST_THRESHOLD


def test_nothing_that_syncs_imports_the_evaluation_tooling():
    """evaluation/ serves `pmsync eval` and the benchmarks: no module of the packages pmsync
    runs to sync, serve or take webhooks imports it, even inside a function."""
    import ast

    root = Path(__file__).resolve().parents[1]
    runtime = ("models", "linking", "connectors", "store", "flows", "webhooks", "deployments")
    found = []
    for package in runtime:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                found += [
                    f"{path.relative_to(root)}: {n}"
                    for n in names
                    if n.split(".")[0] == "evaluation"
                ]
    assert found == []
