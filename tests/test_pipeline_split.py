"""Pipeline that says what waits on the issue: the summary splits open pipeline into deals
that name the issue and the asking customers' other deals, the comment says both and
names the deals, and no summary line is left with a dangling part."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.jira.adf import to_text
from connectors.jira.comment import pipeline, render_comment, trend
from connectors.settings import Settings
from flows.pipeline import run_cycle
from linking.demand import content_hash
from models import DemandSummary
from models.records import NamedDeal
from store import Store
from tests.jira_view import issue_numbers
from tests.oracle import expected_demand

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def summary(**numbers: object) -> DemandSummary:
    base: dict[str, object] = {
        "issue_key": "ANA-1",
        "requests": 0,
        "customers": 0,
        "revenue": Decimal(0),
        "open_pipeline": Decimal(0),
    }
    return DemandSummary(**{**base, **numbers})


PIPELINE_ONLY = summary(
    open_pipeline=Decimal(182_000),
    named_pipeline=Decimal(182_000),
    named_deals=[
        NamedDeal(name="Acme expansion", amount=Decimal(120_000), url="https://crm/1"),
        NamedDeal(name="Globex renewal", amount=Decimal(62_000), url="https://crm/2"),
    ],
)
MIXED = summary(
    requests=3,
    customers=2,
    open_pipeline=Decimal(300_000),
    named_pipeline=Decimal(100_000),
    named_deals=[NamedDeal(name="Acme SSO", amount=Decimal(60_000), url="https://crm/3")],
    by_source={"zendesk": 3},
    first_requested=NOW,
    last_requested=NOW,
)


def test_a_pipeline_only_issue_names_its_deals() -> None:
    assert pipeline(PIPELINE_ONLY) == (
        "Open pipeline $182k: $182k in deals naming this issue "
        "(Acme expansion $120k, Globex renewal $62k)."
    )


def test_the_split_says_both_parts_and_that_more_deals_name_it() -> None:
    assert pipeline(MIXED) == (
        "Open pipeline $300k: $100k in deals naming this issue (Acme SSO $60k, more); "
        "$200k in the asking customers' other open deals."
    )
    assert pipeline(summary()) is None


@pytest.mark.parametrize("case", [summary(), PIPELINE_ONLY, MIXED], ids=["empty", "deals", "mixed"])
def test_no_line_has_a_dangling_part(case: DemandSummary) -> None:
    """Empty parts are left out: never "; .", ", ." or "()" in what the comment shows."""
    shown = to_text(render_comment(case, None, NOW))
    for line in [trend(case), pipeline(case) or "", *shown.splitlines()]:
        assert not re.search(r"[;,]\s*[.;,]|\(\s*\)|;\s*$", line), line
    assert trend(summary()) == "0 requests in the last 30 days (0 in the 30 before)."


def test_summaries_without_named_deals_hash_as_before() -> None:
    """Upgrading rewrites no ticket whose demand has no named deals: the new fields at their
    defaults are left out of the hash."""
    plain = summary(requests=1, customers=1)
    dumped = plain.model_dump(mode="json")
    assert dumped["named_pipeline"] == "0" and dumped["named_deals"] == []
    assert content_hash(plain) != content_hash(PIPELINE_ONLY)
    for name in ("named_pipeline", "named_deals", "currency", "weighted_requests"):
        dumped.pop(name)
    before = hashlib.sha256(
        json.dumps(dumped, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert content_hash(plain) == before


def test_the_pipeline_field_carries_named_deals_or_everything_as_set(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """By default the "Open Pipeline" field carries the deals naming the issue; set to
    "all" it carries those and the asking customers' other open deals, like the headline."""
    run_cycle(settings.model_copy(update={"jira_pipeline_carries": "all"}), store)
    want = expected_demand(sandbox_url)
    differ = [k for k, w in want.items() if w["named_pipeline"] != w["open_pipeline"]]
    assert differ, "the sandbox world has issues whose askers have other open deals"
    for key in differ:
        field = issue_numbers(sandbox_url, key)["open_pipeline"]
        assert Decimal(str(field)) == want[key]["open_pipeline"], key
