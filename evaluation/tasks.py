"""The linking task labelled data describes: candidate issues, feedback and right answers.

The data is a bug tracker's reports and the pairs its maintainers marked as the same problem
(the format of `shared/data/linking/`). Every report resolved as a duplicate that has a
partner in the pairs file is a piece of feedback; every other report is a candidate issue;
the right answers are the feedback's partners among the candidates, partners of partners
included (a duplicate of a duplicate asks for the same issue). Feedback whose partners
are all outside the candidates ("unanswerable") is kept too: ranking metrics skip it, but an
automatic link made for it is a wrong link, as it would be in production.

Candidates are the issues open when the feedback was written, as in production, where text
matching only sees issues not yet done (linking.text_links). A report with a resolution
whose `Resolved` time is at or before the feedback's `Created` was closed by then, so it is
no candidate for that feedback: its score is 0. (The column carries a time for open reports
too, so it reads as the last change: a closed report's last change is no earlier than its
closing.) A report open then, or with a time missing, stays a candidate. On SeaMonkey this
removes no right answer.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from linking.text_analysis import IssueText
from linking.text_calibration import DAY, epoch_seconds


@dataclass(frozen=True)
class FeedbackCase:
    id: str
    text: str
    partners: frozenset[str]  # right answers among the candidates; empty: unanswerable
    created: datetime | None = None


@dataclass(frozen=True)
class LinkingTask:
    candidates: list[IssueText]
    feedback: list[FeedbackCase]
    # When each candidate was closed (absent or None: open, or not known).
    closed_at: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def answerable(self) -> list[FeedbackCase]:
        return [f for f in self.feedback if f.partners]


# Jira's CSV export repeats a column once per value (Labels, Labels, ...; one "Outward issue
# link (Duplicate)" per linked issue) and names linked issues by their keys.
DUPLICATE_LINKS = ("inward issue link (duplicate)", "outward issue link (duplicate)")
# Jira writes dates in the exporting user's format, by default "30/Sep/21 5:20 PM" (Cloud)
# or "30/Sep/21 17:20"; ISO dates are the linking data's. Neither Jira format says its time
# zone (the user's): read as UTC, which moves them at most a day.
JIRA_DATE_FORMATS = ("%d/%b/%y %I:%M %p", "%d/%b/%y %H:%M", "%d/%b/%Y %H:%M", "%d/%b/%y")


def read_rows(path: Path) -> list[dict[str, str]]:
    """A reports CSV's rows: the first value of each column, and under `_duplicates` every
    issue a Jira export's duplicate-link columns name. Jira writes a byte order mark."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [name.strip() for name in next(reader, [])]
        rows = []
        for values in reader:
            row: dict[str, str] = {}
            linked = []
            for name, value in zip(header, values, strict=False):
                row.setdefault(name, value)
                if name.lower() in DUPLICATE_LINKS and value.strip():
                    linked.append(value.strip())
            row["_duplicates"] = ",".join(linked)
            rows.append(row)
    return rows


def read_pairs(rows: list[dict[str, str]], pairs: Path | None) -> dict[str, set[str]]:
    """Each report's partners, both ways: from a pairs file (Issue id, Duplicate id; a cell
    may hold several ids), or, without one, from the export's duplicate links, by key."""
    listed: list[tuple[str, str]] = []
    if pairs is not None:
        with pairs.open(newline="", encoding="utf-8-sig") as f:
            listed = [(p["Issue id"], p["Duplicate id"]) for p in csv.DictReader(f)]
    else:
        id_of = {r.get("Issue key", "").strip(): r["Issue id"].strip() for r in rows}
        listed = [
            (r["Issue id"], ",".join(id_of.get(k, k) for k in r["_duplicates"].split(",")))
            for r in rows
            if r["_duplicates"]
        ]
    paired: dict[str, set[str]] = {}
    for one, others in listed:
        one = one.strip()
        for other in (o.strip() for o in others.split(",")):
            if one and other and other != one:
                # A pair is a pair whichever way round the file lists it.
                paired.setdefault(one, set()).add(other)
                paired.setdefault(other, set()).add(one)
    return paired


