"""Rankers: what scores every candidate issue for every feedback text, pmsync's matcher or
a baseline, and those scores for a linking task."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from evaluation.tasks import LinkingTask, open_mask
from linking.text import TextMatcher
from linking.text_analysis import IssueText

Progress = Callable[[int, int], None]
# A ranker scores every candidate for every text: (candidate keys, len(texts) x len(keys)).
Ranker = Callable[
    [Sequence[IssueText], Sequence[str], Progress | None], tuple[list[str], np.ndarray]
]


def task_scores(
    task: LinkingTask, ranker: Ranker, progress: Progress | None = None
) -> tuple[list[str], np.ndarray]:
    """The ranker's scores of every candidate for every feedback text, 0 for candidates
    already closed when the feedback came (see evaluation.tasks)."""
    keys, scores = ranker(task.candidates, [f.text for f in task.feedback], progress)
    return keys, np.where(open_mask(task, keys), scores, 0).astype(scores.dtype)


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
