"""How well text matching links feedback to the issue it asks for, measured on labelled data.

The data is a bug tracker's reports and the pairs its maintainers marked as the same problem
(the format of `shared/data/linking/`). Every report resolved as a duplicate that has a
partner in the pairs file is a piece of feedback; every other report is a candidate issue;
the right answers are the feedback's partners among the candidates. Feedback whose partners
are all outside the candidates ("unanswerable") is kept too: ranking metrics skip it, but an
automatic link made for it is a wrong link, as it would be in production.

Confidence is calibrated on the same data, so the automatic-link figures are held out:
each feedback item's confidences come from a calibration fitted on all the other items
(leave-one-out), never on itself.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from linking.text import (
    DEFAULT_AUTO_THRESHOLD,
    DEFAULT_SUGGEST_THRESHOLD,
    MAX_SUGGESTIONS,
    Calibration,
    IssueText,
    TextMatch,
    TextMatcher,
    decide,
)

Progress = Callable[[int, int], None]
# A ranker scores every candidate for every text: (candidate keys, len(texts) x len(keys)).
Ranker = Callable[
    [Sequence[IssueText], Sequence[str], Progress | None], tuple[list[str], np.ndarray]
]


@dataclass(frozen=True)
class FeedbackCase:
    id: str
    text: str
    partners: frozenset[str]  # right answers among the candidates; empty: unanswerable


@dataclass(frozen=True)
class LinkingTask:
    candidates: list[IssueText]
    feedback: list[FeedbackCase]

    @property
    def answerable(self) -> list[FeedbackCase]:
        return [f for f in self.feedback if f.partners]


def read_task(reports: Path, pairs: Path) -> LinkingTask:
    """The linking task a reports CSV and a pairs CSV describe (see the module docstring)."""
    with reports.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    partners: dict[str, set[str]] = {}
    with pairs.open(newline="", encoding="utf-8") as f:
        for pair in csv.DictReader(f):
            one = pair["Issue id"].strip()
            for other in (o.strip() for o in pair["Duplicate id"].split(",")):
                if one and other and other != one:
                    # A pair is a pair whichever way round the file lists it.
                    partners.setdefault(one, set()).add(other)
                    partners.setdefault(other, set()).add(one)
    # The README says "Duplicate"; the SeaMonkey export writes "DUPLICATE".
    is_feedback = {
        r["Issue id"].strip()
        for r in rows
        if r["Resolution"].strip().lower() == "duplicate" and r["Issue id"].strip() in partners
    }
    candidates = [
        IssueText(r["Issue id"].strip(), r["Summary"], r["Description"])
        for r in rows
        if r["Issue id"].strip() not in is_feedback
    ]
    candidate_ids = {c.key for c in candidates}
    feedback = [
        FeedbackCase(
            id=r["Issue id"].strip(),
            text=f"{r['Summary']}\n{r['Description']}",
            partners=frozenset(partners[r["Issue id"].strip()] & candidate_ids),
        )
        for r in rows
        if r["Issue id"].strip() in is_feedback
    ]
    return LinkingTask(candidates, feedback)


# -- rankers ---------------------------------------------------------------------------------


def text_matcher_ranker(
    candidates: Sequence[IssueText], texts: Sequence[str], progress: Progress | None = None
) -> tuple[list[str], np.ndarray]:
    """pmsync's matcher (linking.text)."""
    matcher = TextMatcher(candidates)
    return _in_chunks(matcher.scores, texts, progress)


def tfidf_baseline_ranker(
    candidates: Sequence[IssueText], texts: Sequence[str], progress: Progress | None = None
) -> tuple[list[str], np.ndarray]:
    """Plain TF-IDF cosine: scikit-learn's defaults over summary and description."""
    vectorizer = TfidfVectorizer()
    documents = vectorizer.fit_transform([f"{c.summary}\n{c.description}" for c in candidates])
    keys = [c.key for c in candidates]

    def scores(part: Sequence[str]) -> tuple[list[str], np.ndarray]:
        return keys, (vectorizer.transform(part) @ documents.T).toarray()

    return _in_chunks(scores, texts, progress)


