"""Jira as pmsync writes and reads it beyond the search: ADF inline nodes as text, quiet
edits and their fallback, internal comments, the property's size, and what makes the
managed comment change."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from builders import JIRA, RecordedSleep, demand_summary, query, sandbox_settings

from connectors.http import AuthError
from connectors.jira.client import JiraConnector
from connectors.jira.write import JiraWriter


def _paragraph(*nodes: dict) -> dict:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": list(nodes)}]}


@pytest.mark.parametrize(
    ("node", "text"),
    [
        pytest.param(
            {"type": "mention", "attrs": {"id": "5b1", "text": "@Ana"}}, "@Ana", id="mention"
        ),
        pytest.param({"type": "mention", "attrs": {"id": "5b1"}}, "@5b1", id="mention-no-text"),
        pytest.param(
            {"type": "emoji", "attrs": {"shortName": ":tada:", "text": "🎉"}}, "🎉", id="emoji"
        ),
        pytest.param(
            {"type": "emoji", "attrs": {"shortName": ":parrot:"}}, ":parrot:", id="custom-emoji"
        ),
        pytest.param(
            {"type": "inlineCard", "attrs": {"url": "https://x.io/a"}}, "https://x.io/a", id="card"
        ),
        pytest.param(
            {"type": "status", "attrs": {"text": "BLOCKED", "color": "red"}}, "BLOCKED", id="status"
        ),
        pytest.param(
            {"type": "date", "attrs": {"timestamp": "1735689600000"}}, "2025-01-01", id="date-ms"
        ),
        pytest.param(
            {"type": "date", "attrs": {"timestamp": 1735689600000}}, "2025-01-01", id="date-number"
        ),
        pytest.param(
            {"type": "date", "attrs": {"timestamp": "1582152559"}}, "2020-02-19", id="date-seconds"
        ),
        pytest.param({"type": "date", "attrs": {"timestamp": "soon"}}, "", id="date-garbage"),
        pytest.param({"type": "hardBreak"}, "\n", id="hard-break"),
        pytest.param({"type": "placeholder", "attrs": {"text": "Type here"}}, "", id="placeholder"),
        pytest.param({"type": "mention"}, "", id="mention-without-attrs"),
    ],
)
def test_adf_inline_nodes_read_as_people_see_them(node: dict, text: str) -> None:
    """A description loses none of what a reader sees: each inline node is its text."""
    from connectors.jira.adf import to_text

    assert to_text(_paragraph({"type": "text", "text": "a "}, node)) == f"a {text}\n"


def writer_for(rsps) -> JiraWriter:
    return JiraWriter(JiraConnector(sandbox_settings(), sleep=RecordedSleep()))


def edits(rsps) -> list:
    return [c for c in rsps.calls if c.request.method == "PUT"]


def test_edits_are_quiet_where_jira_allows_it(rsps) -> None:
    """An admin's edits go with notifyUsers=false, so moving numbers mails no watcher."""
    rsps.put(f"{JIRA}/rest/api/3/issue/ANA-1", status=204)
    rsps.put(f"{JIRA}/rest/api/3/issue/ANA-2", status=204)
    writer = writer_for(rsps)
    writer.edit_issue("ANA-1", {"customfield_10050": 3})
    writer.edit_issue("ANA-2", {"customfield_10050": 4})
    assert [query(c).get("notifyUsers") for c in edits(rsps)] == [["false"], ["false"]]
    assert writer.quiet is True and not writer.missing


def test_a_refused_quiet_edit_falls_back_once_and_says_so(rsps) -> None:
    """A user who is no admin gets 403 for notifyUsers=false: the edit is sent again with
    Jira's default, later edits skip the refused form, and quiet_edits is noted missing
    with what to change."""
    refused = {
        "errorMessages": [
            "To discard the user notification either admin or project admin permissions "
            "are required."
        ],
        "errors": {},
    }

    def reply(request):
        quiet = "notifyUsers=false" in request.url
        return (403, {}, json.dumps(refused)) if quiet else (204, {}, "")

    rsps.add_callback("PUT", re.compile(rf"{JIRA}/rest/api/3/issue/ANA-\d+"), callback=reply)
    writer = writer_for(rsps)
    writer.edit_issue("ANA-1", {"customfield_10050": 3})
    writer.edit_issue("ANA-2", {"customfield_10050": 4})
    assert [query(c).get("notifyUsers") for c in edits(rsps)] == [["false"], None, None]
    assert "Administer Projects" in writer.missing["quiet_edits"]