def read_task(reports: Path, pairs: Path | None) -> LinkingTask:
    """The linking task a reports CSV and a pairs CSV describe (see the module docstring);
    `reports` may be a Jira CSV export, whose duplicate links stand for the pairs file."""
    rows = read_rows(reports)
    paired = read_pairs(rows, pairs)
    partners = _same_problem(paired)
    # The README says "Duplicate"; the SeaMonkey export writes "DUPLICATE".
    is_feedback = {
        r["Issue id"].strip()
        for r in rows
        if _resolution(r) == "duplicate" and r["Issue id"].strip() in partners
    }
    candidates = [
        IssueText(r["Issue id"].strip(), r["Summary"], r.get("Description", ""), _created(r))
        for r in rows
        if r["Issue id"].strip() not in is_feedback
    ]
    closed_at = {
        r["Issue id"].strip(): _time(r, "Resolved") if _resolution(r) else None
        for r in rows
        if r["Issue id"].strip() not in is_feedback
    }
    feedback = []
    for r in rows:
        if r["Issue id"].strip() in is_feedback:
            created = _created(r)
            feedback.append(
                FeedbackCase(
                    id=r["Issue id"].strip(),
                    text=f"{r['Summary']}\n{r.get('Description', '')}",
                    partners=frozenset(
                        p
                        for p in partners[r["Issue id"].strip()]
                        if p in closed_at and _open_when(closed_at[p], created)
                    ),
                    created=created,
                )
            )
    return LinkingTask(candidates, feedback, closed_at)


def _resolution(row: dict[str, str]) -> str:
    """The resolution in lower case; "" while unresolved (Jira's screens say "Unresolved")."""
    value = (row.get("Resolution") or "").strip().lower()
    return "" if value == "unresolved" else value


def _created(row: dict[str, str]) -> datetime | None:
    return _time(row, "Created")


def _time(row: dict[str, str], column: str) -> datetime | None:
    value = (row.get(column) or "").strip()
    if not value:
        return None
    try:
        return as_aware(datetime.fromisoformat(value))
    except ValueError:
        pass
    for form in JIRA_DATE_FORMATS:
        try:
            return as_aware(datetime.strptime(value, form))
        except ValueError:
            continue
    raise ValueError(f"{column} {value!r} is neither ISO nor a Jira export date (30/Sep/21 17:20)")


def as_aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _open_when(closed: datetime | None, written: datetime | None) -> bool:
    """Whether an issue closed at `closed` was still open when feedback was `written`."""
    return closed is None or written is None or closed > written


def open_mask(task: LinkingTask, keys: Sequence[str]) -> np.ndarray:
    """Feedback x candidates: True where the candidate was open when the feedback came."""
    closed = epoch_seconds(task.closed_at.get(k) for k in keys)
    written = epoch_seconds(f.created for f in task.feedback)
    with np.errstate(invalid="ignore"):
        return ~(closed[None, :] <= written[:, None])  # NaN compares False: unknown is open


def _same_problem(paired: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every report's partners, direct or through other duplicates: "the same problem" is
    transitive, and a duplicate of a duplicate (A of B, B of C) asks for C as much as B does."""
    partners: dict[str, set[str]] = {}
    for start in paired:
        if start in partners:
            continue
        group, todo = {start}, [start]
        while todo:
            for other in paired[todo.pop()] - group:
                group.add(other)
                todo.append(other)
        for member in group:
            partners[member] = group - {member}
    return partners


def lag_days(task: LinkingTask, keys: Sequence[str]) -> np.ndarray:
    """Days from each feedback item's creation to each candidate's (NaN: a date unknown)."""
    created = {c.key: c.created_at for c in task.candidates}
    issues = epoch_seconds(created[k] for k in keys)
    written = epoch_seconds(f.created for f in task.feedback)
    return (issues[None, :] - written[:, None]) / DAY
