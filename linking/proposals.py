"""Links to an issue proposed from a theme of unlinked requests (`pmsync themes propose
--create`). Apart from linking.themes, so that linking, which applies them, does not load
the text analysers (and scikit-learn) that building themes needs."""

from __future__ import annotations

from models import Link


def proposed_link(source: str, record_id: str, issue_key: str) -> Link:
    """A request of a theme, suggested for the issue proposed from it (`pmsync themes
    propose --create`): it counts nowhere until a person confirms it."""
    return Link(
        source=source,
        record_id=record_id,
        kind="feedback",
        issue_key=issue_key,
        method="text",
        confidence=0.5,  # a theme's member, not a scored match: an even chance
        evidence=f"in the theme of unlinked requests {issue_key} was proposed from",
        status="suggested",
    )
