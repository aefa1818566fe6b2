"""Free-text feedback matched to the open issue it asks for, with a confidence that decides
whether the link counts on its own, waits for a person, or is not made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from linking.text import TextMatcher
from linking.text_analysis import IssueText, title_of, word_terms
from linking.text_calibration import NO_TIME_PRIOR, Calibration, TextMatch, TimePrior, decide

ISSUES = [
    IssueText(
        "ANA-1",
        "Export dashboards to PDF",
        "Let users download any dashboard as a PDF file, with the charts and filters as shown.",
    ),
    IssueText(
        "ANA-2",
        "Single sign-on with Okta and Azure AD",
        "Support SAML 2.0 single sign-on so that administrators can manage access centrally.",
    ),
    IssueText(
        "ANA-3",
        "Scheduled email reports",
        "Send a report by email every day or week to a list of recipients.",
    ),
    IssueText(
        "ANA-4",
        "Dark mode for the web app",
        "A dark colour theme for the whole application, following the system setting.",
    ),
    IssueText(
        "ANA-5",
        "Slack alerts when a metric crosses a threshold",
        "Post a message to a Slack channel when a metric goes above or below a set value.",
    ),
    IssueText(
        "ANA-6",
        "Faster loading of large tables",
        "Tables with more than 100k rows take a minute to load; paginate and cache them.",
    ),
    IssueText(
        "ANA-7",
        "Audit log of user actions",
        "Record who changed which dashboard or permission and when, exportable as CSV.",
    ),
    IssueText(
        "ANA-8",
        "App crashes on startup after upgrading to macOS 15.1",
        "Since the macOS 15.1 update the desktop app quits right after launch.",
    ),
]

PARAPHRASES = [
    ("Can we get our dashboards as PDFs?\nThe board wants a printable copy.", "ANA-1"),
    ("SSO login via Okta\nOur IT team requires SAML for every tool we buy.", "ANA-2"),
    ("Weekly report by mail\nI'd love the numbers emailed to my team each Monday.", "ANA-3"),
    (
        "Night theme please\nThe white background is hard on the eyes; a dark theme would help.",
        "ANA-4",
    ),
    (
        "Notify us in Slack\nWhen revenue drops below target we want an alert in our channel.",
        "ANA-5",
    ),
    ("Desktop app won't open\nIt closes immediately on launch since I updated to 15.1.1.", "ANA-8"),
]


@pytest.fixture
def matcher() -> TextMatcher:
    return TextMatcher(ISSUES)


@pytest.mark.parametrize(("text", "key"), PARAPHRASES)
def test_a_paraphrase_ranks_its_issue_first(matcher, text, key):
    """Customers never use the issue's words exactly: the right issue still comes first."""
    [matches] = matcher.match([text])
    assert matches[0].key == key
    assert matches[0].score > matches[1].score


def test_matches_come_best_first_with_the_shared_words_as_evidence(matcher):
    """The top k are ordered by score, and each says which words it shares with the text
    (what `pmsync explain` shows a person); words shared with nothing are not evidence."""
    [matches] = matcher.match(["PDF export of a dashboard, please"], k=3)
    assert len(matches) == 3
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert {"pdf", "dashboard"} <= set(matches[0].matched_terms)
    assert "please" not in matches[0].matched_terms


def test_a_version_number_matches_as_a_whole_and_by_its_prefix():
    """Reports cite versions: "15.1.1" names release 15.1, and "2.53" is not "53"."""
    assert {"15.1.1", "15.1"} <= set(word_terms("broken since 15.1.1"))
    assert "53" in word_terms("2.53") and "2.53" in word_terms("2.53")


def test_the_title_of_a_feedback_text_is_its_first_non_empty_line():
    assert title_of("\n  \nSubject here\nbody") == "Subject here"
    assert title_of("") == ""


# -- incremental index ---------------------------------------------------------------------


