"""Text links: which open issue a piece of free-text feedback asks for, and how sure we are.

Ranking. Every issue and every feedback text is seen twice, as a whole and by its title (an
issue's summary; a feedback text's first line, where `Feedback.text` puts the subject), and
in two vector spaces: words (English stop words dropped, version numbers such as "2.53.16"
kept whole and as their prefix "2.53") and character 3-5-grams within words (which match
"archive" with "archiving" and survive typos; n-grams in over a fifth of the issues are
dropped like stop words). Both spaces weigh terms by sublinear TF times IDF. A text's
vector in a space is unit(whole) + unit(title); the score is the mean of the two spaces'
dot products scaled to [0, 1], so the summary counts as much as the whole text and a short
subject is not drowned by a long body. Nothing in it knows SeaMonkey's or any
other tracker's vocabulary.

Time. Feedback asks for an issue that existed when it was written, or one filed soon after
because of it. So when both creation dates are known (`Feedback.created_at`,
`Issue.created_at`; None leaves the score alone), an issue created more than
`LATER_GRACE_DAYS` after the feedback keeps `LATER_WEIGHT` of its score: weighed down, not
excluded, since a matching issue filed later is still the best guess when nothing earlier
matches. Pass the dates to `match`/`decide`; `TimePrior(0, 1)` turns it off. Both numbers
are chosen by `pmsync eval links` from a grid, each item ranked with the pair chosen on the
other items: on SeaMonkey (3 of 45 right answers filed after their duplicate), 84 of 85
folds choose 0 days and half the score, and held out recall@1 goes from 0.711 to 0.800,
recall@5 from 0.844 to 0.889 and MRR from 0.777 to 0.844. A product manager who files the
Jira issue a few days after the tickets gets it ranked at half weight: where a team works
that way, `--write-calibration` on its own data or a longer grace in text_calibration.py
says so. Excluding later issues outright loses the right answers filed later. Recency of
earlier issues was tried too, in the score and as a calibration feature: it helps the
ranking less and would bury an old backlog issue, so it is not used.

Confidence. `Calibration` maps a candidate's score and its margin over the best other
candidate to the probability that it is the right issue (logistic regression, fitted by
`pmsync eval links ... --write-calibration linking/text_calibration.py`). At or above
`auto_threshold` a top candidate is linked automatically; otherwise up to three candidates
at or above `suggest_threshold` are suggested for a person to confirm. The shipped
threshold is the target precision itself, 0.95: a link is automatic when it is right with
probability 0.95. Held out on SeaMonkey (each item's calibration fitted on the others),
the 8 links it makes are all right (coverage 0.178), and the next most confident item,
at 0.93, would have been wrong; lower thresholds chosen on the data did worse held out
(0.905 at the lowest threshold with 95% precision on the other items). Score ratio, rank
gap, per-space and title scores and text length were tried as further features and
separated no better. In the sandbox every automatic link at 0.95 is a planted one.

Incremental index. Terms are hashed (no vocabulary to refit), so any new text can be
vectorised at once. Document frequencies are counts per hash bucket, updated on every add
and remove; the IDF derived from them is frozen and refreshed once the documents changed
since the last refresh exceed `refresh_ratio` of the index (10% by default). A refresh only
re-weighs the cached term counts (0.2 s for 4,000 issues, no re-tokenising), so it can be
frequent; between refreshes new issues are weighed with the frozen IDF. Measured on the
SeaMonkey set (no time prior): an index fitted on 900 candidates with the last 91 added
one by one ranks with MRR 0.737 against 0.747 when fitted on all 991 (recall@5 equal). On
a 2-core machine with the other core busy, 30,000 texts of ~570 characters match against
4,000 issues in 34 s with the build, and a batch of 100 in 0.17 s:
benchmarks/text_matching.py.
Rows live in a few append-only blocks: adding issues appends a small block, removing one
leaves a tombstone; blocks are merged, and tombstones dropped, once there are too many of
either.

Kept analyses. Most of a build is analysing the issues' texts (words, n-grams, hashed
counts), and between two syncs few of them change. `analyse` gives each issue's analysis as
bytes, which the pipeline keeps in the store under a hash of the text (`text_hash`), and
`upsert_analysed` indexes them as `upsert` indexes the texts: the same rows in the same
order, so the same scores to the bit. For the sandbox's 2,792 open issues, a build that
reads them all takes 0.14 s against 0.33 s from the texts; the first, which saves them,
0.48 s (SQLite, medians of 7 fresh processes).

Memory. Frequencies and weights are kept only for the hash buckets some issue uses
(knowing which takes 5 bits a bucket; a number for each of the 3 * 2**20 would take 32 or
64), and the live issues' vectors are transposed over those buckets once per change of the
index, not on every call of `match`. Each worker fills one float32 array of a chunk's
scores a few rows at a time and weighs it in place. Matching the sandbox's 30,000 texts
against its 2,792 open issues, 5,000 at a time as the pipeline does, peaks at 131 MiB of
RSS (64 MiB of it the interpreter, libraries and texts) and 54 MiB traced by tracemalloc.
Texts are analysed 500 at a time (their terms are Python strings, many times their size),
and the pipeline freezes an index it will not change (`freeze`), which drops the term
counts and per-block vectors only changes need: half the index.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import NamedTuple, Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.utils import murmurhash3_32

from linking.text_calibration import (
    DEFAULT_AUTO_THRESHOLD,
    DEFAULT_SUGGEST_THRESHOLD,
    INTERCEPT,
    LATER_GRACE_DAYS,
    LATER_WEIGHT,
    MARGIN_COEF,
    SCORE_COEF,
)

MAX_SUGGESTIONS = 3
MAX_MATCHED_TERMS = 8

WORD_FEATURES = 1 << 20
CHAR_FEATURES = 1 << 21
# Character n-grams found in more than a fifth of the issues (" th", "ing ") tell nothing
# apart, yet their long posting lists were most of the matching time: drop them, as a
# word index drops stop words.
CHAR_MAX_DF = 0.2
MATCH_CHUNK = 200
# A chunk's scores take 4 bytes a cell (text x candidate) in each worker: against many
# candidates a chunk has fewer texts, so they stay within 4 MiB (200 texts up to 5,242
# candidates, 104 against 10,000). Fewer texts a chunk cost time (50 instead of 200 took
# 30% longer on 30,000 sandbox texts, 100 5%), so this is not smaller.
MATCH_CELLS = 1 << 20
# The sparse products summed into the scores take 8 bytes a cell: made this many cells at
# a time (512 KiB), not for a whole chunk.
PRODUCT_CELLS = 1 << 16
# The float64 time lag is made this many cells at a time (512 KiB).
LAG_CELLS = 1 << 16
MAX_BLOCKS = 8
MAX_DEAD_SHARE = 0.25
DAY = 86_400.0

_WORD = re.compile(r"(?u)\b\w\w+\b")
_VERSION = re.compile(r"\b\d+(?:\.\d+)+\b")


_STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)


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
    sign, no norm, float32) makes of the analysed documents, in canonical form."""
    if not documents:
        return sp.csr_matrix((0, n_features), dtype=np.float32)
    hasher = FeatureHasher(n_features, input_type="string", alternate_sign=False, dtype=np.float32)
    return sp.csr_matrix(hasher.transform(documents))


