"""Text links' confidence and time prior: their model, the values pmsync ships, their fit.

Time. Feedback asks for an issue that existed when it was written, or one filed soon after
because of it. So when both creation dates are known (`Feedback.created_at`,
`Issue.created_at`; None leaves the score alone), an issue created more than
`grace_days` after the feedback keeps `later_weight` of its score (`TimePrior`): weighed
down, not excluded, since a matching issue filed later is still the best guess when nothing
earlier matches. Pass the dates to `match`/`decide`; `TimePrior(0, 1)` turns it off. Both
numbers are chosen by `pmsync eval links` from a grid, each item ranked with the pair chosen
on the other items: on SeaMonkey (3 of 45 right answers filed after their duplicate), 84 of
85 folds choose 0 days and half the score, and held out recall@1 goes from 0.711 to 0.800,
recall@5 from 0.844 to 0.889 and MRR from 0.777 to 0.844. A product manager who files the
issue a few days after the tickets gets it ranked at half weight: where a team works
that way, `--write-calibration` on its own data or a longer grace in text_calibration.json
says so. Excluding later issues outright loses the right answers filed later. Recency of
earlier issues was tried too, in the score and as a calibration feature: it helps the
ranking less and would bury an old backlog issue, so it is not used.

Confidence. `Calibration` maps a candidate's score and its margin over the best other
candidate to the probability that it is the right issue (logistic regression, fitted by
`pmsync eval links ... --write-calibration linking/text_calibration.json`). At or above
`auto_threshold` a top candidate is linked automatically; otherwise up to three candidates
at or above `suggest_threshold` are suggested for a person to confirm (`decide`). The
shipped threshold is the target precision itself, 0.95: a link is automatic when it is
right with probability 0.95. Held out on SeaMonkey (each item's calibration fitted on the
others), the 8 links it makes are all right (coverage 0.178), and the next most confident
item, at 0.93, would have been wrong; lower thresholds chosen on the data did worse held
out (0.905 at the lowest threshold with 95% precision on the other items). Score ratio,
rank gap, per-space and title scores and text length were tried as further features and
separated no better. In the sandbox every automatic link at 0.95 is a planted one.

The values pmsync ships are data, linking/text_calibration.json (`calibration_json` writes
it), read once on import. Importing this module loads neither scikit-learn nor SciPy: the
command line reads the thresholds from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any

import numpy as np

SHIPPED_FILE = "text_calibration.json"
_SHIPPED: dict[str, Any] = json.loads(
    files("linking").joinpath(SHIPPED_FILE).read_text(encoding="utf-8")
)

DEFAULT_AUTO_THRESHOLD: float = _SHIPPED["auto_threshold"]
DEFAULT_SUGGEST_THRESHOLD: float = _SHIPPED["suggest_threshold"]
MAX_SUGGESTIONS = 3
DAY = 86_400.0
# The float64 time lag is made this many cells at a time (512 KiB).
LAG_CELLS = 1 << 16


@dataclass(frozen=True)
class Calibration:
    """P(candidate is the right issue) = sigmoid(intercept + score_coef * score
    + margin_coef * margin), where margin is the score minus the best other candidate's.

    Both coefficients are non-negative, so within one text a higher score never gets a
    lower confidence."""

    intercept: float = _SHIPPED["calibration"]["intercept"]
    score_coef: float = _SHIPPED["calibration"]["score_coef"]
    margin_coef: float = _SHIPPED["calibration"]["margin_coef"]

    def __post_init__(self) -> None:
        if self.score_coef < 0 or self.margin_coef < 0:
            raise ValueError("calibration coefficients must be non-negative")

    def probability(self, score: float, margin: float) -> float:
        z = self.intercept + self.score_coef * score + self.margin_coef * margin
        return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray) -> Calibration:
        """Logistic regression of "this candidate is right" (`labels`, 0 or 1) on its
        (score, margin) (`features`, a row per candidate)."""
        from sklearn.linear_model import LogisticRegression

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
        return cls(intercept=intercept, score_coef=score_coef, margin_coef=margin_coef)


@dataclass(frozen=True)
class TimePrior:
    """Feedback asks for an issue that existed when it was written, or one filed soon after
    because of it: an issue created more than `grace_days` after the feedback keeps
    `later_weight` of its score. A weight of 1 turns this off; a creation date that is
    unknown (None) on either side leaves the score alone."""

    grace_days: float = _SHIPPED["time_prior"]["grace_days"]
    later_weight: float = _SHIPPED["time_prior"]["later_weight"]

    def __post_init__(self) -> None:
        if not 0 <= self.later_weight <= 1 or self.grace_days < 0:
            raise ValueError("need 0 <= later_weight <= 1 and grace_days >= 0")

    def apply(self, scores: np.ndarray, lag_days: np.ndarray) -> np.ndarray:
        """`scores` with those whose issue was created more than `grace_days` after the
        feedback (`lag_days`, same shape or broadcastable; NaN: unknown) weighed down."""
        if self.later_weight == 1:
            return scores
        later = self.later(lag_days)
        return np.where(later, scores * np.float32(self.later_weight), scores).astype(scores.dtype)

    def later(self, lag_days: np.ndarray) -> np.ndarray:
        """Which issues were created more than `grace_days` after their feedback."""
        with np.errstate(invalid="ignore"):
            return lag_days > self.grace_days  # NaN compares False: unknown dates count

    def apply_in_place(
        self, scores: np.ndarray, issues_created: np.ndarray, written: np.ndarray
    ) -> None:
        """`apply` to `scores` (float32, texts x issues) in place, for issues created at
        `issues_created` and texts written at `written` (epoch seconds; NaN: unknown).

        The lag in days is the same float64 `(created - written) / DAY` as `apply`'s
        callers compute (in float32 a lag just past the grace could round onto it), but
        only for a few rows at a time: a float64 lag for a whole chunk of texts is twice
        the size of its scores, and `apply` makes three copies of them."""
        if self.later_weight == 1:
            return
        weight = np.float32(self.later_weight)
        rows = max(1, LAG_CELLS // max(1, len(issues_created)))
        for start in range(0, len(written), rows):
            lag = issues_created[None, :] - written[start : start + rows, None]
            lag /= DAY
            part = scores[start : start + rows]
            np.multiply(part, weight, out=part, where=self.later(lag))


NO_TIME_PRIOR = TimePrior(0.0, 1.0)


def epoch_seconds(when: Iterable[datetime | None]) -> np.ndarray:
    """Seconds since the epoch of each datetime, NaN where it is None."""
    return np.array([math.nan if w is None else w.timestamp() for w in when], dtype=np.float64)


@dataclass(frozen=True)
class TextMatch:
    """One candidate issue for one text."""

    key: str
    score: float
    confidence: float
    matched_terms: tuple[str, ...]


@dataclass(frozen=True)
class TextDecision:
    """What becomes of one text: an automatic link, or suggestions for a person, or nothing."""

    auto: TextMatch | None
    suggestions: tuple[TextMatch, ...] = ()


def decide(
    matches: Sequence[TextMatch],
    auto_threshold: float = DEFAULT_AUTO_THRESHOLD,
    suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
) -> TextDecision:
    """The top candidate counts if its confidence reaches `auto_threshold`; otherwise the
    (up to three) candidates that reach `suggest_threshold` wait for a person. An
    `auto_threshold` of 1 turns automatic links off (a probability never earns certainty)."""
    if not 0 <= suggest_threshold <= auto_threshold <= 1:
        raise ValueError("need 0 <= suggest_threshold <= auto_threshold <= 1")
    if matches and auto_threshold < 1 and matches[0].confidence >= auto_threshold:
        return TextDecision(auto=matches[0])
    return TextDecision(
        auto=None,
        suggestions=tuple(
            m for m in matches[:MAX_SUGGESTIONS] if m.confidence >= suggest_threshold
        ),
    )


def calibration_json(
    calibration: Calibration,
    time_prior: TimePrior,
    auto_threshold: float,
    suggest_threshold: float,
    about: str,
    auto_threshold_why: str,
) -> str:
    """The text of a calibration file such as linking/text_calibration.json: what this
    module reads, with `about` (where it comes from) and `auto_threshold_why` for a reader."""
    shipped = {
        "about": about,
        "calibration": asdict(calibration),
        "time_prior": {k: float(v) for k, v in asdict(time_prior).items()},
        "auto_threshold": auto_threshold,
        "auto_threshold_why": auto_threshold_why,
        "suggest_threshold": suggest_threshold,
    }
    return json.dumps(shipped, indent=2, ensure_ascii=False) + "\n"