def test_adding_an_issue_makes_it_matchable_at_once():
    """A new issue is a candidate for the next text matched: no rebuild, no refit."""
    matcher = TextMatcher(ISSUES, refresh_ratio=0.5)
    text = "Two-factor authentication\nWe need 2FA with an authenticator app for all users."
    assert matcher.match([text])[0][0].key != "ANA-9"
    before = matcher.refreshes
    matcher.upsert([IssueText("ANA-9", "Two-factor authentication", "2FA via authenticator apps")])
    assert matcher.match([text])[0][0].key == "ANA-9"
    assert "ANA-9" in matcher and len(matcher) == len(ISSUES) + 1
    # One new issue among nine is below the refresh ratio: the IDF was not refitted.
    assert matcher.refreshes == before


def test_a_removed_issue_is_never_matched_again(matcher):
    """An issue that shipped or closed leaves the candidates; the others still match."""
    matcher.remove(["ANA-1"])
    [matches] = matcher.match(["Export dashboards to PDF"], k=len(ISSUES))
    assert "ANA-1" not in {m.key for m in matches}
    assert len(matches) == len(ISSUES) - 1
    assert matcher.match([PARAPHRASES[1][0]])[0][0].key == "ANA-2"


def test_removing_an_unknown_key_changes_nothing(matcher):
    matcher.remove(["NOPE-1"])
    assert len(matcher) == len(ISSUES)


def test_updating_an_issue_replaces_its_text(matcher):
    """An edited summary is what matches from then on, under the same key, once."""
    matcher.upsert([IssueText("ANA-4", "Keyboard shortcuts", "Shortcuts for power users")])
    [matches] = matcher.match(["Keyboard shortcuts for power users"], k=len(ISSUES) + 1)
    assert matches[0].key == "ANA-4"
    assert [m.key for m in matches].count("ANA-4") == 1
    assert matcher.match(["Dark mode theme"])[0][0].key != "ANA-4"


def test_many_changes_refresh_the_term_weights_and_keep_results_right():
    """Growing an index one issue at a time ends with the same ranking as building it at
    once: document frequencies follow every change, and the weights are refreshed."""
    grown = TextMatcher()
    for issue in ISSUES:
        grown.upsert([issue])
        grown.match(["warm up"])  # match between additions, as the pipeline does
    built = TextMatcher(ISSUES)
    texts = [text for text, _ in PARAPHRASES]
    assert grown.refreshes > 1
    for ours, theirs in zip(grown.match(texts), built.match(texts), strict=True):
        assert [m.key for m in ours] == [m.key for m in theirs]
        assert [m.score for m in ours] == pytest.approx([m.score for m in theirs], abs=1e-4)


def test_churn_keeps_only_live_issues():
    """Adding and removing many issues (blocks merged, tombstones dropped) leaves exactly
    the live ones matchable."""
    matcher = TextMatcher(ISSUES)
    for n in range(40):
        matcher.upsert([IssueText(f"TMP-{n}", f"Temporary issue number {n}", "filler text")])
        if n % 2:
            matcher.remove([f"TMP-{n}"])
        matcher.match(["temporary"])
    [matches] = matcher.match(["Temporary issue number"], k=100)
    keys = {m.key for m in matches}
    assert keys == {i.key for i in ISSUES} | {f"TMP-{n}" for n in range(0, 40, 2)}


def test_an_empty_index_matches_nothing():
    assert TextMatcher().match(["anything", ""]) == [[], []]


def test_large_batches_match_like_small_ones(matcher):
    """Batches are split across threads; the result is the same as one at a time."""
    texts = [text for text, _ in PARAPHRASES] * 200
    together = matcher.match(texts, k=2)
    assert [m[0].key for m in together[: len(PARAPHRASES)]] == [k for _, k in PARAPHRASES]
    assert together[-1] == matcher.match([texts[-1]], k=2)[0]


# -- confidence and thresholds ---------------------------------------------------------------


def test_confidence_never_falls_as_the_score_rises(matcher):
    """Within one text's candidates, a higher score never has a lower confidence; and the
    calibration rises with score and with margin over the runner-up."""
    for text, _ in PARAPHRASES:
        [matches] = matcher.match([text], k=len(ISSUES))
        confidences = [m.confidence for m in matches]
        assert confidences == sorted(confidences, reverse=True)
    calibration = Calibration()
    scores = [i / 20 for i in range(21)]
    for margin in (0.0, 0.1, 0.3):
        values = [calibration.probability(s, margin) for s in scores]
        assert values == sorted(values)
    assert calibration.probability(0.4, 0.3) > calibration.probability(0.4, 0.0)
    with pytest.raises(ValueError):
        Calibration(score_coef=-1.0)