# -- analysers -------------------------------------------------------------------------------


def word_terms(text: str) -> list[str]:
    """Words of two or more characters, minus stop words, plus version numbers.

    The default word pattern splits "2.53.16" into "53" and "16", which every release shares;
    keeping "2.53.16" and "2.53" ties "fails since 15.1.1" to "broken on macOS 15.1".
    """
    lowered = text.lower()
    terms = [w for w in _WORD.findall(lowered) if w not in _STOP_WORDS]
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
def _word_bucket(term: str) -> int:
    """The hash bucket HashingVectorizer puts a word in (to look up its IDF)."""
    return word_column(term, WORD_FEATURES)


def title_of(text: str) -> str:
    """A feedback text's title: its first non-empty line (`Feedback.text` is subject, body)."""
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


# -- calibration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """P(candidate is the right issue) = sigmoid(intercept + score_coef * score
    + margin_coef * margin), where margin is the score minus the best other candidate's.

    Both coefficients are non-negative, so within one text a higher score never gets a
    lower confidence."""

    intercept: float = INTERCEPT
    score_coef: float = SCORE_COEF
    margin_coef: float = MARGIN_COEF

    def __post_init__(self) -> None:
        if self.score_coef < 0 or self.margin_coef < 0:
            raise ValueError("calibration coefficients must be non-negative")

    def probability(self, score: float, margin: float) -> float:
        z = self.intercept + self.score_coef * score + self.margin_coef * margin
        return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0


@dataclass(frozen=True)
class TimePrior:
    """Feedback asks for an issue that existed when it was written, or one filed soon after
    because of it: an issue created more than `grace_days` after the feedback keeps
    `later_weight` of its score. A weight of 1 turns this off; a creation date that is
    unknown (None) on either side leaves the score alone."""

    grace_days: float = LATER_GRACE_DAYS
    later_weight: float = LATER_WEIGHT

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


# -- results ---------------------------------------------------------------------------------


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


# -- vector spaces ---------------------------------------------------------------------------


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    squares = matrix.copy()
    squares.data **= 2
    norms = np.sqrt(np.asarray(squares.sum(axis=1)).ravel())
    norms[norms == 0] = 1
    unit = matrix.copy()
    unit.data /= np.repeat(norms, np.diff(unit.indptr)).astype(unit.data.dtype)
    return unit


# How many bits of each byte are set.
_BYTE_BITS = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.int32)


class _BucketSet:
    """A set of a space's hash buckets, and each member's place among them, in 5 bits a
    bucket of the space (one saying whether it is a member, and per byte the count of
    members below it): 1.25 MiB for 2**21 buckets, where an array with an int32 or float32
    for every bucket takes 8 MiB."""

    def __init__(self, members: np.ndarray, n_features: int) -> None:
        """`members`: sorted and distinct."""
        members = np.asarray(members, dtype=np.int64)
        self.size = len(members)
        self.bits = np.zeros((n_features + 7) // 8, dtype=np.uint8)
        np.bitwise_or.at(self.bits, members >> 3, np.left_shift(1, members & 7).astype(np.uint8))
        self.below = np.zeros(len(self.bits), dtype=np.int32)
        np.cumsum(_BYTE_BITS[self.bits[:-1]], dtype=np.int32, out=self.below[1:])

    def find(self, buckets: np.ndarray) -> np.ndarray:
        """Each bucket's place among the members, or `size` for a bucket not one (int32)."""
        byte = buckets >> 3
        bit = (buckets & 7).astype(np.uint8)
        bits = self.bits[byte]
        place = self.below[byte] + _BYTE_BITS[bits & ((np.uint8(1) << bit) - np.uint8(1))]
        return np.where((bits >> bit) & 1, place, self.size)

    def place(self, bucket: int) -> int:
        """`find` for one bucket."""
        bits, bit = int(self.bits[bucket >> 3]), bucket & 7
        if not bits >> bit & 1:
            return self.size
        return int(self.below[bucket >> 3]) + (bits & ((1 << bit) - 1)).bit_count()


