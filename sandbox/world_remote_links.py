"""Remote links that the support tools' and CRMs' Jira apps put on issues: an agent links a
ticket that names no issue, a rep links a deal whose Jira field is empty.

Drawn last, from their own `random.Random`, so that every other record, link and truth entry
of a seed and scale is what it was before remote links existed."""

import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta

from sandbox.world_model import CRMS, SUPPORT_TOOLS, Deal, Feedback, Issue, RemoteLink, TruthLink

FEEDBACK_SHARE = 0.05  # of the feedback no other way links to an issue, per support tool
DEAL_SHARE = 0.04  # of the deals with an empty Jira field, per CRM
FIRST_ID = 5001  # below the ids Jira's store hands out to API writes (from 10101)
# The app links a record some time after it was written, and only to an issue that the
# world shows touched since: a planted link never postdates its issue's `updated`.
MARGIN = timedelta(hours=1)
LINKED_WITHIN = timedelta(days=30)


class _IssuePicker:
    """Issues by the generator's popularity, among those updated after a given time."""

    def __init__(self, issues: Sequence[Issue], popularity: Sequence[float]) -> None:
        weights = [b - a for a, b in zip([0.0, *popularity], popularity, strict=False)]
        order = sorted(range(len(issues)), key=lambda i: issues[i].updated)
        self.issues = [issues[i] for i in order]
        self.updated = [issue.updated for issue in self.issues]
        self.cumulative: list[float] = []
        total = 0.0
        for i in order:
            total += weights[i]
            self.cumulative.append(total)

    def first_after(self, when: datetime) -> int:
        return bisect_left(self.updated, when)

    def pick(self, rng: random.Random, first: int) -> Issue:
        low = self.cumulative[first - 1] if first else 0.0
        target = low + rng.random() * (self.cumulative[-1] - low)
        return self.issues[min(bisect_right(self.cumulative, target, first), len(self.issues) - 1)]


def remote_links(
    seed: int,
    issues: Sequence[Issue],
    popularity: Sequence[float],
    feedback: Sequence[Feedback],
    deals: Sequence[Deal],
    truth: Sequence[TruthLink],
) -> tuple[tuple[RemoteLink, ...], tuple[TruthLink, ...]]:
    rng = random.Random(f"{seed}:remote-links")
    picker = _IssuePicker(issues, popularity)
    linked = {(t.source, t.record_id) for t in truth}
    records: list[tuple[str, str, str, datetime]] = []  # tool, kind, record id, created
    for tool in SUPPORT_TOOLS:
        unlinked = [f for f in feedback if f.tool == tool and (tool, str(f.id)) not in linked]
        records += _sample(rng, picker, unlinked, FEEDBACK_SHARE, "feedback")
    for crm in CRMS:
        empty = [d for d in deals if d.crm == crm and not d.issue_keys]
        records += _sample(rng, picker, empty, DEAL_SHARE, "deal")
    drafts = []
    for tool, kind, record_id, born in records:
        issue = picker.pick(rng, picker.first_after(born + MARGIN))
        start = max(born + timedelta(minutes=1), issue.created)
        end = min(start + LINKED_WITHIN, issue.updated)
        at = start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds())))
        drafts.append((at, tool, kind, record_id, issue))
    drafts.sort(key=lambda d: (d[0], d[1], d[3]))
    links = tuple(
        RemoteLink(FIRST_ID + n, issue.key, issue.id, tool, kind, record_id, at)
        for n, (at, tool, kind, record_id, issue) in enumerate(drafts)
    )
    return links, tuple(
        TruthLink(x.tool, x.kind, x.record_id, x.issue_key, "jira_remote_link") for x in links
    )


def _sample(
    rng: random.Random,
    picker: _IssuePicker,
    records: Sequence[Feedback | Deal],
    share: float,
    kind: str,
) -> list[tuple[str, str, str, datetime]]:
    """`share` of the records (at least one, when any can be linked), among those that some
    issue was updated after."""
    can = [r for r in records if picker.first_after(r.created + MARGIN) < len(picker.issues)]
    chosen = rng.sample(can, min(len(can), max(1, round(share * len(records))))) if can else []
    return [
        (r.tool if isinstance(r, Feedback) else r.crm, kind, str(r.id), r.created) for r in chosen
    ]
