"""Publishing as a product manager and an admin rely on it: what lands on the ticket, and
what a dry run, a write cap, labels and switched-off fields do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from builders import demand_summary

from connectors import registry
from connectors.jira.client import JiraConnector
from connectors.jira.comment import (
    MAX_PROPERTY_BYTES,
    fit_property,
    property_bytes,
    render_comment,
)
from connectors.jira.write import JiraWriter
from connectors.settings import Settings
from flows.pipeline import pull_source, run_cycle
from models import ConfigError, DemandSummary, FeedbackRef, RecordKind
from services.demand import demand
from services.links import link_all
from services.publish import Publisher, describe, publish_all
from store import Store
from tests.conftest import EXPLICIT_ONLY
from tests.jira_view import FIELDS, demand_property, issue_numbers, managed_comments
from tests.oracle import AUTH, expected_demand


def jira_writes(url: str) -> int:
    return requests.get(f"{url}/_sandbox/requests", timeout=30).json()["jira"]["writes"]


def pulled(settings: Settings, store: Store) -> dict[str, DemandSummary]:
    for source in registry.configured(settings):
        pull_source(settings, store, source, full=False)
    link_all(settings, store)
    return demand(settings, store)


def labels(url: str, key: str) -> list[str]:
    issue = requests.get(
        f"{url}/jira/rest/api/3/issue/{key}", params={"fields": "labels"}, auth=AUTH, timeout=30
    ).json()
    return issue["fields"]["labels"]


def test_dry_run_writes_nothing_and_describes_each_write(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """An admin previewing a publish must not change Jira, and must see the numbers."""
    summaries = pulled(settings, store)
    report = publish_all(settings, store, summaries, dry_run=True)
    assert jira_writes(sandbox_url) == 0
    assert len(report.plans) == len(expected_demand(sandbox_url))
    top = max(report.plans, key=lambda p: p.summary.requests)
    lines = describe(top, Publisher(settings, store))
    assert f"  field 'Customer Requests': (empty) -> {top.summary.requests}" in lines
    assert any(top.summary.headline in line for line in lines)


def test_max_writes_defers_the_rest_to_the_next_run(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """A capped run writes exactly N issues; the next run writes the rest, once."""
    summaries = pulled(settings, store)
    first = publish_all(settings, store, summaries, max_writes=4)
    assert (first.written, first.deferred) == (4, len(summaries) - 4)
    second = publish_all(settings, store, summaries)
    assert (second.written, second.unchanged) == (len(summaries) - 4, 4)
    for key in summaries:
        assert len(managed_comments(sandbox_url, key)) == 1


def test_labels_follow_demand_up_and_down(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """The highest threshold label reached is on the issue; when the issue falls below it
    (here: the threshold is raised), the label is removed and the lower one added."""
    run_cycle(settings, store)
    summaries = demand(settings, store)
    top = max(summaries.values(), key=lambda s: s.requests)
    assert top.requests >= 8
    assert "demand-high" in labels(sandbox_url, top.issue_key)
    stricter = settings.model_copy(update={"demand_labels": ("demand-high:99", "demand-medium:4")})
    run_cycle(stricter, store)
    now = labels(sandbox_url, top.issue_key)
    assert "demand-high" not in now and "demand-medium" in now


def routes(url: str) -> dict[str, int]:
    return requests.get(f"{url}/_sandbox/requests", timeout=30).json()["jira"]["routes"]


def edit_ticket_then_sync(
    settings: Settings, store: Store, sandbox_url: str, ticket_id: int | str, change: dict[str, str]
) -> tuple[Any, dict[str, int], dict[str, int]]:
    """Change one Zendesk ticket in the sandbox and run a cycle: the cycle's result, and the
    sandbox's Jira routes counted before and after."""
    before = routes(sandbox_url)
    answer = requests.post(
        f"{sandbox_url}/_sandbox/update",
        json={"tool": "zendesk", "kind": "ticket", "id": ticket_id, "changes": change},
        timeout=30,
    )
    answer.raise_for_status()
    again = run_cycle(settings, store)
    return again, before, routes(sandbox_url)


