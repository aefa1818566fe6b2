"""How well text matching links feedback to the issue it asks for, measured on labelled data
(the task: evaluation.tasks; the rankers: evaluation.rankers).

Confidence is calibrated on the same data, so the automatic-link figures are held out:
each feedback item is decided with a calibration fitted on all the other items
(leave-one-out), never on itself. A top candidate is linked automatically when that
calibrated probability of being right reaches the target precision (95%): if the
probabilities are calibrated, the links above it are right at least that often, and
auto_precision measures whether they were.

The time prior (linking.text_calibration.TimePrior: issues created well after the
feedback weigh less) is held out the same way: each item is ranked with the grace period
and weight from `TIME_PRIORS` that give the other items the best recall@5, then MRR. Dates
come from the reports' `Created` column; a missing one leaves the scores alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.rankers import RANKERS, Progress, Ranker, task_scores
from evaluation.tasks import FeedbackCase, LinkingTask, lag_days, read_task
from linking.text_calibration import (
    DEFAULT_SUGGEST_THRESHOLD,
    MAX_SUGGESTIONS,
    NO_TIME_PRIOR,
    Calibration,
    TextMatch,
    TimePrior,
    calibration_json,
    decide,
)

TARGET_PRECISION = 0.95
# The time priors a fold chooses from (no prior first: it wins ties).
TIME_PRIORS = (NO_TIME_PRIOR,) + tuple(
    TimePrior(grace, weight)
    for grace in (0.0, 1.0, 7.0, 30.0, 90.0, 365.0)
    for weight in (0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.0)
)


# -- metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """One feedback item's ranking: the rank of its first right answer, and its top rows."""

    case: FeedbackCase
    first_right: int | None  # 1-based; None when unanswerable
    top_keys: list[str]
    top_scores: list[float]
    time_prior: TimePrior = NO_TIME_PRIOR  # the one its scores were weighed with

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


def rank_all(
    task: LinkingTask,
    ranker: Ranker,
    progress: Progress | None = None,
    time_priors: Sequence[TimePrior] = (NO_TIME_PRIOR,),
) -> list[Ranked]:
    """Every feedback item's ranking; with several `time_priors`, each item weighed with
    the one that ranks the other items best (`choose_time_prior`), never chosen on itself."""
    keys, scores = task_scores(task, ranker, progress)
    return rank_scores(task, prior_ranks(task, keys, scores, time_priors))


def _rank_row(case: FeedbackCase, keys: Sequence[str], row: np.ndarray) -> Ranked:
    order = np.lexsort((np.arange(len(keys)), -row))  # by score, ties by candidate order
    right = np.flatnonzero([keys[i] in case.partners for i in order])
    top = order[:MAX_SUGGESTIONS]
    return Ranked(
        case=case,
        first_right=int(right[0]) + 1 if len(right) else None,
        top_keys=[keys[i] for i in top],
        top_scores=[float(row[i]) for i in top],
    )


@dataclass(frozen=True)
class PriorRanks:
    """Raw scores, and each time prior's first-right rank for every item (None: unanswerable)."""

    keys: list[str]
    scores: np.ndarray
    lags: np.ndarray
    ranks: dict[TimePrior, list[int | None]]


def prior_ranks(
    task: LinkingTask, keys: list[str], scores: np.ndarray, time_priors: Sequence[TimePrior]
) -> PriorRanks:
    lags = lag_days(task, keys)
    ranks = {
        prior: [
            _rank_row(case, keys, row).first_right
            for case, row in zip(task.feedback, prior.apply(scores, lags), strict=True)
        ]
        if len(time_priors) > 1
        else []
        for prior in time_priors
    }
    return PriorRanks(keys, scores, lags, ranks)


def choose_time_prior(ranks: PriorRanks, without: int | None = None) -> TimePrior:
    """The time prior with the best recall@5, then MRR, over the items but `without`; the
    first listed wins ties."""

    def quality(prior: TimePrior) -> tuple[float, float]:
        found = [r for j, r in enumerate(ranks.ranks[prior]) if r is not None and j != without]
        if not found:
            return (0.0, 0.0)
        at = np.array(found, dtype=float)
        return float(np.mean(at <= 5)), float(np.mean(1 / at))

    priors = list(ranks.ranks)
    return priors[0] if len(priors) == 1 else max(priors, key=quality)


def rank_scores(task: LinkingTask, ranks: PriorRanks) -> list[Ranked]:
    """Each item ranked with the time prior chosen on the other items."""
    ranked = []
    for i, case in enumerate(task.feedback):
        prior = choose_time_prior(ranks, without=i)
        row = prior.apply(ranks.scores[i], ranks.lags[i])
        item = _rank_row(case, ranks.keys, row)
        ranked.append(Ranked(item.case, item.first_right, item.top_keys, item.top_scores, prior))
    return ranked


def fit_calibration(ranked: Sequence[Ranked]) -> Calibration:
    """Logistic regression of "this candidate is right" on (score, margin), over the top
    candidates of every feedback item, answerable or not."""
    features = np.vstack([r.features() for r in ranked])
    labels = np.concatenate([r.labels() for r in ranked])
    return Calibration.fit(features, labels)