def candidate(key: str, confidence: float) -> TextMatch:
    return TextMatch(key=key, score=confidence, confidence=confidence, matched_terms=())


@pytest.mark.parametrize(
    ("confidences", "auto", "suggested"),
    [
        ([0.95, 0.2, 0.1], "A", []),  # sure enough: links on its own, nothing to ask
        ([0.9, 0.5, 0.1], "A", []),  # exactly at the automatic threshold counts
        ([0.6, 0.3, 0.05, 0.3], None, ["A", "B"]),  # suggestions: top 3 only, above 0.1
        ([0.1, 0.1, 0.1, 0.1], None, ["A", "B", "C"]),  # exactly at the suggestion threshold
        ([0.09, 0.05], None, []),  # below both: no link at all
        ([], None, []),
    ],
)
def test_thresholds_split_automatic_suggested_and_nothing(confidences, auto, suggested):
    matches = [candidate(k, c) for k, c in zip("ABCD", confidences, strict=False)]
    decision = decide(matches, auto_threshold=0.9, suggest_threshold=0.1)
    assert (decision.auto.key if decision.auto else None) == auto
    assert [m.key for m in decision.suggestions] == suggested


def test_an_automatic_threshold_of_one_makes_no_automatic_link():
    """1 is "off" (what --write-calibration ships when no threshold reaches the target
    precision): even a confidence rounded to 1.0 waits for a person."""
    decision = decide([candidate("A", 1.0)], auto_threshold=1.0, suggest_threshold=0.1)
    assert decision.auto is None
    assert [m.key for m in decision.suggestions] == ["A"]


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError):
        decide([], auto_threshold=0.2, suggest_threshold=0.5)
    with pytest.raises(ValueError):
        TextMatcher(auto_threshold=0.2, suggest_threshold=0.5)


def test_a_near_copy_of_an_issue_links_automatically():
    """Feedback that restates an issue in its own words is linked with no one asking, at
    the threshold the end-to-end sandbox test uses (the shipped default is off: no threshold
    reached 95% precision on the SeaMonkey data)."""
    matcher = TextMatcher(ISSUES, auto_threshold=0.3)
    [decision] = matcher.decide(
        [
            "App crashes on startup after upgrading to macOS 15.1\n"
            "Since the 15.1 update the desktop app quits right after launch."
        ]
    )
    assert decision.auto is not None and decision.auto.key == "ANA-8"


@pytest.mark.parametrize(
    "text",
    [
        "What are your support hours over the holidays?\nThanks, Maria",
        "Invoice for March is wrong\nWe were charged twice, please refund one payment.",
        "Hello\nJust saying thanks for the quick help yesterday!",
        "",
    ],
)
def test_unrelated_text_gets_no_automatic_link(matcher, text):
    """Billing questions and thank-you notes ask for no feature: never an automatic link."""
    [decision] = matcher.decide([text])
    assert decision.auto is None


# -- time ----------------------------------------------------------------------------------

WRITTEN = datetime(2024, 3, 1, tzinfo=UTC)
PDF = ("Export dashboards to PDF", "Download a dashboard as a PDF file.")


def twins(later_by: timedelta | None) -> TextMatcher:
    """Two issues with the same text: LATER (listed first, so it wins a tie) created
    `later_by` after the feedback (None: unknown), EARLIER a month before it."""
    return TextMatcher(
        [
            IssueText("LATER", *PDF, None if later_by is None else WRITTEN + later_by),
            IssueText("EARLIER", *PDF, WRITTEN - timedelta(days=30)),
        ],
        time_prior=TimePrior(grace_days=7, later_weight=0.5),
    )


def test_an_issue_created_well_after_the_feedback_keeps_half_its_score():
    """Feedback asks for an issue that existed, or was filed because of it soon after: one
    created two months later is weighed down (not dropped), an equal earlier one wins."""
    [matches] = twins(timedelta(days=60)).match(["PDF export of a dashboard"], created=[WRITTEN])
    assert [m.key for m in matches] == ["EARLIER", "LATER"]
    assert matches[1].score == pytest.approx(matches[0].score / 2, abs=1e-5)