def _in_chunks(
    scores: Callable[[Sequence[str]], tuple[list[str], np.ndarray]],
    texts: Sequence[str],
    progress: Progress | None,
    chunk: int = 25,
) -> tuple[list[str], np.ndarray]:
    keys: list[str] = []
    parts = []
    for start in range(0, len(texts), chunk):
        keys, part = scores(texts[start : start + chunk])
        parts.append(part)
        if progress:
            progress(min(start + chunk, len(texts)), len(texts))
    return keys, np.vstack(parts) if parts else np.zeros((0, len(keys)))


RANKERS: dict[str, Ranker] = {
    "pmsync": text_matcher_ranker,
    "tfidf-baseline": tfidf_baseline_ranker,
}


# -- metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """One feedback item's ranking: the rank of its first right answer, and its top rows."""

    case: FeedbackCase
    first_right: int | None  # 1-based; None when unanswerable
    top_keys: list[str]
    top_scores: list[float]

    def features(self) -> np.ndarray:
        """(score, margin over the best other candidate) for each of the top candidates."""
        scores = self.top_scores
        rows = []
        for i, score in enumerate(scores):
            other = scores[1] if i == 0 else scores[0]
            rows.append((score, score - (other if len(scores) > 1 else 0.0)))
        return np.array(rows, dtype=float).reshape(-1, 2)

    def labels(self) -> np.ndarray:
        return np.array([k in self.case.partners for k in self.top_keys], dtype=int)


def rank_all(task: LinkingTask, ranker: Ranker, progress: Progress | None = None) -> list[Ranked]:
    keys, scores = ranker(task.candidates, [f.text for f in task.feedback], progress)
    index = np.arange(len(keys))
    ranked = []
    for case, row in zip(task.feedback, scores, strict=True):
        order = np.lexsort((index, -row))  # by score, ties by candidate order
        right = np.flatnonzero([keys[i] in case.partners for i in order])
        top = order[:MAX_SUGGESTIONS]
        ranked.append(
            Ranked(
                case=case,
                first_right=int(right[0]) + 1 if len(right) else None,
                top_keys=[keys[i] for i in top],
                top_scores=[float(row[i]) for i in top],
            )
        )
    return ranked


def fit_calibration(ranked: Sequence[Ranked]) -> Calibration:
    """Logistic regression of "this candidate is right" on (score, margin), over the top
    candidates of every feedback item, answerable or not."""
    features = np.vstack([r.features() for r in ranked])
    labels = np.concatenate([r.labels() for r in ranked])
    if labels.min() == labels.max():
        raise ValueError("calibration needs both right and wrong candidates")
    # Standardise so the default L2 penalty treats both features alike; undo it afterwards.
    mean, std = features.mean(axis=0), features.std(axis=0)
    std[std == 0] = 1
    model = LogisticRegression().fit((features - mean) / std, labels)
    coef = model.coef_[0] / std
    intercept = float(model.intercept_[0] - (coef * mean).sum())
    # A negative weight would let a higher score lower the confidence: clip it.
    score_coef, margin_coef = (max(0.0, float(c)) for c in coef)
    return Calibration(intercept=intercept, score_coef=score_coef, margin_coef=margin_coef)


def held_out_confidences(ranked: Sequence[Ranked]) -> list[list[float]]:
    """Each item's top-candidate confidences from a calibration fitted without it."""
    confidences = []
    for i, item in enumerate(ranked):
        try:
            calibration = fit_calibration([r for j, r in enumerate(ranked) if j != i])
        except ValueError:  # a tiny set whose rest is all right or all wrong: use the shipped one
            calibration = Calibration()
        confidences.append(
            [calibration.probability(score, margin) for score, margin in item.features()]
        )
    return confidences