def held_out(ranked: Sequence[Ranked]) -> list[list[float]]:
    """Leave-one-out: each item's top-candidate confidences under a calibration fitted on
    all the other items."""
    confidences = []
    for i, item in enumerate(ranked):
        calibration = _fit_or_default([r for j, r in enumerate(ranked) if j != i])
        confidences.append([calibration.probability(s, m) for s, m in item.features()])
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
    auto_threshold: float  # the target precision, unless the caller fixed it
    target_precision: float | None  # None: the threshold was fixed by the caller
    suggest_threshold: float
    suggest_recall: float | None
    unanswerable: int
    unanswerable_auto_links: int
    candidates: int
    # The time prior chosen on all the data (what --write-calibration ships); each item is
    # ranked with one chosen on the other items. None: not used (the baseline).
    time_grace_days: float | None = None
    time_later_weight: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {k: _rounded(v) for k, v in self.__dict__.items()}


def _rounded(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


def report(
    task: LinkingTask,
    ranked: Sequence[Ranked],
    method: str,
    auto_threshold: float | None = None,
    suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
    confidences: Sequence[Sequence[float]] | None = None,
    target_precision: float = TARGET_PRECISION,
    time_prior: TimePrior | None = None,
) -> LinkingReport:
    """Ranking metrics over answerable feedback; automatic-link metrics held out.

    auto_precision: right automatic links / all automatic links, those made for unanswerable
    feedback included. auto_coverage: answerable feedback with an automatic link / n.
    suggest_recall: answerable feedback whose right issue is its automatic link or among its
    suggestions / n.

    Each item is decided with a calibration fitted on all the other items: nothing it is
    scored on was fitted to it. The automatic threshold is `target_precision` (a calibrated
    probability of being right), unless `auto_threshold` fixes it. `confidences` (per item,
    of its top candidates) replace the held-out ones.
    """
    answerable = [r for r in ranked if r.first_right is not None]
    n = len(answerable)
    ranks = np.array([r.first_right for r in answerable], dtype=float)
    target = target_precision if auto_threshold is None else None
    threshold = target_precision if auto_threshold is None else auto_threshold
    decided = held_out(ranked) if confidences is None else confidences
    auto_links = auto_right = auto_answerable = surfaced = 0
    for item, item_confidences in zip(ranked, decided, strict=True):
        # The same decision the pipeline makes, on held-out confidences.
        decision = decide(
            [
                TextMatch(key, score, confidence, ())
                for key, score, confidence in zip(
                    item.top_keys, item.top_scores, item_confidences, strict=False
                )
            ],
            threshold,
            min(suggest_threshold, threshold),
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
        auto_threshold=threshold,
        target_precision=target,
        suggest_threshold=suggest_threshold,
        suggest_recall=surfaced / n if n else None,
        unanswerable=len(ranked) - n,
        unanswerable_auto_links=auto_links - auto_answerable,
        candidates=len(task.candidates),
        time_grace_days=time_prior.grace_days if time_prior else None,
        time_later_weight=time_prior.later_weight if time_prior else None,
    )


def _fit_or_default(ranked: Sequence[Ranked]) -> Calibration:
    try:
        return fit_calibration(ranked)
    except ValueError:
        return Calibration()


def evaluate_links(
    reports: Path,
    pairs: Path | None,
    method: str = "pmsync",
    auto_threshold: float | None = None,
    suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
    progress: Progress | None = None,
    target_precision: float = TARGET_PRECISION,
    time_prior: bool = True,
) -> tuple[LinkingReport, list[Ranked]]:
    """The report, and the rankings it was computed from. pmsync's matcher (unless
    `time_prior` is False) weighs issues created after the feedback down, with a time prior
    chosen, for each item, on the other items (`TIME_PRIORS`)."""
    task = read_task(reports, pairs)
    keys, scores = task_scores(task, RANKERS[method], progress)
    priors = TIME_PRIORS if method == "pmsync" and time_prior else (NO_TIME_PRIOR,)
    ranks = prior_ranks(task, keys, scores, priors)
    ranked = rank_scores(task, ranks)
    result = report(
        task,
        ranked,
        method,
        auto_threshold,
        suggest_threshold,
        target_precision=target_precision,
        time_prior=choose_time_prior(ranks) if method == "pmsync" else None,
    )
    return result, ranked


def shipped_threshold(result: LinkingReport) -> float | None:
    """The automatic threshold `--write-calibration` ships: the one measured, if its held-out
    links reached the target precision (or the caller fixed it); None (off) otherwise."""
    if result.target_precision is None:
        return result.auto_threshold
    reached = result.auto_precision is not None and result.auto_precision >= result.target_precision
    return result.auto_threshold if reached else None


def calibration_file(
    calibration: Calibration,
    source: str,
    auto_threshold: float | None,
    suggest_threshold: float,
    target_precision: float | None = TARGET_PRECISION,
    time_prior: TimePrior = NO_TIME_PRIOR,
) -> str:
    """The text of linking/text_calibration.json for a freshly fitted calibration; an
    `auto_threshold` of None (held out, its links missed the target) is written as 1, which
    `decide` reads as "no automatic links"."""
    if target_precision is None:
        why = "Set by --auto-threshold."
    elif auto_threshold is None:
        why = (
            f"Held out, links at {target_precision:g} confidence were right less than "
            f"{target_precision:g} of the time on this data: automatic text links are off "
            "(1.0) until a tracker's own data supports them."
        )
    else:
        why = (
            "A link is automatic when its calibrated probability of being right reaches the "
            f"target precision, {target_precision:g}; held out on this data, such links "
            "reached it (pmsync eval links)."
        )
    about = (
        "Confidence of text links (linking.text_calibration) and its default thresholds. "
        f"Written by `pmsync eval links {source} --write-calibration PATH`; refit the same way."
    )
    threshold = 1.0 if auto_threshold is None else auto_threshold
    return calibration_json(calibration, time_prior, threshold, suggest_threshold, about, why)