@pytest.mark.parametrize(
    ("later_by", "written"),
    [
        (timedelta(days=3), WRITTEN),  # filed within the grace period: maybe because of it
        (None, WRITTEN),  # the issue's date is unknown
        (timedelta(days=60), None),  # the feedback's date is unknown
    ],
)
def test_issues_filed_soon_after_or_with_unknown_dates_keep_their_score(later_by, written):
    [matches] = twins(later_by).match(["PDF export of a dashboard"], created=[written])
    assert [m.key for m in matches] == ["LATER", "EARLIER"]
    assert matches[0].score == matches[1].score


def test_without_dates_or_with_the_prior_off_nothing_changes():
    matcher = twins(timedelta(days=60))
    [plain] = matcher.match(["PDF export of a dashboard"])
    assert [m.key for m in plain] == ["LATER", "EARLIER"]
    off = TextMatcher(
        [IssueText("LATER", *PDF, WRITTEN + timedelta(days=60))], time_prior=NO_TIME_PRIOR
    )
    assert off.match(["PDF export"], created=[WRITTEN]) == off.match(["PDF export"])


def test_the_shipped_time_prior_is_used_by_default_and_dates_must_line_up():
    assert TextMatcher().time_prior == TimePrior()
    with pytest.raises(ValueError, match="one creation date"):
        TextMatcher(ISSUES).match(["a", "b"], created=[WRITTEN])
    with pytest.raises(ValueError):
        TimePrior(later_weight=1.5)
    lag = np.array([[np.nan, 8.0, 7.0, -100.0]])
    weighed = TimePrior(7, 0.5).apply(np.ones((1, 4), dtype=np.float32), lag)
    assert weighed.tolist() == [[1.0, 0.5, 1.0, 1.0]] and weighed.dtype == np.float32


def test_the_pipeline_passes_feedback_and_issue_dates():
    """text_linker hands `Feedback.created_at` to the matcher, which reads
    `Issue.created_at`: a later twin loses to an earlier one."""
    from records import feedback

    from linking.text_links import text_linker
    from models import Issue

    def issue(key: str, created: datetime) -> Issue:
        return Issue(
            source="jira",
            id=key,
            key=key,
            project="ANA",
            url=f"https://j.example/browse/{key}",
            summary=PDF[0],
            description=PDF[1],
            status="To Do",
            status_category="new",
            created_at=created,
            updated_at=WRITTEN,
        )

    links = text_linker(
        [issue("LATER-1", WRITTEN + timedelta(days=60)), issue("EARLIER-1", WRITTEN)],
        auto_threshold=1.0,
        suggest_threshold=0.0,
    )(
        [
            feedback(
                "1",
                subject="PDF export of a dashboard",
                created_at=WRITTEN,
                updated_at=WRITTEN,
            )
        ]
    )
    assert [link.issue_key for link in links][:2] == ["EARLIER-1", "LATER-1"]


# -- memory-saving layouts give the same numbers ---------------------------------------------


def _many_issues() -> list[IssueText]:
    words = " ".join(f"{i.summary} {i.description}" for i in ISSUES).split()
    return ISSUES + [
        IssueText(
            f"GEN-{n}",
            " ".join(words[n % 17 : n % 17 + 4]),
            " ".join(words[(7 * n) % 90 : (7 * n) % 90 + 12]),
            WRITTEN + timedelta(days=n % 9 - 4, seconds=n),
        )
        for n in range(60)
    ]


def test_scores_do_not_depend_on_how_texts_are_chunked(monkeypatch):
    """Scores are made a chunk of texts, a few rows of a product and a few rows of the time
    lag at a time: any sizes of those give the same float32 scores, bit for bit."""
    import linking.text as text
    import linking.text_calibration as calibration

    texts = [t for t, _ in PARAPHRASES] * 4 + ["", "PDF"]
    created = [WRITTEN + timedelta(days=n % 11 - 5) for n in range(len(texts))]
    created[3] = None
    matcher = TextMatcher(_many_issues(), time_prior=TimePrior(1, 0.5))
    matcher.upsert([IssueText("NEW-1", "Export dashboards to PDF", "as PDF", WRITTEN)])
    keys, scores = matcher.scores(texts, created)
    matched = matcher.match(texts, k=4, created=created)
    monkeypatch.setattr(text, "MATCH_CELLS", 1)
    monkeypatch.setattr(text, "PRODUCT_CELLS", 1)
    monkeypatch.setattr(calibration, "LAG_CELLS", 1)
    assert matcher.match(texts, k=4, created=created) == matched
    rows = [matcher.scores([t], [c]) for t, c in zip(texts, created, strict=True)]
    assert all(row_keys == keys for row_keys, _ in rows)
    assert np.vstack([row for _, row in rows]).tobytes() == scores.tobytes()


