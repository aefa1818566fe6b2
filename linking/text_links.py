"""Text links for the pipeline: feedback that names no issue is matched against the open,
unshipped issues; a confident match counts, the others wait as suggestions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from models import Feedback, Issue, Link

if TYPE_CHECKING:
    from linking.text_analysis import IssueAnalysis
    from store import Store


def text_linker(
    issues: Iterable[Issue],
    auto_threshold: float,
    suggest_threshold: float,
    store: Store | None = None,
) -> Callable[[Iterable[Feedback]], list[Link]]:
    """A function from feedback to its text links, over one index of the candidate issues:
    build it once, feed it feedback a chunk at a time. With a `store`, the issues' texts
    analysed by an earlier build are read from it, not analysed again."""
    candidates = [issue for issue in issues if issue.status_category != "done"]
    if not candidates:
        if store is not None:
            store.derived.save_text_analyses({}, candidates=())
        return lambda feedback: []
    from linking.text import TextMatcher  # numpy and scipy load only when needed

    matcher = TextMatcher(auto_threshold=auto_threshold, suggest_threshold=suggest_threshold)
    if store is None:
        matcher.upsert(candidates)
    else:
        matcher.upsert_analysed(candidates, analyses_of(candidates, store))
    matcher.freeze()  # built once, never changed: keep only what matching reads

    def links_of(feedback: Iterable[Feedback]) -> list[Link]:
        items = [item for item in feedback if item.text.strip()]
        links: list[Link] = []
        for item, decision in zip(
            items,
            matcher.decide([i.text for i in items], [i.created_at for i in items]),
            strict=True,
        ):
            chosen = [(decision.auto, "auto")] if decision.auto else []
            chosen += [(match, "suggested") for match in decision.suggestions]
            for match, status in chosen:
                if match is None:
                    continue
                links.append(
                    Link(
                        source=item.source,
                        record_id=item.id,
                        kind="feedback",
                        issue_key=match.key,
                        method="text",
                        confidence=round(match.confidence, 4),
                        evidence="matched: " + ", ".join(match.matched_terms),
                        status=status,
                    )
                )
        return links

    return links_of


def analyses_of(issues: list[Issue], store: Store) -> list[IssueAnalysis]:
    """Each issue's analysis: the store's where its text is the one analysed, made (and
    kept) for the others. The store forgets the issues not among these (done, deleted)."""
    from linking.text_analysis import IssueAnalysis, analyse, text_hash

    hashes = {issue.key: text_hash(issue) for issue in issues}
    kept = store.derived.text_analyses(hashes)
    new = [issue for issue in issues if issue.key not in kept]
    made = dict(zip([issue.key for issue in new], analyse(new), strict=True))
    store.derived.save_text_analyses({key: (hashes[key], *a) for key, a in made.items()}, hashes)
    return [made.get(i.key) or IssueAnalysis(*kept[i.key]) for i in issues]


def text_links(
    feedback: Iterable[Feedback],
    issues: Iterable[Issue],
    auto_threshold: float,
    suggest_threshold: float,
    store: Store | None = None,
) -> list[Link]:
    items = [item for item in feedback if item.text.strip()]
    if not items:
        return []
    return text_linker(issues, auto_threshold, suggest_threshold, store)(items)