def test_an_edit_refused_outright_is_no_missing_feature(rsps) -> None:
    """When the plain edit is refused too, the user may not edit at all: that error is
    raised, not taken for a missing quiet mode."""
    rsps.put(
        re.compile(rf"{JIRA}/rest/api/3/issue/ANA-1.*"), status=403, json={"errorMessages": ["no"]}
    )
    writer = writer_for(rsps)
    with pytest.raises(AuthError):
        writer.edit_issue("ANA-1", {"customfield_10050": 3})
    assert not writer.missing


def test_property_size_is_utf8_bytes() -> None:
    """Jira counts a property's JSON in UTF-8 bytes: "東" is 3, not the 6 of "\\u6771"."""
    from connectors.jira.comment import property_bytes

    assert property_bytes({"a": "東"}) == len('{"a":"東"}'.encode()) == 11
    assert property_bytes({"a": "é"}) == 10


def _summary(**changes):
    from decimal import Decimal

    from models import Quote

    base = demand_summary(
        2,
        account="a{i}",
        name="C{i}",
        each_revenue=500,
        requests=3,
        open_pipeline=Decimal(500),
        quotes=[Quote(source="zendesk", record_id="1", url="u", customer="C0", text="need it")],
    )
    return base.model_copy(update=changes)


@pytest.mark.parametrize(
    ("changes", "material", "numbers"),
    [
        pytest.param({}, False, False, id="same"),
        pytest.param({"requests": 4}, False, True, id="one-more-request"),
        pytest.param({"open_pipeline": 9000}, False, True, id="pipeline-moved"),
        pytest.param({"requests_last_30d": 3}, False, False, id="trend-only"),
        pytest.param({"customers": 3}, True, False, id="another-customer"),
        pytest.param({"top_customers": []}, True, False, id="customers-named-change"),
        pytest.param({"quotes": []}, True, False, id="quote-dropped"),
    ],
)
def test_what_changes_the_comment_materially(changes, material, numbers) -> None:
    """Material (rewrite at once): who asks, or in their words; numbers alone wait for the
    interval (numbers_changed)."""
    from connectors.jira.comment import comment_basis, material_change, numbers_changed

    shown = comment_basis(_summary())
    now = _summary(**changes)
    assert material_change(shown, now) is material
    assert numbers_changed(shown, now) is numbers
    assert material_change(None, now) is True


@pytest.mark.parametrize(
    ("hours_ago", "interval", "due"),
    [(1, 24, False), (25, 24, True), (0, 0, True), (None, 24, True)],
)
def test_moved_numbers_rewrite_the_comment_once_per_interval(hours_ago, interval, due) -> None:
    """Numbers alone rewrite the comment only when the interval since its last rewrite is
    over (a ledger entry that never recorded it counts as long ago)."""
    from datetime import timedelta

    from connectors.jira.comment import comment_basis
    from services.publish import Publisher

    now = datetime(2025, 1, 2, tzinfo=UTC)
    shown = comment_basis(_summary())
    at = None if hours_ago is None else (now - timedelta(hours=hours_ago)).isoformat()
    previous = {**_summary().model_dump(mode="json"), "comment": {**shown, "at": at}}
    publisher = Publisher(sandbox_settings(comment_min_interval_hours=interval), store=None)  # type: ignore[arg-type]
    assert publisher.comment_due(previous, _summary(requests=9), now) is due
    assert publisher.comment_due(previous, _summary(), now) is False
    assert publisher.comment_due(previous, _summary(quotes=[]), now) is True


def test_comments_are_internal_when_the_project_type_cannot_be_read(rsps) -> None:
    """Fail closed: if Jira will not list the projects, the managed comment goes out with
    sd.public.comment internal (harmless off a service desk, vital on one)."""
    rsps.get(f"{JIRA}/rest/api/3/project/search", status=403, json={"errorMessages": ["no"]})
    rsps.post(f"{JIRA}/rest/api/3/issue/ANA-1/comment", json={"id": "7"})
    writer = writer_for(rsps)
    assert writer.write_comment("ANA-1", {"type": "doc", "version": 1, "content": []}, None) == "7"
    [post] = [c for c in rsps.calls if c.request.method == "POST"]
    assert json.loads(post.request.body)["properties"][0]["key"] == "sd.public.comment"
