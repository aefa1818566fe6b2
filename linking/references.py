"""Explicit references: issue keys cited in text or fields, and the links the tools'
tracker integrations keep."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from models import Deal, Feedback, Link, ToolLink
from models.records import LinkMethod

# An issue key is PROJECT-NUMBER; "UTF-8" or "COVID-19" match the shape, so a candidate only
# counts when it names an issue that exists.
KEY_PATTERN = re.compile(r"(?<![A-Za-z0-9_-])([A-Z][A-Z0-9_]+-[1-9][0-9]*)(?![A-Za-z0-9_-])")


@dataclass(frozen=True)
class Words:
    """How link evidence names the tools, as people read it (the registry's, passed in by
    the services: linking names no tool): the tracker's title, and each CRM's field of
    issue keys on its deals."""

    tracker: str
    deal_fields: Mapping[str, str] = field(default_factory=dict)  # CRM -> the field's name

    def deal_field(self, source: str) -> str:
        return self.deal_fields.get(source, "issue_keys")


def cited_keys(text: str, known_keys: set[str]) -> list[str]:
    """Existing issue keys cited in `text`, in order of first mention."""
    found: dict[str, None] = {}
    for match in KEY_PATTERN.finditer(text):
        if match.group(1) in known_keys:
            found.setdefault(match.group(1), None)
    return list(found)


def _evidence(text: str, key: str, width: int = 60) -> str:
    at = text.find(key)
    start, end = max(0, at - width), min(len(text), at + len(key) + width)
    snippet = " ".join(text[start:end].split())
    return ("…" if start else "") + snippet + ("…" if end < len(text) else "")


def _tool_links(
    record: Feedback | Deal,
    kind: Literal["feedback", "deal"],
    tool_links: Iterable[ToolLink],
    known_keys: set[str],
    words: Words,
) -> dict[str, Link]:
    """Links the tools' tracker integrations keep: the support tool's own (kept with the
    ticket) or a remote link on the tracker's issue pointing at the record."""
    links: dict[str, Link] = {}
    for tool_link in tool_links:
        if tool_link.issue_key in known_keys:
            # Kept by the tracker (a remote link), or by the record's own tool.
            kept_by_tracker = tool_link.source != record.source
            tracker = words.tracker
            where = (
                f"{tracker} remote link" if kept_by_tracker else f"{record.source} {tracker} link"
            )
            _keep(links, record, kind, tool_link.issue_key, "tool_link", f"{where} {tool_link.id}")
    return links


def _keep(
    links: dict[str, Link],
    record: Feedback | Deal,
    kind: Literal["feedback", "deal"],
    key: str,
    method: LinkMethod,
    evidence: str,
) -> None:
    """Add a link to `key` unless an earlier, stronger reason already links it."""
    links.setdefault(
        key,
        Link(
            source=record.source,
            record_id=record.id,
            kind=kind,
            issue_key=key,
            method=method,
            evidence=evidence,
        ),
    )


def feedback_links(
    item: Feedback, tool_links: Iterable[ToolLink], known_keys: set[str], *, words: Words
) -> list[Link]:
    """Links of one feedback item: its tool links first, then keys it cites."""
    links = _tool_links(item, "feedback", tool_links, known_keys, words)
    for key in cited_keys(item.text, known_keys):
        _keep(links, item, "feedback", key, "cited_key", _evidence(item.text, key))
    return list(links.values())


def deal_links(
    deal: Deal, known_keys: set[str], tool_links: Iterable[ToolLink] = (), *, words: Words
) -> list[Link]:
    """Links of one deal: the issues its fields name, its tool links (remote links on the
    issue pointing at it), then keys cited in its name."""
    links: dict[str, Link] = {}
    field_evidence = f"{words.deal_field(deal.source)}: {', '.join(deal.issue_keys)}"
    for typed in deal.issue_keys:
        key = typed.upper()  # keys are upper case; people type "ana-12" too
        if key in known_keys:
            _keep(links, deal, "deal", key, "deal_field", field_evidence)
    for key, link in _tool_links(deal, "deal", tool_links, known_keys, words).items():
        links.setdefault(key, link)
    for key in cited_keys(deal.name, known_keys):
        _keep(links, deal, "deal", key, "cited_key", _evidence(deal.name, key))
    return list(links.values())


def unknown_issue_keys(deals: Iterable[Deal], known_keys: set[str]) -> dict[str, list[str]]:
    """What people typed into deals' issue-key fields that names no existing issue (a
    typo, a deleted issue, another project), with the deals that say it: `status` and
    `explain` show them, since such a value links nothing."""
    unknown: dict[str, list[str]] = {}
    for deal in deals:
        for typed in deal.issue_keys:
            if typed.upper() not in known_keys:
                unknown.setdefault(typed, []).append(f"{deal.source}:{deal.id}")
    return unknown


def tag_links(
    item: Feedback, targets: dict[str, set[str]], issues_by_label: dict[str, set[str]]
) -> list[Link]:
    """Links from the configured tag mapping: a tag that names a tracker label or component.

    One open issue with that label is a link; several are suggestions for a person, since
    a tag says which area, not which issue."""
    keys: dict[str, str] = {}
    for tag in item.tags:
        for target in targets.get(tag.lower(), ()):
            for key in issues_by_label.get(target, ()):
                keys.setdefault(key, f"tag {tag!r} -> {target!r}")
    if not keys:
        return []
    suggested = len(keys) > 1
    return [
        Link(
            source=item.source,
            record_id=item.id,
            kind="feedback",
            issue_key=key,
            method="tag",
            confidence=0.9 if not suggested else 0.5,
            evidence=evidence,
            status="suggested" if suggested else "auto",
        )
        for key, evidence in sorted(keys.items())
    ]
