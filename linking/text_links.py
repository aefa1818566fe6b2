"""Text links for the pipeline: feedback that names no issue is matched against the open,
unshipped issues; a confident match counts, the others wait as suggestions."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from models import Feedback, Issue, Link


def text_linker(
    issues: Iterable[Issue], auto_threshold: float, suggest_threshold: float
) -> Callable[[Iterable[Feedback]], list[Link]]:
    """A function from feedback to its text links, over one index of the candidate issues:
    build it once, feed it feedback a chunk at a time."""
    candidates = [issue for issue in issues if issue.status_category != "done"]
    if not candidates:
        return lambda feedback: []
    from linking.text import TextMatcher  # numpy and scipy load only when needed

    matcher = TextMatcher(
        candidates, auto_threshold=auto_threshold, suggest_threshold=suggest_threshold
    )
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


def text_links(
    feedback: Iterable[Feedback],
    issues: Iterable[Issue],
    auto_threshold: float,
    suggest_threshold: float,
) -> list[Link]:
    items = [item for item in feedback if item.text.strip()]
    if not items:
        return []
    return text_linker(issues, auto_threshold, suggest_threshold)(items)