class _Space:
    """One vector space: hashed sublinear term counts, live document frequencies, frozen IDF.

    Few of the 2**20 or 2**21 hash buckets hold a term of the indexed issues (about 120,000
    char n-gram buckets for 4,000 SeaMonkey reports): frequencies and weights are kept for
    those, not in arrays over every bucket (36 MiB for the two spaces as int64 frequencies
    and float32 weights)."""

    def __init__(
        self, analyzer: Callable[[str], list[str]], n_features: int, max_df: float = 1.0
    ) -> None:
        self.max_df = max_df
        self.analyzer = analyzer
        self.n_features = n_features
        # Documents per bucket, for the buckets in `df_buckets` (sorted; others: none).
        self.df_buckets = np.zeros(0, dtype=np.int64)
        self.df = np.zeros(0, dtype=np.int32)
        # IDF at the last refresh: of the buckets then in a document by place in
        # `idf_buckets`, and last, that of every other bucket.
        self.idf_buckets = _BucketSet(self.df_buckets, n_features)
        self.idf_values = np.ones(1, dtype=np.float32)

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        # A text's terms are Python strings, many times its size: analysed a few hundred
        # texts at a time, not thousands at once (the rows are the same).
        parts = [
            hashed_counts([self.analyzer(text) for text in texts[i : i + 500]], self.n_features)
            for i in range(0, len(texts), 500)
        ]
        if len(parts) == 1:
            matrix = parts[0]
        elif parts:
            matrix = sp.csr_matrix(sp.vstack(parts))
        else:
            matrix = hashed_counts([], self.n_features)
        np.log(matrix.data, out=matrix.data)
        matrix.data += 1  # sublinear TF: a word said ten times is not ten times the topic
        return matrix

    def count_documents(self, counts: sp.csr_matrix, sign: int) -> None:
        buckets, documents = np.unique(counts.indices, return_counts=True)
        at = np.searchsorted(self.df_buckets, buckets)
        known = at < len(self.df_buckets)
        known[known] = self.df_buckets[at[known]] == buckets[known]
        self.df[at[known]] += sign * documents[known]
        new = ~known
        if new.any():
            self.df_buckets = np.insert(self.df_buckets, at[new], buckets[new])
            self.df = np.insert(self.df, at[new], sign * documents[new])

    def refresh_idf(self, n_documents: int) -> None:
        # scikit-learn's smoothed IDF, so a term no document has yet gets the highest weight.
        # Most of the 2**20 or 2**21 columns hold no term: they share that one weight.
        in_use = self.df != 0
        self.df_buckets, self.df = self.df_buckets[in_use], self.df[in_use]
        seen, df = self.df_buckets, self.df
        unseen = np.log((1 + n_documents) / np.ones(1)) + 1
        idf = np.log((1 + n_documents) / (1 + df)) + 1
        idf[df > self.max_df * n_documents] = 0
        self.idf_buckets = _BucketSet(seen, self.n_features)
        self.idf_values = np.append(idf, unseen).astype(np.float32)

    def idf(self, buckets: np.ndarray) -> np.ndarray:
        """The IDF of each bucket (float32)."""
        return self.idf_values[self.idf_buckets.find(buckets)]

    def idf_of(self, bucket: int) -> float:
        return float(self.idf_values[self.idf_buckets.place(bucket)])

    def vectors(self, whole: sp.csr_matrix, title: sp.csr_matrix) -> sp.csr_matrix:
        vectors = sp.csr_matrix(_unit_rows(self._weigh(whole)) + _unit_rows(self._weigh(title)))
        vectors.eliminate_zeros()
        return vectors

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        weighted = counts.copy()
        weighted.data *= self.idf(weighted.indices)
        return weighted


