"""Text analysis: what text matching reads of a text, as hashed term counts.

A text is seen in two vector spaces: words (English stop words dropped, version numbers
such as "2.53.16" kept whole and as their prefix "2.53") and character 3-5-grams within
words (which match "archive" with "archiving" and survive typos). Terms are hashed into
the columns scikit-learn's HashingVectorizer gives them (no vocabulary to refit), and
counted sublinearly.

Kept analyses. Most of a build is analysing the issues' texts (words, n-grams, hashed
counts), and between two syncs few of them change. `analyse` gives each issue's analysis as
bytes, which the pipeline keeps in the store under a hash of the text (`text_hash`), and
`TextMatcher.upsert_analysed` indexes them as `upsert` indexes the texts: the same rows in
the same order, so the same scores to the bit. For the sandbox's 2,792 open issues, a build
that reads them all takes 0.14 s against 0.33 s from the texts; the first, which saves them,
0.48 s (SQLite, medians of 7 fresh processes).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import NamedTuple, Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.utils import murmurhash3_32

WORD_FEATURES = 1 << 20
CHAR_FEATURES = 1 << 21
# Texts analysed at a time: their terms are Python strings, many times their size.
ANALYSED_AT_ONCE = 500

WORDS = re.compile(r"(?u)\b\w\w+\b")
_VERSION = re.compile(r"\b\d+(?:\.\d+)+\b")
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)


# -- hashing ---------------------------------------------------------------------------------
# Terms go to the columns scikit-learn's HashingVectorizer gives them (MurmurHash3, seed 0,
# no alternate sign): the kept analyses in the store hold these columns, so they must not
# move (tests/test_text_hashing.py pins some).

_SIGN_BIT = -(2**31)


def word_column(term: str, n_features: int) -> int:
    """The column FeatureHasher puts one term in: |hash| mod n_features, and for the one
    hash with no 32-bit absolute value (-2**31) the column scikit-learn gives it. One
    FeatureHasher call costs 0.1 ms, a hash 1 us: matched words are looked up one by one."""
    hashed = int(murmurhash3_32(term, seed=0))
    if hashed == _SIGN_BIT:
        return (2**31 - 1 - (n_features - 1)) % n_features
    return abs(hashed) % n_features


def hashed_counts(documents: Sequence[Sequence[str]], n_features: int) -> sp.csr_matrix:
    """Each document's term counts by hashed column: what HashingVectorizer (no alternate
    sign, no norm, float32) makes of the analysed documents, in canonical form.

    FeatureHasher hashes each distinct term once, a row each, and the documents are counted
    from those columns: hashing every occurrence (n-grams repeat) took a fifth longer."""
    distinct = list(set(chain.from_iterable(documents)))
    columns: list[int] = []
    if distinct:
        hasher = FeatureHasher(
            n_features, input_type="string", alternate_sign=False, dtype=np.float32
        )
        # Rows made as FeatureHasher reads them: a list of one-term lists, thousands held
        # at once, cost matching a fifth more time (in allocation and garbage collection).
        columns = hasher.transform(zip(distinct)).indices.tolist()
    column = dict(zip(distinct, columns, strict=True))
    lengths = [len(document) for document in documents]
    total = sum(lengths)
    indices = np.fromiter(
        map(column.__getitem__, chain.from_iterable(documents)), dtype=np.int32, count=total
    )
    indptr = np.zeros(len(documents) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    matrix = sp.csr_matrix(
        (np.ones(total, dtype=np.float32), indices, indptr),
        shape=(len(documents), n_features),
    )
    matrix.sum_duplicates()  # also sorts each row's columns
    return matrix


# -- analysers -------------------------------------------------------------------------------


def word_terms(text: str) -> list[str]:
    """Words of two or more characters, minus stop words, plus version numbers.

    The default word pattern splits "2.53.16" into "53" and "16", which every release shares;
    keeping "2.53.16" and "2.53" ties "fails since 15.1.1" to "broken on macOS 15.1".
    """
    lowered = text.lower()
    terms = [w for w in WORDS.findall(lowered) if w not in STOP_WORDS]
    for version in _VERSION.findall(lowered):
        parts = version.split(".")
        terms.extend(".".join(parts[:n]) for n in range(2, len(parts) + 1))
    return terms


@lru_cache(maxsize=1 << 18)
def _word_grams(word: str) -> tuple[str, ...]:
    padded = f" {word} "
    return tuple(padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1))


def char_grams(text: str) -> list[str]:
    """Character 3-5-grams of each space-padded word (scikit-learn's `char_wb`), cached per
    word: words repeat, so this is about twice as fast as n-gramming every text anew."""
    return list(chain.from_iterable(_word_grams(w) for w in text.lower().split()))


@lru_cache(maxsize=1 << 18)
def word_bucket(term: str) -> int:
    """The hash bucket HashingVectorizer puts a word in (to look up its IDF)."""
    return word_column(term, WORD_FEATURES)


def title_of(text: str) -> str:
    """A feedback text's title: its first non-empty line (`Feedback.text` is subject, body)."""
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


class Analyser(NamedTuple):
    """One vector space's analysis: its name, the terms of a text, the hash columns."""

    name: str
    terms: Callable[[str], list[str]]
    n_features: int


# The two vector spaces, in the order their scores are summed.
ANALYSERS = (
    Analyser("word", word_terms, WORD_FEATURES),
    Analyser("char", char_grams, CHAR_FEATURES),
)


def term_counts(texts: Sequence[str], analyser: Analyser) -> sp.csr_matrix:
    """Each text's sublinear term counts (1 + log count) by hashed column."""
    # Analysed a few hundred texts at a time, not thousands at once (the rows are the same).
    parts = [
        hashed_counts(
            [analyser.terms(text) for text in texts[i : i + ANALYSED_AT_ONCE]], analyser.n_features
        )
        for i in range(0, len(texts), ANALYSED_AT_ONCE)
    ]
    if len(parts) == 1:
        matrix = parts[0]
    elif parts:
        matrix = sp.csr_matrix(sp.vstack(parts))
    else:
        matrix = hashed_counts([], analyser.n_features)
    np.log(matrix.data, out=matrix.data)
    matrix.data += 1  # sublinear TF: a word said ten times is not ten times the topic
    return matrix


# -- issues ---------------------------------------------------------------------------------


class IssueLike(Protocol):
    """What the matcher reads of an issue; `models.Issue` is one."""

    @property
    def key(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...


class IssueText(NamedTuple):
    key: str
    summary: str
    description: str = ""
    created_at: datetime | None = None


# -- analyses kept between builds ------------------------------------------------------------

# Bump whenever the same text would be analysed differently (analysers, hashing, the count
# transform, the encoding below): every kept analysis then no longer matches its text.
ANALYSIS_VERSION = 1
# The stop words come from the installed scikit-learn: a release that changes them changes
# the analyses as much as a new version of the analysers.
_ANALYSERS_ID = (
    f"{ANALYSIS_VERSION}:" + hashlib.sha256("\n".join(sorted(STOP_WORDS)).encode()).hexdigest()
)


def issue_texts(issues: Sequence[IssueLike]) -> tuple[list[str], list[str]]:
    """Each issue's whole text and its title (the summary)."""
    return [f"{i.summary}\n{i.description or ''}" for i in issues], [i.summary for i in issues]


def text_hash(issue: IssueLike) -> str:
    """What an analysis is an analysis of: the issue's summary and description, read by
    this version of the analysers."""
    summary, description = issue.summary, issue.description or ""
    text = f"{_ANALYSERS_ID}\n{len(summary)}\n{summary}\n{description}"
    return hashlib.sha256(text.encode()).hexdigest()


class IssueAnalysis(NamedTuple):
    """What the index reads of an issue's text, as bytes a store keeps: four rows of term
    counts (sublinear, as `term_counts` makes them): the word space's of the whole text
    and of the summary, then the char space's. `row_sizes`: the rows' entry counts (int32);
    `buckets` and `counts`: their entries, one row after another (int32 hash buckets,
    float32 counts); `terms`: the whole text's words, one a line (what `matched:` names)."""

    row_sizes: bytes
    buckets: bytes
    counts: bytes
    terms: str


def analyse(issues: Sequence[IssueLike]) -> list[IssueAnalysis]:
    """Each issue's analysis, for `TextMatcher.upsert_analysed`."""
    if not issues:
        return []
    wholes, titles = issue_texts(issues)
    rows = [m for a in ANALYSERS for m in (term_counts(wholes, a), term_counts(titles, a))]
    sizes = np.stack([np.diff(m.indptr) for m in rows], axis=1).astype("<i4")
    order = _by_issue(sizes)
    buckets = np.concatenate([m.indices for m in rows])[order].astype("<i4").tobytes()
    counts = np.concatenate([m.data for m in rows])[order].astype("<f4").tobytes()
    ends = np.zeros(len(issues) + 1, dtype=np.int64)
    np.cumsum(sizes.sum(axis=1), out=ends[1:])
    ends *= 4  # bytes
    return [
        IssueAnalysis(
            sizes[n].tobytes(),
            buckets[ends[n] : ends[n + 1]],
            counts[ends[n] : ends[n + 1]],
            "\n".join(sorted(set(word_terms(text)))),
        )
        for n, text in enumerate(wholes)
    ]


def _by_issue(sizes: np.ndarray) -> np.ndarray:
    """For rows laid out issue by issue (issue 0's four rows, then issue 1's, ...), where
    each entry sits when they are laid out row by row (every issue's first row, then every
    issue's second, ...) as four matrices hold them. `sizes`: issues x rows entry counts."""
    by_row = np.zeros(sizes.shape, dtype=np.int64)
    np.cumsum(sizes[:-1], axis=0, out=by_row[1:])
    by_row[:, 1:] += np.cumsum(sizes.sum(axis=0))[:-1]
    by_issue = np.zeros(sizes.size, dtype=np.int64)
    np.cumsum(sizes.ravel()[:-1], out=by_issue[1:])
    shift = np.repeat(by_row.ravel() - by_issue, sizes.ravel())
    return shift + np.arange(len(shift))


def decoded(analyses: Sequence[IssueAnalysis]) -> list[sp.csr_matrix]:
    """The four matrices of term counts the analyses hold, a row per analysis (in the
    order `analyse` lays them out): each made with one concatenation of all the analyses'
    bytes, not a row at a time."""
    n_features = [a.n_features for a in ANALYSERS for _ in ("whole", "title")]
    sizes = np.frombuffer(b"".join(a.row_sizes for a in analyses), dtype="<i4")
    sizes = sizes.reshape(len(analyses), len(n_features))
    order = _by_issue(sizes)
    buckets = np.empty(len(order), dtype=np.int32)
    buckets[order] = np.frombuffer(b"".join(a.buckets for a in analyses), dtype="<i4")
    counts = np.empty(len(order), dtype=np.float32)
    counts[order] = np.frombuffer(b"".join(a.counts for a in analyses), dtype="<f4")
    matrices = []
    start = 0
    for row, features in enumerate(n_features):
        indptr = np.zeros(len(analyses) + 1, dtype=np.int64)
        np.cumsum(sizes[:, row], out=indptr[1:])
        end = start + int(indptr[-1])
        matrices.append(
            sp.csr_matrix(
                (counts[start:end], buckets[start:end], indptr),
                shape=(len(analyses), features),
            )
        )
        start = end
    return matrices
