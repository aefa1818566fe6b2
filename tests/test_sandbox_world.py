"""The seeded world: deterministic, the promised sizes, customers spread over the tools,
and a truth that matches the data."""

import re
import time
from collections import Counter
from datetime import UTC, datetime

from sandbox.world import CRMS, SUPPORT_TOOLS, generate

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def test_same_seed_same_world_and_other_seed_differs() -> None:
    assert generate(7, NOW) == generate(7, NOW)
    assert generate(8, NOW) != generate(7, NOW)
    assert [d.amount for d in generate(8, NOW).deals] != [d.amount for d in generate(7, NOW).deals]


def test_sizes_and_shapes() -> None:
    world = generate(7, NOW)
    assert len(world.issues) == 40
    assert len({i.summary for i in world.issues}) == 40
    assert {i.status for i in world.issues} == {"To Do", "In Progress", "Done"}
    assert len(world.accounts) == 34 and sum(not a.support for a in world.accounts) == 4
    domains = [a.domains[0] for a in world.accounts]
    assert len(set(domains)) == len(domains)
    assert len(world.feedback) == 300
    assert len(world.deals) == 80
    assert any(p.account is None and p.role == "end-user" for p in world.people)
    assert all(f.updated <= NOW and f.created >= NOW.replace(year=2024) for f in world.feedback)
    stages = Counter(d.stage for d in world.deals)
    assert stages["closedwon"] and stages["closedlost"] and len(stages) >= 6
    won = [d for d in world.deals if d.stage == "closedwon"]
    assert any((NOW - d.close_date).days > 365 for d in won)
    assert any((NOW - d.close_date).days < 365 for d in won)
    assert all(5000 <= d.amount <= 250000 for d in world.deals)


def test_customers_spread_over_support_tools_and_one_crm_each() -> None:
    world = generate(7, NOW)
    for a in world.accounts:
        ids = {
            "zendesk": a.zendesk_org_id,
            "intercom": a.intercom_company_id,
            "freshdesk": a.freshdesk_company_id,
        }
        assert {tool for tool, i in ids.items() if i is not None} == set(a.support)
        assert (a.hubspot_company_id is not None, a.salesforce_account_id is not None) == (
            a.crm == "hubspot",
            a.crm == "salesforce",
        )
    assert any(len(a.support) > 1 for a in world.accounts)
    assert Counter(f.tool for f in world.feedback).keys() == set(SUPPORT_TOOLS)
    assert {d.crm for d in world.deals} == set(CRMS)
    for item in world.feedback:
        person = next(p for p in world.people if p.id == item.requester_id)
        assert person.tool == item.tool and person.account == item.account
    assert all(world.accounts[d.account].crm == d.crm for d in world.deals)
    opportunity = next(d for d in world.deals if d.crm == "salesforce")
    assert re.fullmatch(r"006[0-9A-Za-z]{15}", opportunity.id)


def test_scale_multiplies_sizes() -> None:
    world = generate(7, NOW, scale=3)
    assert (len(world.issues), len(world.feedback), len(world.deals)) == (120, 900, 240)
    assert len({i.key for i in world.issues}) == 120


def test_scale_100_is_the_benchmark_world_and_quick() -> None:
    """The benchmark's world: ~4,000 issues, ~30,000 feedback, ~8,000 deals, in seconds."""
    started = time.perf_counter()
    world = generate(7, NOW, scale=100)
    elapsed = time.perf_counter() - started
    assert (len(world.issues), len(world.feedback), len(world.deals)) == (4000, 30000, 8000)
    assert len(world.accounts) == 3400
    ids = Counter((f.tool, f.id) for f in world.feedback)
    assert max(ids.values()) == 1
    assert elapsed < 20, f"generate(scale=100) took {elapsed:.1f}s"


def test_truth_matches_planted_records() -> None:
    world = generate(7, NOW)
    methods = Counter((link.source, link.method) for link in world.truth)
    for tool in SUPPORT_TOOLS:
        assert methods[(tool, "cited_key")] and methods[(tool, "text")]
    assert {s for s, m in methods if m == "zendesk_jira_link"} == {"zendesk"}
    assert {s for s, m in methods if m == "deal_field"} == set(CRMS)
    items = {(f.tool, str(f.id)): f for f in world.feedback}
    # No two tools share a record id, so a link's record_id alone never points at the wrong one.
    assert len({key[1] for key in items}) == len(items)
    keys = {i.key for i in world.issues}
    for link in world.truth:
        assert link.issue_key in keys
        if link.method == "cited_key":
            item = items[(link.source, link.record_id)]
            assert link.issue_key in item.subject + item.description
        if link.method in ("text", "zendesk_jira_link"):
            item = items[(link.source, link.record_id)]
            assert not re.search(r"\bANA-\d+", item.subject + item.description)
    linked = {(str(x.ticket_id), x.issue_key) for x in world.jira_links}
    assert linked == {
        (x.record_id, x.issue_key) for x in world.truth if x.method == "zendesk_jira_link"
    }
    deals = {(d.crm, d.id): d for d in world.deals}
    assert all(
        x.issue_key in deals[(x.source, x.record_id)].issue_keys
        for x in world.truth
        if x.method == "deal_field"
    )
    texts = " ".join(f.description for f in world.feedback)
    assert any(word in texts for word in ("UTF-8", "ISO-9001", "COVID-19"))