def test_the_time_prior_weighs_in_place_as_it_does_a_copy(monkeypatch):
    import linking.text_calibration as calibration

    monkeypatch.setattr(calibration, "LAG_CELLS", 5)
    rng = np.random.default_rng(3)
    day = 86_400.0
    issues = rng.uniform(0, 30 * day, 12)
    written = rng.uniform(0, 30 * day, 9)
    issues[2] = written[4] + 2 * day  # exactly at the grace
    issues[3] = np.nextafter(written[4] + 2 * day, np.inf)  # just past it
    issues[5], written[6] = np.nan, np.nan
    scores = rng.random((9, 12), dtype=np.float32)
    prior = TimePrior(2, 0.3)
    expected = prior.apply(scores, (issues[None, :] - written[:, None]) / day)
    prior.apply_in_place(scores, issues, written)
    assert scores.tobytes() == expected.tobytes()


def test_a_bucket_set_places_buckets_as_a_sorted_search_would():
    from linking.text_spaces import BucketSet

    rng = np.random.default_rng(5)
    for n_features, members in [(64, []), (100, [0, 99]), (1 << 12, rng.choice(1 << 12, 700))]:
        members = np.unique(np.asarray(members, dtype=np.int64))
        found = BucketSet(members, n_features)
        buckets = np.arange(n_features, dtype=np.int32)
        expected = np.where(
            np.isin(buckets, members), np.searchsorted(members, buckets), len(members)
        )
        assert found.find(buckets).tolist() == expected.tolist()
        assert [found.place(b) for b in range(n_features)] == expected.tolist()


def test_document_frequencies_follow_every_change():
    """Frequencies are kept for the buckets in use only: after adds, edits and removals the
    weights are those of counting the live issues' buckets over every bucket."""
    matcher = TextMatcher(_many_issues()[:40])
    matcher.match(["warm up"])
    matcher.remove(["ANA-3", "GEN-5", "GEN-6"])
    matcher.upsert(_many_issues()[40:] + [IssueText("ANA-1", "Print dashboards", "to paper")])
    matcher.refresh()
    live = [(block, row) for block, row in matcher._where.values()]
    for name, space in matcher._spaces.items():
        df = np.zeros(space.n_features, dtype=np.int64)
        for block, row in live:
            np.add.at(df, block.counts[name][0][row].indices, 1)
        n = len(live)
        expected = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        expected[df > space.max_df * n] = 0
        idf = space.idf(np.arange(space.n_features, dtype=np.int32))
        assert idf.tobytes() == expected.tobytes()


def test_a_match_after_a_removal_does_not_see_the_removed_issue(matcher):
    """What a match lays out is kept for the next one, until the index changes."""
    assert matcher.match(["Export dashboards to PDF"])[0][0].key == "ANA-1"
    matcher.remove(["ANA-1"])
    assert "ANA-1" not in {m.key for m in matcher.match(["Export dashboards to PDF"], k=9)[0]}


def test_a_frozen_index_matches_as_before_and_refuses_changes(matcher):
    """The pipeline builds its index once and freezes it, which drops half its memory:
    the matches stay exactly the same, and a change is an error, not a silent no-op."""
    texts = [text for text, _ in PARAPHRASES]
    before = matcher.match(texts, created=[WRITTEN] * len(texts))
    matcher.freeze()
    assert matcher.match(texts, created=[WRITTEN] * len(texts)) == before
    with pytest.raises(RuntimeError, match="frozen"):
        matcher.upsert([IssueText("ANA-9", "Two-factor authentication")])
    with pytest.raises(RuntimeError, match="frozen"):
        matcher.remove(["ANA-1"])