@dataclass
class _Block:
    """Issues added together: their cached term counts and their weighted vectors."""

    keys: list[str]
    terms: list[frozenset[str]]
    counts: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]]
    created: np.ndarray  # seconds since the epoch; NaN: unknown
    vectors: dict[str, sp.csr_matrix] = field(default_factory=dict)
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if len(self.alive) != len(self.keys):
            self.alive = np.ones(len(self.keys), dtype=bool)

    def live(self) -> _Block:
        """This block without its removed rows."""
        rows = np.flatnonzero(self.alive)
        return _Block(
            keys=[self.keys[i] for i in rows],
            terms=[self.terms[i] for i in rows],
            counts={
                name: (whole[rows], title[rows]) for name, (whole, title) in self.counts.items()
            },
            created=self.created[rows],
            vectors={name: vectors[rows] for name, vectors in self.vectors.items()},
        )

    @staticmethod
    def merge(blocks: list[_Block]) -> _Block:
        def stack(matrices: list[sp.csr_matrix]) -> sp.csr_matrix:
            return sp.csr_matrix(sp.vstack(matrices))

        names = list(blocks[0].counts)
        return _Block(
            keys=[key for block in blocks for key in block.keys],
            terms=[terms for block in blocks for terms in block.terms],
            counts={
                name: (
                    stack([block.counts[name][0] for block in blocks]),
                    stack([block.counts[name][1] for block in blocks]),
                )
                for name in names
            },
            created=np.concatenate([block.created for block in blocks]),
            vectors=(
                {name: stack([block.vectors[name] for block in blocks]) for name in names}
                if all(block.vectors for block in blocks)
                else {}
            ),
        )


class _Columns(NamedTuple):
    """One block's live issues, laid out for products with texts' vectors."""

    live: np.ndarray  # the block's rows still indexed
    created: np.ndarray  # their creation times, seconds since the epoch; NaN: unknown
    transposed: dict[str, sp.csr_matrix]  # per space: the layout's buckets x these rows


class _Layout(NamedTuple):
    keys: list[str]  # every live issue, in the order of the blocks' columns
    buckets: dict[str, _BucketSet]  # per space: the buckets some live issue's vector uses
    columns: list[_Columns]


