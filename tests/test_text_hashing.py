"""linking.text hashes terms itself, so matching text never loads scikit-learn: the columns
and counts must be exactly those of scikit-learn's HashingVectorizer, or every score moves."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.utils import murmurhash3_32 as sklearn_murmurhash

from linking.text import (
    _STOP_WORDS,
    CHAR_FEATURES,
    WORD_FEATURES,
    _word_bucket,
    char_grams,
    hash_columns,
    hashed_counts,
    murmurhash3_32,
    word_terms,
)

ALPHABET = "abcxyz019 .-_éßü€漢字🙂"


def random_terms(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randrange(0, 23))) for _ in range(n)]


def test_murmurhash_matches_scikit_learn_for_every_length_and_script() -> None:
    """Every tail length (0-3 bytes), multi-byte UTF-8 and the empty string."""
    terms = random_terms(5000, seed=3) + ["", "a", "ab", "abc", "abcd", "2.53.16"]
    ours = murmurhash3_32([t.encode("utf-8") for t in terms])
    assert ours.tolist() == [sklearn_murmurhash(t, seed=0) for t in terms]


@pytest.mark.parametrize("n_features", [WORD_FEATURES, CHAR_FEATURES, 1000, 7])
def test_columns_match_scikit_learn(n_features: int) -> None:
    terms = random_terms(2000, seed=5)
    vectorizer = HashingVectorizer(
        analyzer=lambda text: [text], n_features=n_features, alternate_sign=False, norm=None
    )
    expected = vectorizer.transform(terms).tocsr()
    assert hash_columns(terms, n_features).tolist() == expected.indices.tolist()


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
    assert frozenset(ENGLISH_STOP_WORDS) == _STOP_WORDS
    for term in ("export", "2.53", "façade"):
        assert _word_bucket(term) == abs(sklearn_murmurhash(term, seed=0)) % WORD_FEATURES


def test_matching_text_does_not_import_scikit_learn() -> None:
    """The import alone cost 0.6 s of every sync that matched feedback to issues."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; from linking.text import TextMatcher, IssueText; "
        "TextMatcher([IssueText('A-1', 'Export to PDF')]).match(['pdf export']); "
        "print('sklearn' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert found.stdout.strip() == "False"
