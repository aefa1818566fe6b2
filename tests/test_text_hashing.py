"""Text matching hashes terms with scikit-learn: the columns and counts must be exactly those
of scikit-learn's HashingVectorizer, and stay those the store's kept analyses hold, or every
score moves."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.utils import murmurhash3_32 as sklearn_murmurhash

from linking.text_analysis import (
    CHAR_FEATURES,
    STOP_WORDS,
    WORD_FEATURES,
    IssueText,
    analyse,
    char_grams,
    hashed_counts,
    text_hash,
    word_bucket,
    word_column,
    word_terms,
)

ALPHABET = "abcxyz019 .-_éßü€漢字🙂"


def random_terms(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randrange(0, 23))) for _ in range(n)]


# Columns the store's kept analyses were written with (ANALYSIS_VERSION 1), in the word
# space and the char space: every tail length (0-3 bytes), multi-byte UTF-8, the empty
# string. A scikit-learn that hashed otherwise would make every kept analysis wrong.
KEPT_COLUMNS = {
    "": (0, 0),
    "a": (354738, 354738),
    "ab": (10401, 10401),
    "abc": (158726, 158726),
    "abcd": (878442, 878442),
    "export": (516762, 1565338),
    "2.53": (281318, 281318),
    "2.53.16": (870188, 1918764),
    "façade": (175095, 175095),
    "漢字": (45067, 1093643),
    "🙂": (155747, 155747),
    " pdf": (90691, 1139267),
    "ing ": (1020126, 1020126),
    "dashboard": (783367, 783367),
}
# The key and the bytes main's analysers gave the issue below (computed by them, not here).
KEPT_HASH = "aca1654d2303e1e29a0aaca48932816921a40e2a712bd323f39ac4b71ae3cc80"
KEPT_ANALYSIS = "733a9b275ccf025728d52dcbb1e820ec90edc1f5312630afe32bd575c750b0ae"


def test_terms_keep_the_columns_the_kept_analyses_hold() -> None:
    terms = list(KEPT_COLUMNS)
    for space, n_features in enumerate((WORD_FEATURES, CHAR_FEATURES)):
        counts = hashed_counts([[term] for term in terms], n_features)
        assert counts.indices.tolist() == [KEPT_COLUMNS[t][space] for t in terms]
        assert counts.data.tolist() == [1.0] * len(terms)  # no alternate sign
        assert [word_column(t, n_features) for t in terms] == counts.indices.tolist()


@pytest.mark.parametrize("n_features", [WORD_FEATURES, CHAR_FEATURES, 1000, 7])
def test_columns_match_scikit_learn(n_features: int) -> None:
    terms = random_terms(2000, seed=5)
    vectorizer = HashingVectorizer(
        analyzer=lambda text: [text], n_features=n_features, alternate_sign=False, norm=None
    )
    expected = vectorizer.transform(terms).tocsr()
    assert [word_column(t, n_features) for t in terms] == expected.indices.tolist()


def test_counts_match_hashing_vectorizer_exactly() -> None:
    texts = [
        "Export dashboards to PDF, export them weekly",
        "",
        "Crash since 2.53.16 on macOS 15.1 — naïve façade",
        "the the the and of",
        *random_terms(200, seed=9),
    ]
    for analyzer, n_features in ((word_terms, WORD_FEATURES), (char_grams, CHAR_FEATURES)):
        vectorizer = HashingVectorizer(
            analyzer=analyzer,
            n_features=n_features,
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        )
        expected = vectorizer.transform(texts).tocsr()
        ours = hashed_counts([analyzer(t) for t in texts], n_features)
        assert ours.dtype == expected.dtype
        assert ours.indptr.tolist() == expected.indptr.tolist()
        assert ours.indices.tolist() == expected.indices.tolist()
        assert ours.data.tolist() == expected.data.tolist()


def test_stop_words_and_word_buckets_are_scikit_learns() -> None:
    assert frozenset(ENGLISH_STOP_WORDS) == STOP_WORDS
    for term in ("export", "2.53", "façade"):
        assert word_bucket(term) == abs(sklearn_murmurhash(term, seed=0)) % WORD_FEATURES


def test_an_issue_analysed_before_keeps_its_key_and_its_bytes() -> None:
    """A store keeps each issue's analysis under `text_hash`: the same text must give the
    same hash and the same bytes as the analysers that wrote existing databases did."""
    issue = IssueText("ANA-1", "Export dashboards to PDF", "Download any dashboard as a PDF.")
    assert text_hash(issue) == KEPT_HASH
    found = analyse([issue])[0]
    kept = found.row_sizes + found.buckets + found.counts + found.terms.encode()
    assert hashlib.sha256(kept).hexdigest() == KEPT_ANALYSIS


def test_only_matching_text_loads_scikit_learn() -> None:
    """Importing scikit-learn takes 0.5 s: the pipeline, the webhooks and the command line
    load it when they match text, not on import."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, flows.pipeline, webhooks.app, pmsync.cli; "
        "print('sklearn' in sys.modules, 'linking.text' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert found.stdout.strip() == "False False"
