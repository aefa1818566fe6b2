"""The vector spaces of the text index, and the live issues laid out for matching.

Each space weighs terms by sublinear TF times IDF. Document frequencies are counts per
hash bucket, updated on every add and remove; the IDF derived from them is frozen until a
refresh. Rows live in a few append-only blocks: adding issues appends a small block,
removing one leaves a tombstone (`linking.text.TextMatcher` merges them).

Memory. Frequencies and weights are kept only for the hash buckets some issue uses
(knowing which takes 5 bits a bucket; a number for each of the 3 * 2**20 would take 32 or
64), and the live issues' vectors are transposed over those buckets once per change of the
index, not on every call of `match`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from linking.text_analysis import ANALYSERS, Analyser, term_counts

# Character n-grams found in more than a fifth of the issues (" th", "ing ") tell nothing
# apart, yet their long posting lists were most of the matching time: drop them, as a
# word index drops stop words.
CHAR_MAX_DF = 0.2


def new_spaces() -> dict[str, Space]:
    """The two vector spaces, empty, in the order their scores are summed."""
    max_df = {"char": CHAR_MAX_DF}
    return {a.name: Space(a, max_df.get(a.name, 1.0)) for a in ANALYSERS}


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


class BucketSet:
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


class Space:
    """One vector space: hashed sublinear term counts, live document frequencies, frozen IDF.

    Few of the 2**20 or 2**21 hash buckets hold a term of the indexed issues (about 120,000
    char n-gram buckets for 4,000 SeaMonkey reports): frequencies and weights are kept for
    those, not in arrays over every bucket (36 MiB for the two spaces as int64 frequencies
    and float32 weights)."""

    def __init__(self, analyser: Analyser, max_df: float = 1.0) -> None:
        self.max_df = max_df
        self.analyser = analyser
        self.n_features = analyser.n_features
        # Documents per bucket, for the buckets in `df_buckets` (sorted; others: none).
        self.df_buckets = np.zeros(0, dtype=np.int64)
        self.df = np.zeros(0, dtype=np.int32)
        # IDF at the last refresh: of the buckets then in a document by place in
        # `idf_buckets`, and last, that of every other bucket.
        self.idf_buckets = BucketSet(self.df_buckets, self.n_features)
        self.idf_values = np.ones(1, dtype=np.float32)

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        return term_counts(texts, self.analyser)

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
        self.idf_buckets = BucketSet(seen, self.n_features)
        self.idf_values = np.append(idf, unseen).astype(np.float32)

    def idf(self, buckets: np.ndarray) -> np.ndarray:
        """The IDF of each bucket (float32)."""
        found: np.ndarray = self.idf_values[self.idf_buckets.find(buckets)]
        return found

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
class Block:
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

    def live(self) -> Block:
        """This block without its removed rows."""
        rows = np.flatnonzero(self.alive)
        return Block(
            keys=[self.keys[i] for i in rows],
            terms=[self.terms[i] for i in rows],
            counts={
                name: (whole[rows], title[rows]) for name, (whole, title) in self.counts.items()
            },
            created=self.created[rows],
            vectors={name: vectors[rows] for name, vectors in self.vectors.items()},
        )

    @staticmethod
    def merge(blocks: list[Block]) -> Block:
        def stack(matrices: list[sp.csr_matrix]) -> sp.csr_matrix:
            return sp.csr_matrix(sp.vstack(matrices))

        names = list(blocks[0].counts)
        return Block(
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


class Columns(NamedTuple):
    """One block's live issues, laid out for products with texts' vectors."""

    live: np.ndarray  # the block's rows still indexed
    created: np.ndarray  # their creation times, seconds since the epoch; NaN: unknown
    transposed: dict[str, sp.csr_matrix]  # per space: the layout's buckets x these rows


class Layout(NamedTuple):
    keys: list[str]  # every live issue, in the order of the blocks' columns
    buckets: dict[str, BucketSet]  # per space: the buckets some live issue's vector uses
    columns: list[Columns]


def lay_out(blocks: list[Block], spaces: dict[str, Space]) -> Layout:
    """The blocks' live issues as a product with texts' vectors reads them."""
    keys: list[str] = []
    laid = []
    for block in blocks:
        live = np.flatnonzero(block.alive)
        if len(live):
            whole = len(live) == len(block.keys)
            by_space = {
                name: _bucket_rows(vectors if whole else vectors[live])
                for name, vectors in block.vectors.items()
            }
            laid.append((live, block.created[live], by_space))
            keys.extend(block.keys[i] for i in live)
    used = {  # rows for the buckets of every block: a text's vectors are restricted once
        name: _sorted_union([by_space[name][0] for _, _, by_space in laid]) for name in spaces
    }
    columns = [
        Columns(
            live,
            created,
            {name: _widened(t, b, used[name]) for name, (b, t) in by_space.items()},
        )
        for live, created, by_space in laid
    ]
    buckets = {name: BucketSet(used[name], s.n_features) for name, s in spaces.items()}
    return Layout(keys, buckets, columns)


def _bucket_rows(vectors: sp.csr_matrix) -> tuple[np.ndarray, sp.csr_matrix]:
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


def _sorted_union(sets: list[np.ndarray]) -> np.ndarray:
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


def restricted(vectors: sp.csr_matrix, buckets: BucketSet) -> sp.csr_matrix:
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
