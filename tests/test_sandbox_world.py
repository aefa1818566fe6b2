"""The seeded world: deterministic, the promised sizes, and a truth that matches the data."""

import re
from collections import Counter
from datetime import UTC, datetime

from sandbox.world import generate

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
    both = [a for a in world.accounts if a.zendesk_org_id and a.hubspot_company_id]
    assert len(both) == 30
    domains = [a.domains[0] for a in world.accounts]
    assert len(set(domains)) == len(domains)
    assert len(world.tickets) == 300
    assert len(world.deals) == 80
    assert any(p.org_id is None and p.role == "end-user" for p in world.people)
    assert all(t.updated <= NOW and t.created >= NOW.replace(year=2024) for t in world.tickets)
    stages = Counter(d.stage for d in world.deals)
    assert stages["closedwon"] and stages["closedlost"] and len(stages) >= 6
    won = [d for d in world.deals if d.stage == "closedwon"]
    assert any((NOW - d.close_date).days > 365 for d in won)
    assert any((NOW - d.close_date).days < 365 for d in won)
    assert all(5000 <= d.amount <= 250000 for d in world.deals)


def test_scale_multiplies_sizes() -> None:
    world = generate(7, NOW, scale=3)
    assert (len(world.issues), len(world.tickets), len(world.deals)) == (120, 900, 240)
    assert len({i.key for i in world.issues}) == 120


def test_truth_matches_planted_records() -> None:
    world = generate(7, NOW)
    methods = Counter(link.method for link in world.truth)
    assert set(methods) == {"cited_key", "zendesk_jira_link", "text", "deal_field"}
    tickets = {str(t.id): t for t in world.tickets}
    keys = {i.key for i in world.issues}
    for link in world.truth:
        assert link.issue_key in keys
        if link.method == "cited_key":
            ticket = tickets[link.record_id]
            assert link.issue_key in ticket.subject + ticket.description
        if link.method in ("text", "zendesk_jira_link"):
            ticket = tickets[link.record_id]
            assert not re.search(r"\bANA-\d+", ticket.subject + ticket.description)
    linked = {(str(x.ticket_id), x.issue_key) for x in world.jira_links}
    assert linked == {
        (x.record_id, x.issue_key) for x in world.truth if x.method == "zendesk_jira_link"
    }
    deals = {d.id: d for d in world.deals}
    assert all(
        x.issue_key in deals[x.record_id].issue_keys
        for x in world.truth
        if x.method == "deal_field"
    )
    texts = " ".join(t.description for t in world.tickets)
    assert any(word in texts for word in ("UTF-8", "ISO-9001", "COVID-19"))
