"""Text links: which open issue a piece of free-text feedback asks for, and how sure we are.

Ranking. Every issue and every feedback text is seen twice, as a whole and by its title (an
issue's summary; a feedback text's first line, where `Feedback.text` puts the subject), and
in two vector spaces (linking.text_analysis): words (English stop words dropped, version
numbers kept whole and as their prefix) and character 3-5-grams within words (n-grams in
over a fifth of the issues are dropped like stop words). Both spaces weigh terms by
sublinear TF times IDF (linking.text_spaces). A text's vector in a space is unit(whole) +
unit(title); the score is the mean of the two spaces' dot products scaled to [0, 1], so the
summary counts as much as the whole text and a short subject is not drowned by a long body.
Nothing in it knows SeaMonkey's or any other tracker's vocabulary. Issues created well
after the feedback weigh less, and a score becomes a confidence that decides whether the
link counts on its own (linking.text_calibration).

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

Memory. Each worker fills one float32 array of a chunk's scores a few rows at a time and
weighs it in place. Matching the sandbox's 30,000 texts against its 2,792 open issues,
5,000 at a time as the pipeline does, peaks at 131 MiB of RSS (64 MiB of it the
interpreter, libraries and texts) and 54 MiB traced by tracemalloc. Texts are analysed 500
at a time (their terms are Python strings, many times their size), and the pipeline
freezes an index it will not change (`freeze`), which drops the term counts and per-block
vectors only changes need: half the index.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np
import scipy.sparse as sp

from linking.text_analysis import (
    IssueAnalysis,
    IssueLike,
    decoded,
    issue_texts,
    title_of,
    word_bucket,
    word_terms,
)
from linking.text_calibration import (
    DEFAULT_AUTO_THRESHOLD,
    DEFAULT_SUGGEST_THRESHOLD,
    MAX_SUGGESTIONS,
    Calibration,
    TextDecision,
    TextMatch,
    TimePrior,
    decide,
    epoch_seconds,
)
from linking.text_spaces import Block, Layout, lay_out, new_spaces, restricted

MAX_MATCHED_TERMS = 8
MATCH_CHUNK = 200
# A chunk's scores take 4 bytes a cell (text x candidate) in each worker: against many
# candidates a chunk has fewer texts, so they stay within 4 MiB (200 texts up to 5,242
# candidates, 104 against 10,000). Fewer texts a chunk cost time (50 instead of 200 took
# 30% longer on 30,000 sandbox texts, 100 5%), so this is not smaller.
MATCH_CELLS = 1 << 20
# The sparse products summed into the scores take 8 bytes a cell: made this many cells at
# a time (512 KiB), not for a whole chunk.
PRODUCT_CELLS = 1 << 16
MAX_BLOCKS = 8
MAX_DEAD_SHARE = 0.25


class TextMatcher:
    """Candidate issues, indexed for matching free text against them.

    >>> from linking.text_analysis import IssueText
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
        self._spaces = new_spaces()
        self._blocks: list[Block] = []
        self._where: dict[str, tuple[Block, int]] = {}
        self._changes_since_refresh = 0
        self.refreshes = 0
        self._laid_out: Layout | None = None  # see `_layout`; None: to build anew
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
        wholes, titles = issue_texts(items)
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
        rows = decoded(found)
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
        block = Block(
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
        self._blocks = [Block.merge(live)] if live else []
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

    def _layout(self) -> Layout:
        """The live issues as a product with texts' vectors reads them: built once per state
        of the index (dropped by every change to it), not on every call of `match`."""
        if self._laid_out is None:
            self._laid_out = lay_out(self._blocks, self._spaces)
        return self._laid_out

    def _scores(
        self, texts: Sequence[str], created: Sequence[datetime | None] | None, layout: Layout
    ) -> np.ndarray:
        if created is not None and len(created) != len(texts):
            raise ValueError("need one creation date (or None) per text")
        written = epoch_seconds(created) if created is not None else None
        if written is not None and np.isnan(written).all():
            written = None
        titles = [title_of(t) for t in texts]
        queries = {
            name: restricted(
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
            weights[term] = idf(word_bucket(term))
        return tuple(sorted(shared, key=lambda t: (-weights[t], t))[:MAX_MATCHED_TERMS])
