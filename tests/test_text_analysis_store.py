"""Issues' text analyses kept in the store: an index built from them links exactly as one
built from the texts, and a build analyses again only the issues whose text changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

import linking.text_analysis
from linking.text import TextMatcher
from linking.text_analysis import IssueAnalysis, analyse, text_hash
from linking.text_calibration import DEFAULT_SUGGEST_THRESHOLD
from linking.text_links import analyses_of, text_linker
from models import Feedback, Issue, Link
from sandbox.world import generate
from store import Store

NOW = datetime(2026, 11, 27, tzinfo=UTC)
# Below the shipped threshold, so the sandbox's feedback gets automatic links and
# suggestions both (the end-to-end test's threshold).
AUTO = 0.3


def sandbox_records() -> tuple[list[Issue], list[Feedback]]:
    world = generate(seed=7, now=NOW, scale=1)
    issues = [
        Issue(
            source="jira",
            id=i.id,
            url=f"https://jira.example/browse/{i.key}",
            updated_at=i.updated,
            key=i.key,
            project=i.key.split("-")[0],
            summary=i.summary,
            description=i.description,
            status=i.status,
            status_category="done" if i.status == "Done" else "new",
            created_at=i.created,
        )
        for i in world.issues
    ]
    feedback = [
        Feedback(
            source=f.tool,
            id=str(f.id),
            url=f"https://{f.tool}.example/{f.id}",
            updated_at=f.updated,
            subject=f.subject,
            body=f.description,
            created_at=f.created,
        )
        for f in world.feedback
    ]
    return issues, feedback


def links_of(issues: list[Issue], feedback: list[Feedback], store: Store | None) -> list[Link]:
    return text_linker(issues, AUTO, DEFAULT_SUGGEST_THRESHOLD, store)(feedback)


def analysed_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the issues `analyse` is given, from now on, in order."""
    keys: list[str] = []

    def spy(issues: Sequence[Issue]) -> list[IssueAnalysis]:
        keys.extend(issue.key for issue in issues)
        return analyse(issues)

    monkeypatch.setattr(linking.text_analysis, "analyse", spy)
    return keys


def test_links_from_kept_analyses_are_those_from_the_texts(
    any_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build that fills the store and the one that reads it give the links a build
    without a store gives: same issues, confidences and `matched:` evidence."""
    issues, feedback = sandbox_records()
    expected = links_of(issues, feedback, None)
    assert {link.status for link in expected} == {"auto", "suggested"}
    store = Store(any_store_url, upgrade=True)
    analysed = analysed_keys(monkeypatch)

    assert links_of(issues, feedback, store) == expected
    assert links_of(issues, feedback, store) == expected
    open_keys = [issue.key for issue in issues if issue.status_category != "done"]
    assert analysed == open_keys  # each once: the second build analysed nothing


def test_scores_from_kept_analyses_are_bit_for_bit_those_from_the_texts(
    store: Store,
) -> None:
    """Confidences are rounded in a link; the scores under them must not move either."""
    issues, feedback = sandbox_records()
    candidates = [issue for issue in issues if issue.status_category != "done"]
    texts = [item.text for item in feedback]
    created = [item.created_at for item in feedback]
    keys, expected = TextMatcher(candidates).scores(texts, created)
    for _ in ("fills the store", "reads it"):
        matcher = TextMatcher()
        matcher.upsert_analysed(candidates, analyses_of(candidates, store))
        found_keys, found = matcher.scores(texts, created)
        assert found_keys == keys
        assert found.dtype == expected.dtype and found.tobytes() == expected.tobytes()


def test_an_edited_issue_is_analysed_again_and_a_closed_or_deleted_one_forgotten(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept analysis of an old text would match feedback against words the issue no
    longer has; one of an issue no longer a candidate would stay in the store for ever."""
    issues, feedback = sandbox_records()
    links_of(issues, feedback, store)
    candidates = [issue for issue in issues if issue.status_category != "done"]
    edited, closed, deleted = candidates[:3]
    changed = {
        edited.key: edited.model_copy(update={"description": "Now also as an Excel export."}),
        closed.key: closed.model_copy(update={"status": "Done", "status_category": "done"}),
    }
    issues = [changed.get(i.key, i) for i in issues if i.key != deleted.key]
    analysed = analysed_keys(monkeypatch)

    assert links_of(issues, feedback, store) == links_of(issues, feedback, None)
    assert analysed == [edited.key]
    open_now = {i.key: text_hash(i) for i in issues if i.status_category != "done"}
    gone = {closed.key: text_hash(closed), deleted.key: text_hash(deleted)}
    kept = store.derived.text_analyses({**open_now, **gone})
    assert set(kept) == set(open_now)


def test_analyses_round_trip_through_the_store(any_store_url: str) -> None:
    """What is read back is the bytes saved, as bytes (PostgreSQL's driver must not hand
    back a memoryview), and only for the text it was saved with."""
    store = Store(any_store_url, upgrade=True)
    issues, _ = sandbox_records()
    made = dict(zip([i.key for i in issues], analyse(issues), strict=True))
    hashes = {issue.key: text_hash(issue) for issue in issues}
    store.derived.save_text_analyses({key: (hashes[key], *a) for key, a in made.items()}, hashes)

    moved = issues[0].key
    kept = store.derived.text_analyses({**hashes, moved: text_hash(issues[1])})
    assert set(kept) == set(hashes) - {moved}
    for key, analysis in kept.items():
        assert [type(field) for field in analysis] == [bytes, bytes, bytes, str]
        assert IssueAnalysis(*analysis) == made[key]

    store.derived.save_text_analyses({}, candidates=[moved])
    assert set(store.derived.text_analyses(hashes)) == {moved}
