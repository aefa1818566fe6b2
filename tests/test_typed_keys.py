"""Issue keys as people type them into a CRM's deal field: any separator, any case; and
a value that names no issue is reported, not silently dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import records

from connectors.base import split_keys
from linking.references import deal_links, unknown_issue_keys
from models import Deal
from services.links import evidence_words

KNOWN = {"ANA-1", "ANA-2", "ANA-3"}


def deal(keys: str, deal_id: str = "d1") -> Deal:
    return records.deal(
        deal_id,
        url=f"https://app.hubspot.com/contacts/1/deal/{deal_id}",
        name="Renewal",
        stage="qualified",
        issue_keys=split_keys(keys),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "typed",
    ["ANA-1,ANA-2;ANA-3", "ANA-1 | ANA-2 | ANA-3", "ANA-1/ANA-2/ANA-3", "ana-1, Ana-2\nana-3"],
    ids=["comma-semicolon", "bar", "slash", "lower-case"],
)
def test_every_separator_and_case_links_every_key(typed: str) -> None:
    """Pins down `|`, `/` and lower-case keys that linked nothing and warned nobody."""
    linked = sorted(
        link.issue_key for link in deal_links(deal(typed), KNOWN, words=evidence_words())
    )
    assert linked == ["ANA-1", "ANA-2", "ANA-3"]


def test_values_naming_no_issue_are_reported_with_their_deals() -> None:
    deals = [deal("ANA-1 | ANA-99", "d1"), deal("ana-2/XYZ", "d2"), deal("ana-99", "d3")]
    assert unknown_issue_keys(deals, KNOWN) == {
        "ANA-99": ["hubspot:d1"],
        "XYZ": ["hubspot:d2"],
        "ana-99": ["hubspot:d3"],
    }