@dataclass(frozen=True)
class LinkingReport:
    method: str
    n: int
    recall_at_1: float | None  # None: nothing to measure (n == 0, or no automatic link)
    recall_at_5: float | None
    mrr: float | None
    auto_precision: float | None
    auto_coverage: float | None
    auto_links: int
    auto_threshold: float
    suggest_threshold: float
    suggest_recall: float | None
    unanswerable: int
    unanswerable_auto_links: int
    candidates: int

    def as_dict(self) -> dict[str, object]:
        return {k: _rounded(v) for k, v in self.__dict__.items()}


def _rounded(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


def report(
    task: LinkingTask,
    ranked: Sequence[Ranked],
    method: str,
    auto_threshold: float = DEFAULT_AUTO_THRESHOLD,
    suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
    confidences: Sequence[Sequence[float]] | None = None,
) -> LinkingReport:
    """Ranking metrics over answerable feedback; automatic-link metrics held out.

    auto_precision: right automatic links / all automatic links, those made for unanswerable
    feedback included. auto_coverage: answerable feedback with an automatic link / n.
    suggest_recall: answerable feedback whose right issue is its automatic link or among its
    suggestions / n. `confidences` (per item, of its top candidates) default to held-out ones.
    """
    answerable = [r for r in ranked if r.first_right is not None]
    n = len(answerable)
    ranks = np.array([r.first_right for r in answerable], dtype=float)
    if confidences is None:
        confidences = held_out_confidences(ranked)
    auto_links = auto_right = auto_answerable = surfaced = 0
    for item, conf in zip(ranked, confidences, strict=True):
        # The same decision the pipeline makes, on held-out confidences.
        decision = decide(
            [
                TextMatch(key, score, confidence, ())
                for key, score, confidence in zip(
                    item.top_keys, item.top_scores, conf, strict=False
                )
            ],
            auto_threshold,
            suggest_threshold,
        )
        shown = [decision.auto] if decision.auto else list(decision.suggestions)
        right = any(m.key in item.case.partners for m in shown)
        surfaced += right
        if decision.auto:
            auto_links += 1
            auto_right += right
            auto_answerable += item.first_right is not None
    return LinkingReport(
        method=method,
        n=n,
        recall_at_1=float(np.mean(ranks <= 1)) if n else None,
        recall_at_5=float(np.mean(ranks <= 5)) if n else None,
        mrr=float(np.mean(1 / ranks)) if n else None,
        auto_precision=auto_right / auto_links if auto_links else None,
        auto_coverage=auto_answerable / n if n else None,
        auto_links=auto_links,
        auto_threshold=auto_threshold,
        suggest_threshold=suggest_threshold,
        suggest_recall=surfaced / n if n else None,
        unanswerable=len(ranked) - n,
        unanswerable_auto_links=auto_links - auto_answerable,
        candidates=len(task.candidates),
    )


def evaluate_links(
    reports: Path,
    pairs: Path,
    method: str = "pmsync",
    auto_threshold: float = DEFAULT_AUTO_THRESHOLD,
    suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
    progress: Progress | None = None,
) -> tuple[LinkingReport, list[Ranked]]:
    task = read_task(reports, pairs)
    ranked = rank_all(task, RANKERS[method], progress)
    return report(task, ranked, method, auto_threshold, suggest_threshold), ranked


def calibration_module(
    calibration: Calibration, source: str, auto_threshold: float, suggest_threshold: float
) -> str:
    """The text of linking/text_calibration.py for a freshly fitted calibration."""
    return (
        '"""Confidence of text links (see linking.text.Calibration) and its default thresholds.\n'
        "\n"
        f"Generated by `pmsync eval links {source}\n"
        "--write-calibration PATH`; refit the same way. No imports: the CLI reads the\n"
        'thresholds without loading scikit-learn."""\n'
        "\n"
        f"INTERCEPT = {calibration.intercept!r}\n"
        f"SCORE_COEF = {calibration.score_coef!r}\n"
        f"MARGIN_COEF = {calibration.margin_coef!r}\n"
        "\n"
        f"DEFAULT_AUTO_THRESHOLD = {auto_threshold!r}\n"
        f"DEFAULT_SUGGEST_THRESHOLD = {suggest_threshold!r}\n"
    )