def test_a_new_quote_rewrites_the_comment_and_sends_no_fields_when_the_numbers_hold(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """A change that moves no number but rewords a quoted ticket updates the comment and
    the property; the property rides in an edit of its own, never its own endpoint."""
    run_cycle(settings, store)
    key, quote = next(
        (key, quote)
        for key, entry in store.ledger.entries().items()
        for quote in entry.summary["quotes"]
        if quote["source"] == "zendesk"
    )
    [ticket] = [
        f for f in store.records.load(RecordKind.FEEDBACK, "zendesk") if f.id == quote["record_id"]
    ]
    change = {"description": f"Reworded: we still need {key} badly."}
    again, before, after = edit_ticket_then_sync(
        settings, store, sandbox_url, int(ticket.id), change
    )

    assert again.published["written"] >= 1
    edits = "PUT /rest/api/3/issue/{key}"
    comments = "PUT /rest/api/3/issue/{key}/comment/{id}"
    assert after.get(edits, 0) - before.get(edits, 0) == again.published["written"]
    assert after.get(comments, 0) - before.get(comments, 0) >= 1
    assert "PUT /rest/api/3/issue/{key}/properties/{propertyKey}" not in after
    assert (
        issue_numbers(sandbox_url, key)["requests"]
        == (expected_demand(sandbox_url)[key]["requests"])
    )
    [shown] = managed_comments(sandbox_url, key)
    assert f"Reworded: we still need {key} badly." in shown


def test_a_reworded_subject_that_no_comment_shows_leaves_the_comment_alone(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """Rewording a ticket's subject changes the property (its feedback list) but nothing
    the comment shows: the issue gets one quiet edit and its watchers no comment mail."""
    run_cycle(settings, store)
    link = next(x for x in store.links.all(suggested=False) if x.source == "zendesk")
    change = {"subject": "Reworded: we still need this badly"}
    again, before, after = edit_ticket_then_sync(
        settings, store, sandbox_url, link.record_id, change
    )

    assert again.published["written"] >= 1
    edits = "PUT /rest/api/3/issue/{key}"
    comments = "PUT /rest/api/3/issue/{key}/comment/{id}"
    assert after.get(edits, 0) - before.get(edits, 0) == again.published["written"]
    assert after.get(comments, 0) - before.get(comments, 0) == 0
    prop = demand_property(sandbox_url, link.issue_key) or {}
    assert "Reworded: we still need this badly" in {f["subject"] for f in prop["feedback"]}


def recorded_writes(writer: JiraWriter, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every write the writer sends, as (method, url, JSON body), in order."""
    sent: list[Any] = []
    session = writer.api.session
    send = session.request

    def record(method: str, url: str, **kwargs: Any) -> requests.Response:
        if method != "GET":
            sent.append((method, url, kwargs.get("json")))
        return send(method, url, **kwargs)

    monkeypatch.setattr(session, "request", record)
    return sent


def test_each_publish_is_one_edit_carrying_the_property_then_the_comment(
    settings: Settings, store: Store, sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jira limits writes per issue: a first publish is one edit (fields, label and the
    property) and one comment POST; a re-publish that moves no number but rewords a quote
    sends an edit with the property alone and edits the comment in place."""
    summaries = pulled(settings, store)
    top = max(summaries.values(), key=lambda s: s.requests)
    writer = JiraWriter(JiraConnector(settings))
    sent = recorded_writes(writer, monkeypatch)
    issue = writer.api.url(f"/rest/api/3/issue/{top.issue_key}")

    publish_all(settings, store, summaries, only=top.issue_key, writer=writer)

    [(method, url, edit), (posted, comments_url, _)] = sent
    assert (method, url, posted, comments_url) == ("PUT", issue, "POST", f"{issue}/comment")
    assert edit["fields"][FIELDS["requests"]] == top.requests
    assert edit["update"] == {"labels": [{"add": "demand-high"}]}
    [prop] = edit["properties"]
    assert prop["key"] == "pmsync.demand" and prop["value"]["requests"] == top.requests
    assert demand_property(sandbox_url, top.issue_key) == prop["value"]

    sent.clear()
    top = pulled(settings, store)[top.issue_key]  # the store sees the label now on Jira
    reworded = [top.quotes[0].model_copy(update={"text": "Reworded"}), *top.quotes[1:]]
    again = top.model_copy(update={"quotes": reworded})
    publish_all(settings, store, {top.issue_key: again}, writer=writer)

    comment_id = store.ledger.entries([top.issue_key])[top.issue_key].comment_id
    [(method, url, edit), (put, comment_url, _)] = sent
    assert (method, url, put, comment_url) == ("PUT", issue, "PUT", f"{issue}/comment/{comment_id}")
    assert list(edit) == ["properties"]
    assert demand_property(sandbox_url, top.issue_key) == edit["properties"][0]["value"]
    assert len(managed_comments(sandbox_url, top.issue_key)) == 1


def test_a_field_switched_off_is_never_written(
    sandbox_url: str, store: Store, store_url: str
) -> None:
    """An empty field name switches that field off; the others and the comment still land."""
    settings = Settings.for_sandbox(
        sandbox_url, database_url=store_url, jira_field_revenue="", **EXPLICIT_ONLY
    )
    run_cycle(settings, store)
    for key, want in expected_demand(sandbox_url).items():
        shown = issue_numbers(sandbox_url, key)
        assert shown["revenue"] is None and shown["requests"] == want["requests"]


def test_misspelt_field_stops_before_any_write(
    sandbox_url: str, store: Store, store_url: str
) -> None:
    """A field name Jira does not have fails the run before the first write, naming it and
    the close matches."""
    settings = Settings.for_sandbox(
        sandbox_url, database_url=store_url, jira_field_revenue="Customer Revenu"
    )
    with pytest.raises(ConfigError, match="'Customer Revenu'.*'Customer Revenue'"):
        run_cycle(settings, store)
    assert jira_writes(sandbox_url) == 0


def big_summary(n: int) -> DemandSummary:
    return demand_summary(
        n,
        name="Customer {i} " + "x" * 60,
        each_pipeline=500,
        feedback=[
            FeedbackRef(source="zendesk", record_id=str(i), url=f"https://z/{i}", subject="s" * 200)
            for i in range(n)
        ],
        deal_ids=[f"hubspot:{i}" for i in range(n)],
    )


def test_huge_demand_fits_jira_limits_and_keeps_the_numbers() -> None:
    """Thousands of requests must not make Jira reject the property or the comment: lists
    are cut whole and marked, the numbers stay exact."""

    summary = big_summary(3000)
    payload = fit_property(summary)
    assert property_bytes(payload) <= MAX_PROPERTY_BYTES == 32_768
    assert payload["truncated"] is True and payload["requests"] == 3000
    body = render_comment(summary, None, datetime.now(UTC))
    assert len(json.dumps(body)) < 32_767
    assert body["type"] == "doc" and body["version"] == 1


def test_property_size_is_counted_in_utf8_bytes_as_jira_does(sandbox_url: str) -> None:
    """Non-Latin names cost Jira 3 bytes a character, not the 6 of an escaped \\uXXXX: a
    summary that fits Jira's 32,768 bytes is written whole (the escaped count would have
    cut it to half), and the sandbox, measuring as Jira does, stores it."""
    summary = demand_summary(150, account="domain:c{i}.jp", name="株式会社東京データ分析" * 2)
    payload = fit_property(summary)
    assert "truncated" not in payload and len(payload["top_customers"]) == 150
    assert len(json.dumps(payload).encode()) > 32_768 >= property_bytes(payload)
    answer = requests.put(
        f"{sandbox_url}/jira/rest/api/3/issue/ANA-1/properties/pmsync.test",
        auth=AUTH,
        json=payload,  # sent escaped, as `requests` does; measured as UTF-8
        timeout=30,
    )
    assert answer.status_code == 201
    too_big = {"names": ["東" * 11_000]}  # 33,000 bytes of UTF-8
    refused = requests.put(
        f"{sandbox_url}/jira/rest/api/3/issue/ANA-1/properties/pmsync.test",
        auth=AUTH,
        json=too_big,
        timeout=30,
    )
    assert refused.status_code == 400


def test_property_matches_the_fields(settings: Settings, store: Store, sandbox_url: str) -> None:
    """The machine-readable copy and the fields a person sees never disagree."""
    run_cycle(settings, store)
    for key in expected_demand(sandbox_url):
        prop = requests.get(
            f"{sandbox_url}/jira/rest/api/3/issue/{key}/properties/pmsync.demand",
            auth=AUTH,
            timeout=30,
        ).json()["value"]
        shown = issue_numbers(sandbox_url, key)
        assert prop["requests"] == shown["requests"]
        assert Decimal(str(prop["revenue"])) == Decimal(str(shown["revenue"]))


def test_jira_per_issue_write_limit_is_waited_out(tmp_path) -> None:
    """Jira's per-issue write limit (429, RateLimit-Reason: jira-per-issue-on-write) is
    waited out as Retry-After asks, never retried early, and the writes still land once."""
    from sandbox.server import start_sandbox

    # One write per issue per window: each issue's comment waits for its edit's window.
    limits = {"jira": {"per_issue_write": {"limit": 1, "window": 5.0}}}
    server = start_sandbox(seed=7, rate_limits="real", limits=limits)
    try:
        settings = Settings.for_sandbox(server.url, database_url=f"sqlite:///{tmp_path}/p.db")
        store = Store(settings.database_url, upgrade=True)
        report = publish_all(settings, store, pulled(settings, store), max_writes=2)
        assert (report.written, report.failed) == (2, 0)
        log = requests.get(f"{server.url}/_sandbox/ratelimits", timeout=30).json()
        reasons = {entry["reason"] for entry in log["log"]}
        assert log["throttled"] >= 2 and any("per_issue" in r for r in reasons), log
        assert log["violations"] == []
        for change in report.changes[:2]:  # the two written, in the order planned
            assert len(managed_comments(server.url, change["issue"])) == 1
    finally:
        server.stop()


def comment_reads(url: str) -> int:
    routes = requests.get(f"{url}/_sandbox/requests", timeout=30).json()["jira"]["routes"]
    return int(routes.get("GET /rest/api/3/issue/{key}/comment", 0))


def test_a_first_publish_reads_no_comments_and_a_lost_store_adds_none(
    sandbox_url: str, settings: Settings, store: Store, tmp_path
) -> None:
    """An issue without pmsync's property has no managed comment: the first publish does
    not look for one. A store lost after publishing (a new database) finds each comment
    and edits it: still one comment per issue. Its first run is a reconcile, which reads
    the comments back with the issues' search: no comment listing per issue."""
    first = run_cycle(settings, store)
    assert first.published["written"] > 0
    assert comment_reads(sandbox_url) == 0

    fresh = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/new.db"})
    again = run_cycle(fresh, Store(fresh.database_url, upgrade=True))

    assert again.published["written"] > 0 and comment_reads(sandbox_url) == 0
    for key in expected_demand(sandbox_url):
        assert len(managed_comments(sandbox_url, key)) == 1


def _deal_link(store: Store) -> Any:
    return next(x for x in store.links.all(suggested=False) if x.source == "hubspot")


def _move_deal(url: str, deal_id: str, amount: str) -> None:
    requests.post(
        f"{url}/_sandbox/update",
        json={"tool": "hubspot", "kind": "deal", "id": deal_id, "changes": {"amount": amount}},
        timeout=30,
    ).raise_for_status()


def test_a_sync_that_only_moves_numbers_mails_nobody_and_leaves_the_comment(
    settings: Settings, store: Store, sandbox_url: str, sandbox_server: Any
) -> None:
    """A deal's amount moves: the fields and the property show the new numbers at once,
    through a quiet edit (notifyUsers=false); the comment is not rewritten within the
    interval, so the watchers get no mail at all. With the interval over (0 hours), the
    next such move rewrites it, once, quietly too (nobody new to hear about)."""
    run_cycle(settings, store)
    mail = sandbox_server.app.state.sandbox.jira.mail
    sent_before = len(mail)
    link = _deal_link(store)
    before = routes(sandbox_url)
    _move_deal(sandbox_url, link.record_id, "987654")

    again = run_cycle(settings, store)

    after = routes(sandbox_url)
    comments = "PUT /rest/api/3/issue/{key}/comment/{id}"
    assert again.published["written"] >= 1
    assert after.get(comments, 0) == before.get(comments, 0)
    assert len(mail) == sent_before  # no edit mail (quiet), no comment mail
    want = expected_demand(sandbox_url)[link.issue_key]
    assert issue_numbers(sandbox_url, link.issue_key)["requests"] == want["requests"]
    prop = demand_property(sandbox_url, link.issue_key) or {}
    assert Decimal(str(prop["open_pipeline"])) == Decimal(str(want["open_pipeline"]))
    assert "jira" not in again.missing  # the admin may edit quietly

    eager = settings.model_copy(update={"comment_min_interval_hours": 0})
    _move_deal(sandbox_url, link.record_id, "123456")
    run_cycle(eager, store)
    assert routes(sandbox_url).get(comments, 0) > after.get(comments, 0)
    assert len(mail) == sent_before  # numbers catching up: a quiet comment update
    [shown] = managed_comments(sandbox_url, link.issue_key)
    summary = DemandSummary.model_validate(
        store.ledger.entries([link.issue_key])[link.issue_key].summary
    )
    assert summary.headline in shown


@contextmanager
def synced_tenant(tenant: str, tmp_path: Any) -> Iterator[tuple[Any, Settings, Store, Any]]:
    """A sandbox of its own with the given tenant, after one cycle: the server, the settings,
    the store and the cycle's result."""
    from sandbox.server import start_sandbox

    with start_sandbox(seed=7, tenant=tenant) as server:
        settings = Settings.for_sandbox(
            server.url, database_url=f"sqlite:///{tmp_path}/p.db", **EXPLICIT_ONLY
        )
        store = Store(settings.database_url, upgrade=True)
        yield server, settings, store, run_cycle(settings, store)


def test_a_user_who_is_no_admin_gets_loud_edits_and_the_run_says_so(tmp_path: Any) -> None:
    """On a tenant whose Jira user is no admin, notifyUsers=false is refused once; the
    edits land with Jira's default and the run summary names quiet_edits as missing."""
    with synced_tenant("minimal", tmp_path) as (server, settings, store, result):
        assert result.published["written"] >= 1 and result.published["failed"] == 0
        assert "Administer Projects" in result.missing["jira"]["quiet_edits"]
        assert result.as_dict()["missing"]["jira"]["quiet_edits"]
        for key, want in expected_demand(server.url).items():
            assert issue_numbers(server.url, key)["requests"] == want["requests"]
        from flows.check import run_checks

        checks = {c.name: c for c in run_checks(settings)}
        quiet = checks["jira quiet_edits"]
        assert quiet.ok and quiet.missing and "Administer Projects" in quiet.detail
        assert not checks["jira write ANA"].missing
        assert not checks["jira field 'Customer Requests'"].missing


def test_service_desk_comments_stay_off_the_customer_portal(tmp_path: Any) -> None:
    """On a Jira Service Management project (the messy tenant's) every managed comment
    carries sd.public.comment internal: customer names and quotes never reach the portal."""
    with synced_tenant("messy", tmp_path) as (server, settings, store, result):
        assert result.published["written"] >= 1
        for key in store.ledger.entries():
            comments = requests.get(
                f"{server.url}/jira/rest/api/3/issue/{key}/comment", auth=AUTH, timeout=30
            ).json()["comments"]
            assert comments and all(c["jsdPublic"] is False for c in comments)
