"""Demand with no issue yet: feedback that links to no issue, grouped into themes.

Method: each item's subject and body as TF-IDF (English stop words out, word unigrams and
bigrams, sublinear counts, terms in at least two items); a theme is a group of items
joined by average-linkage agglomerative clustering on cosine distance, cut where the
average similarity between two groups would fall below `THRESHOLD`, with at least
`MIN_SIZE` items. Its terms are the
highest weights of its centroid; its customers and revenue are counted as on a ticket
(distinct accounts, each customer's revenue once).

Agglomerative clustering holds a distance matrix (n² floats): beyond `MAX_ITEMS` only the
most recent items are grouped, which keeps a report under a second at 5,000 items.
Measured on labelled duplicates with `pmsync eval themes` (purity and coverage:
evaluation.themes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from linking.text_analysis import STOP_WORDS, WORDS
from models import FeedbackRef, Quote

THRESHOLD = 0.3
MIN_SIZE = 2
MAX_ITEMS = 1500
# Terms in more than a fifth of the texts (greetings and sign-offs of support tickets,
# "steps to reproduce" in bug reports) join unrelated items: dropped, as stop words are.
# On SeaMonkey at 0.3 it changes little: labelled purity 0.881 -> 0.887, coverage 0.651 ->
# 0.593 (`pmsync eval themes`).
MAX_DF = 0.2
TERMS = 5
QUOTES = 3


@dataclass
class Theme:
    id: int
    terms: list[str]
    members: list[int]
    size: int = 0
    customers: int = 0
    revenue: Decimal = Decimal(0)
    quotes: list[Quote] = field(default_factory=list)
    # Filled as quotes are: every member's (source, id), the latest requests with their
    # links, and the customers by revenue (what a proposed issue names).
    records: list[tuple[str, str]] = field(default_factory=list)
    requests: list[FeedbackRef] = field(default_factory=list)
    customer_names: list[str] = field(default_factory=list)


def tfidf(texts: Sequence[str], max_df: float = MAX_DF) -> tuple[Any, list[str]]:
    """Rows of L2-normalised sublinear TF-IDF (smoothed IDF, as scikit-learn's default) over
    word unigrams and bigrams, English stop words and numbers dropped, terms in at least
    two texts. Written with scipy.sparse (and scikit-learn's stop words), as measured by
    `pmsync eval themes`."""
    from scipy.sparse import csr_matrix

    documents = []
    for text in texts:
        words = [
            w for w in WORDS.findall(text.lower()) if w not in STOP_WORDS and not w[0].isdigit()
        ]
        documents.append(
            Counter(words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)])
        )
    frequency = Counter(term for document in documents for term in document)
    # Never fewer than ten: among a few texts, a theme's own words are in a fifth of them.
    most = max(10, int(max_df * len(texts)))
    vocabulary = sorted(term for term, df in frequency.items() if 2 <= df <= most)
    column = {term: i for i, term in enumerate(vocabulary)}
    n = len(texts)
    idf = np.array([np.log((1 + n) / (1 + frequency[t])) + 1 for t in vocabulary])
    rows, cols, values = [], [], []
    for row, document in enumerate(documents):
        for term, count in document.items():
            if term in column:
                rows.append(row)
                cols.append(column[term])
                values.append((1 + np.log(count)) * idf[column[term]])
    matrix = csr_matrix((values, (rows, cols)), shape=(n, len(vocabulary)), dtype=np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return csr_matrix(matrix.multiply(1.0 / norms[:, None])), vocabulary


def cluster(
    texts: Sequence[str],
    threshold: float = THRESHOLD,
    min_size: int = MIN_SIZE,
    max_df: float = MAX_DF,
) -> list[Theme]:
    """Themes among these texts, largest first: each its member indices and top terms."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if len(texts) < max(min_size, 2):
        return []
    matrix, vocabulary = tfidf(texts, max_df)
    if not vocabulary:  # no term in two texts: nothing in common
        return []
    similarity = (matrix @ matrix.T).toarray()
    distance = np.clip(1.0 - similarity, 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - threshold, criterion="distance")
    themes = []
    for label in np.unique(labels):
        members = [int(i) for i in np.flatnonzero(labels == label)]
        if len(members) < min_size:
            continue
        centroid = np.asarray(matrix[members].mean(axis=0)).ravel()
        top = [vocabulary[i] for i in np.argsort(-centroid)[:TERMS] if centroid[i] > 0]
        themes.append(Theme(id=0, terms=top, members=members, size=len(members)))
    themes.sort(key=lambda t: (-t.size, t.terms))
    for number, theme in enumerate(themes, 1):
        theme.id = number
    return themes