def _transposed(vectors: sp.csr_matrix) -> tuple[np.ndarray, sp.csr_matrix]:
    """The hash buckets `vectors` use (sorted), and `vectors` transposed into rows of just
    those buckets: a product with texts' vectors reads a row per bucket, and over all 2**21
    buckets the row pointers alone were 8 MiB, held while matching and made anew on every
    call."""
    transposed = sp.csr_matrix(vectors.T)  # the row format a product converts to
    indptr = transposed.indptr
    buckets = np.flatnonzero(indptr[1:] != indptr[:-1])
    # Between two used buckets every row is empty, so a used bucket's row ends where
    # the next used one's starts.
    compact = sp.csr_matrix(
        (transposed.data, transposed.indices, np.append(indptr[buckets], indptr[-1])),
        shape=(len(buckets), vectors.shape[0]),
    )
    return buckets, compact


def _union(sets: list[np.ndarray]) -> np.ndarray:
    """The union of sorted arrays of distinct integers, sorted (np.union1d hashes: 12 ms for
    120,000 buckets, where a sort takes under 1)."""
    if len(sets) == 1:
        return sets[0]
    merged = np.sort(np.concatenate([np.zeros(0, dtype=np.int64), *sets]))
    return merged[np.append(True, merged[1:] != merged[:-1])] if len(merged) else merged


def _widened(transposed: sp.csr_matrix, buckets: np.ndarray, wider: np.ndarray) -> sp.csr_matrix:
    """`transposed` (rows of `buckets`) with rows of `wider`, a sorted superset: the rows
    of the buckets it adds are empty."""
    if len(wider) == len(buckets):
        return transposed
    indptr = transposed.indptr[np.append(np.searchsorted(buckets, wider), len(buckets))]
    return sp.csr_matrix(
        (transposed.data, transposed.indices, indptr), shape=(len(wider), transposed.shape[1])
    )


def _restricted(vectors: sp.csr_matrix, buckets: _BucketSet) -> sp.csr_matrix:
    """`vectors` with only their entries in `buckets`, as columns numbered by place among
    them. Its product with the issues' vectors transposed over those buckets is bit for
    bit the product over all buckets: a bucket no issue uses adds nothing to any score,
    and the other entries keep their order, so each score adds the same terms in the same
    order."""
    place = buckets.find(vectors.indices)
    found = place < buckets.size
    ends = np.zeros(len(found) + 1, dtype=np.int64)
    np.cumsum(found, out=ends[1:])
    return sp.csr_matrix(
        (vectors.data[found], place[found], ends[vectors.indptr]),
        shape=(vectors.shape[0], buckets.size),
    )


# -- analyses kept between builds ------------------------------------------------------------

# Bump whenever the same text would be analysed differently (analysers, hashing, the count
# transform, the encoding below): every kept analysis then no longer matches its text.
ANALYSIS_VERSION = 1
# The stop words come from the installed scikit-learn: a release that changes them changes
# the analyses as much as a new version of the analysers.
_ANALYSERS = (
    f"{ANALYSIS_VERSION}:" + hashlib.sha256("\n".join(sorted(_STOP_WORDS)).encode()).hexdigest()
)


def _new_spaces() -> dict[str, _Space]:
    """The two vector spaces, empty, in the order their scores are summed."""
    return {
        "word": _Space(word_terms, WORD_FEATURES),
        "char": _Space(char_grams, CHAR_FEATURES, max_df=CHAR_MAX_DF),
    }


def _texts(issues: Sequence[IssueLike]) -> tuple[list[str], list[str]]:
    """Each issue's whole text and its title (the summary)."""
    return [f"{i.summary}\n{i.description or ''}" for i in issues], [i.summary for i in issues]


def text_hash(issue: IssueLike) -> str:
    """What an analysis is an analysis of: the issue's summary and description, read by
    this version of the analysers."""
    summary, description = issue.summary, issue.description or ""
    text = f"{_ANALYSERS}\n{len(summary)}\n{summary}\n{description}"
    return hashlib.sha256(text.encode()).hexdigest()


class IssueAnalysis(NamedTuple):
    """What the index reads of an issue's text, as bytes a store keeps: four rows of term
    counts (sublinear, as `_Space.counts` makes them): the word space's of the whole text
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
    wholes, titles = _texts(issues)
    rows = [m for s in _new_spaces().values() for m in (s.counts(wholes), s.counts(titles))]
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


def _decoded(analyses: Sequence[IssueAnalysis], n_features: Sequence[int]) -> list[sp.csr_matrix]:
    """The four matrices of term counts the analyses hold, a row per analysis: each made
    with one concatenation of all the analyses' bytes, not a row at a time."""
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


# -- the matcher -----------------------------------------------------------------------------


class TextMatcher:
    """Candidate issues, indexed for matching free text against them.

    >>> matcher = TextMatcher([IssueText("ANA-1", "Export dashboards to PDF")])
    >>> matcher.match(["Can I get a PDF export of a dashboard?"])[0][0].key
    'ANA-1'
    """

    def __init__(
        self,
        issues: Iterable[IssueLike] = (),
        *,
        calibration: Calibration | None = None,
        auto_threshold: float = DEFAULT_AUTO_THRESHOLD,
        suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
        refresh_ratio: float = 0.1,
        workers: int = min(2, os.cpu_count() or 1),
        time_prior: TimePrior | None = None,
    ) -> None:
        if not 0 <= suggest_threshold <= auto_threshold <= 1:
            raise ValueError("need 0 <= suggest_threshold <= auto_threshold <= 1")
        self.calibration = calibration or Calibration()
        self.time_prior = time_prior or TimePrior()
        self.auto_threshold = auto_threshold
        self.suggest_threshold = suggest_threshold
        self.refresh_ratio = refresh_ratio
        self.workers = workers
        self._spaces = _new_spaces()
        self._blocks: list[_Block] = []
        self._where: dict[str, tuple[_Block, int]] = {}
        self._changes_since_refresh = 0
        self.refreshes = 0
        self._laid_out: _Layout | None = None  # see `_layout`; None: to build anew
        self._frozen = False
        self.upsert(issues)

    # -- keeping the index ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def keys(self) -> Iterator[str]:
        return iter(self._where)

    def upsert(self, issues: Iterable[IssueLike]) -> None:
        """Add issues, or replace the text of issues already indexed (same key)."""
        self._unfrozen()
        items = list({issue.key: issue for issue in issues}.values())
        if not items:
            return
        wholes, titles = _texts(items)
        counts = {
            name: (space.counts(wholes), space.counts(titles))
            for name, space in self._spaces.items()
        }
        self._add(items, counts, [frozenset(word_terms(text)) for text in wholes])

    def upsert_analysed(
        self, issues: Sequence[IssueLike], analyses: Sequence[IssueAnalysis]
    ) -> None:
        """`upsert` of issues whose text was analysed before (by `analyse`, or kept in the
        store since), one analysis per issue: the same index, without reading the texts."""
        self._unfrozen()
        latest = {i.key: (i, a) for i, a in zip(issues, analyses, strict=True)}
        if not latest:
            return
        found = [analysis for _, analysis in latest.values()]
        features = [s.n_features for s in self._spaces.values() for _ in ("whole", "title")]
        rows = _decoded(found, features)
        counts = {name: (rows[2 * n], rows[2 * n + 1]) for n, name in enumerate(self._spaces)}
        terms = [frozenset(a.terms.split("\n")) if a.terms else frozenset() for a in found]
        self._add([issue for issue, _ in latest.values()], counts, terms)

    def _add(
        self,
        items: list[IssueLike],
        counts: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]],
        terms: list[frozenset[str]],
    ) -> None:
        """Index `items` (distinct keys) as a new block, given per space the term counts of
        their whole texts and their titles, and their words."""
        self.remove(i.key for i in items if i.key in self._where)
        for name, space in self._spaces.items():
            space.count_documents(counts[name][0], +1)
        block = _Block(
            keys=[i.key for i in items],
            terms=terms,
            counts=counts,
            created=epoch_seconds(i.created_at for i in items),
        )
        self._blocks.append(block)
        self._laid_out = None
        for row, key in enumerate(block.keys):
            self._where[key] = (block, row)
        self._changes_since_refresh += len(items)

    def remove(self, keys: Iterable[str]) -> None:
        """Forget issues (closed, shipped, moved out of the configured projects)."""
        self._unfrozen()
        for key in list(keys):
            found = self._where.pop(key, None)
            if found is None:
                continue
            block, row = found
            block.alive[row] = False
            self._laid_out = None
            for name, space in self._spaces.items():
                space.count_documents(block.counts[name][0][row], -1)
            self._changes_since_refresh += 1

    def refresh(self) -> None:
        """Recompute IDF from the live document frequencies and re-weigh every row."""
        self._unfrozen()
        self._compact()
        for space in self._spaces.values():
            space.refresh_idf(len(self))
        for block in self._blocks:
            block.vectors = {
                name: space.vectors(*block.counts[name]) for name, space in self._spaces.items()
            }
        self._changes_since_refresh = 0
        self.refreshes += 1
        self._laid_out = None

    def _compact(self) -> None:
        """Merge the blocks into one, dropping removed rows, once there are many of either."""
        rows = sum(len(b.keys) for b in self._blocks)
        if len(self._blocks) <= MAX_BLOCKS and rows - len(self) <= MAX_DEAD_SHARE * rows:
            return
        live = [block.live() for block in self._blocks if block.alive.any()]
        self._blocks = [_Block.merge(live)] if live else []
        self._laid_out = None
        self._where = (
            {key: (self._blocks[0], row) for row, key in enumerate(self._blocks[0].keys)}
            if live
            else {}
        )

    def freeze(self) -> None:
        """No more changes: keep what matching reads (the laid-out vectors, the terms, the
        dates), not the term counts and per-block vectors a change re-weighs: half the
        index (16 of 31 MiB for 2,800 sandbox issues). A frozen matcher's results are
        those it gave before."""
        self._prepare()
        self._layout()
        for block in self._blocks:
            block.counts, block.vectors = {}, {}
        self._frozen = True

    def _unfrozen(self) -> None:
        if self._frozen:
            raise RuntimeError("this text index is frozen: build a new one to change it")

    def _prepare(self) -> None:
        if self._frozen:
            return
        if self._changes_since_refresh > self.refresh_ratio * max(len(self), 1):
            self.refresh()
            return
        self._compact()
        for block in self._blocks:
            if not block.vectors:  # added since the last refresh: weigh with the frozen IDF
                self._laid_out = None
                block.vectors = {
                    name: space.vectors(*block.counts[name]) for name, space in self._spaces.items()
                }

    # -- matching ------------------------------------------------------------------------------

    def scores(
        self, texts: Sequence[str], created: Sequence[datetime | None] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Every live issue's score for every text: (keys, array of len(texts) x len(keys)).
        `created`, when given, is when each text was written (None: unknown), for the
        matcher's `time_prior`."""
        self._prepare()
        layout = self._layout()
        return list(layout.keys), self._scores(texts, created, layout)

    def _layout(self) -> _Layout:
        """The live issues as a product with texts' vectors reads them: built once per state
        of the index (dropped by every change to it), not on every call of `match`."""
        if self._laid_out is None:
            keys: list[str] = []
            blocks = []
            for block in self._blocks:
                live = np.flatnonzero(block.alive)
                if len(live):
                    whole = len(live) == len(block.keys)
                    spaces = {
                        name: _transposed(vectors if whole else vectors[live])
                        for name, vectors in block.vectors.items()
                    }
                    blocks.append((live, block.created[live], spaces))
                    keys.extend(block.keys[i] for i in live)
            used = {  # rows for the buckets of every block: a text's vectors are restricted once
                name: _union([spaces[name][0] for _, _, spaces in blocks]) for name in self._spaces
            }
            columns = [
                _Columns(
                    live,
                    created,
                    {name: _widened(t, b, used[name]) for name, (b, t) in spaces.items()},
                )
                for live, created, spaces in blocks
            ]
            buckets = {
                name: _BucketSet(used[name], s.n_features) for name, s in self._spaces.items()
            }
            self._laid_out = _Layout(keys, buckets, columns)
        return self._laid_out

    def _scores(
        self, texts: Sequence[str], created: Sequence[datetime | None] | None, layout: _Layout
    ) -> np.ndarray:
        if created is not None and len(created) != len(texts):
            raise ValueError("need one creation date (or None) per text")
        written = epoch_seconds(created) if created is not None else None
        if written is not None and np.isnan(written).all():
            written = None
        titles = [title_of(t) for t in texts]
        queries = {
            name: _restricted(
                space.vectors(space.counts(texts), space.counts(titles)), layout.buckets[name]
            )
            for name, space in self._spaces.items()
        }
        scores = []
        for columns in layout.columns:
            # One float32 array, filled a few rows at a time, then scaled and weighed in
            # place: a sparse product holds 8 bytes a cell, and the copies made of a chunk's
            # scores (the spaces' sum, its scaling, the time prior's) were heap that the
            # allocator kept per worker once the chunk was done.
            total = np.empty((len(texts), len(columns.live)), dtype=np.float32)
            rows = max(1, PRODUCT_CELLS // max(1, len(columns.live)))
            for start in range(0, len(texts), rows):
                part = total[start : start + rows]
                for n, name in enumerate(self._spaces):  # summed in this order, as ever
                    vectors = queries[name]
                    if rows < len(texts):
                        vectors = vectors[start : start + rows]
                    product = vectors @ columns.transposed[name]
                    if n == 0:
                        product.toarray(out=part)
                    else:
                        part += product.toarray()
            total /= 4 * len(self._spaces)
            if written is not None:
                self.time_prior.apply_in_place(total, columns.created, written)
            scores.append(total)
        if not scores:
            return np.zeros((len(texts), 0), dtype=np.float32)
        return scores[0] if len(scores) == 1 else np.hstack(scores)

    def match(
        self, texts: Sequence[str], k: int = 5, created: Sequence[datetime | None] | None = None
    ) -> list[list[TextMatch]]:
        """For each text, its top `k` candidate issues, best first. `created`: when each
        text was written (None: unknown), so issues filed well after it weigh less."""
        self._prepare()
        if created is not None and len(created) != len(texts):
            raise ValueError("need one creation date (or None) per text")
        layout = self._layout()

        def top_of(
            part: tuple[Sequence[str], Sequence[datetime | None] | None],
        ) -> list[list[TextMatch]]:
            scores = self._scores(*part, layout)
            return [
                self._top(text, row, layout.keys, k)
                for text, row in zip(part[0], scores, strict=True)
            ]

        chunk = max(1, min(MATCH_CHUNK, MATCH_CELLS // max(1, len(layout.keys))))
        parts = [
            (texts[i : i + chunk], None if created is None else created[i : i + chunk])
            for i in range(0, len(texts), chunk)
        ]
        if len(parts) < 2 or self.workers < 2:
            return [m for part in parts for m in top_of(part)]
        # The sparse products release the GIL: a second core takes a third off a large batch.
        with ThreadPoolExecutor(self.workers) as pool:
            return [m for done in pool.map(top_of, parts) for m in done]

    def decide(
        self, texts: Sequence[str], created: Sequence[datetime | None] | None = None
    ) -> list[TextDecision]:
        """For each text: its automatic link, or its suggestions, at this matcher's thresholds."""
        return [
            decide(m, self.auto_threshold, self.suggest_threshold)
            for m in self.match(texts, k=MAX_SUGGESTIONS, created=created)
        ]

    def _top(self, text: str, row: np.ndarray, keys: list[str], k: int) -> list[TextMatch]:
        if not len(keys) or k <= 0:
            return []
        take = min(max(k, 2), len(keys))
        best = np.argpartition(-row, take - 1)[:take]
        best = best[np.lexsort((best, -row[best]))]  # by score, then by index: deterministic
        first = float(row[best[0]])
        second = float(row[best[1]]) if len(best) > 1 else 0.0
        query_terms = set(word_terms(text))
        weights: dict[str, float] = {}  # the IDF of the text's words, for all its candidates
        matches = []
        for position, index in enumerate(best[:k]):
            score = float(row[index])
            margin = score - (second if position == 0 else first)
            block, at = self._where[keys[index]]
            matches.append(
                TextMatch(
                    key=keys[index],
                    score=round(score, 6),
                    confidence=round(self.calibration.probability(score, margin), 6),
                    matched_terms=self._explain(query_terms & block.terms[at], weights),
                )
            )
        return matches

    def _explain(
        self, shared: set[str] | frozenset[str], weights: dict[str, float]
    ) -> tuple[str, ...]:
        """The shared words that weigh most (highest IDF first): the evidence a person reads.
        `weights`: IDF of words looked up so far, added to (a text's candidates share most of
        their words with it, and a lookup is a few steps in `_BucketSet`)."""
        idf = self._spaces["word"].idf_of
        for term in shared - weights.keys():
            weights[term] = idf(_word_bucket(term))
        return tuple(sorted(shared, key=lambda t: (-weights[t], t))[:MAX_MATCHED_TERMS])
