"""Hostile text end to end against the sandbox: an issue whose summary holds markup, entities,
quotes, a `javascript:` URL, Markdown, a line break and non-ASCII is closed, and every
tool's note, read back as the tool stores it, shows that summary letter for letter."""

from __future__ import annotations

from typing import Any

import requests

from connectors import registry
from connectors.notes import marker
from connectors.settings import Settings
from flows.pipeline import run_cycle
from models import RecordKind
from store import Store
from tests.escaping import ADF_NODES, HOSTILE_SUMMARY, assert_shows_exactly
from tests.oracle import AUTH
from tests.test_close_loop_e2e import open_records_by_issue, writes


def noted_tools() -> set[str]:
    """The tools that take closing-the-loop notes (their vendor's `notes`)."""
    return {v.name for v in registry.vendors() if v.notes}


def stored_note(
    settings: Settings, source: str, record_id: str, mark: str
) -> list[tuple[str, Any]]:
    """The note holding `mark`, as the tool stores it: each field a person or a client
    reads, with how it is shown ("html" or "text")."""
    writer: Any = registry.vendor(source).notes(settings)
    if source == "zendesk":
        comments = writer.api.get_json(f"/api/v2/tickets/{record_id}/comments.json")["comments"]
        [found] = [c for c in comments if mark in c["plain_body"]]
        return [
            ("html", found["html_body"]),
            ("text", found["body"]),
            ("text", found["plain_body"]),
        ]
    if source == "intercom":
        conversation = writer.api.get_json(f"/conversations/{record_id}")
        parts = conversation["conversation_parts"]["conversation_parts"]
        return [("html", p["body"]) for p in parts if mark in (p.get("body") or "")]
    if source == "freshdesk":
        notes = writer.api.get_json(f"/api/v2/tickets/{record_id}/conversations")
        [found] = [n for n in notes if mark in n["body_text"]]
        return [("html", found["body"]), ("text", found["body_text"])]
    if source == "hubspot":
        note_id = writer.find(record_id, mark)
        note = writer.api.get_json(
            f"/crm/v3/objects/notes/{note_id}", params={"properties": "hs_note_body"}
        )
        return [("html", note["properties"]["hs_note_body"])]
    assert source == "salesforce"
    soql = f"SELECT Id, Subject, Description FROM Task WHERE WhatId = '{record_id}'"
    tasks = [t for batch in writer.connector.query(soql) for t in batch]
    [found] = [t for t in tasks if mark in (t.get("Description") or "")]
    assert "\n" not in found["Subject"]
    return [("text", found["Description"])]


def test_a_hostile_summary_reaches_every_tool_as_text(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """Set a hostile summary on open issues whose open records span every tool, close them,
    and read each tool's note back: the summary is there as typed, in every field, and no
    element (script, link, image, paragraph) was built from it. A further run writes
    nothing: the notes are found again by their markers."""
    run_cycle(settings, store)
    # The seeded world's open Zendesk tickets all ask for done issues: a person reopens a
    # solved one that asks for an open issue, so Zendesk has a note to write too.
    issues = {i.key: i for i in store.records.load(RecordKind.ISSUE)}
    tickets = {r.id: r for r in store.records.load(RecordKind.FEEDBACK) if r.source == "zendesk"}
    solved = next(
        link.record_id
        for link in store.links.all(suggested=False)
        if link.source == "zendesk"
        and link.record_id in tickets
        and not tickets[link.record_id].is_open
        and tickets[link.record_id].status == "solved"
        and issues[link.issue_key].status_category != "done"
    )
    reopen = {"tool": "zendesk", "kind": "ticket", "id": solved, "changes": {"status": "open"}}
    requests.post(f"{sandbox_url}/_sandbox/update", json=reopen, timeout=30).raise_for_status()
    run_cycle(settings, store)
    by_issue = open_records_by_issue(store)
    issues = {i.key: i for i in store.records.load(RecordKind.ISSUE)}
    # The fewest open issues whose open records span every tool: each gets the summary.
    keys: list[str] = []
    covered: set[str] = set()
    candidates = [k for k in by_issue if issues[k].status_category != "done"]
    while candidates:
        key = max(candidates, key=lambda k: len({s for s, _ in by_issue[k]} - covered))
        gain = {s for s, _ in by_issue[key]} - covered
        if not gain:
            break
        keys.append(key)
        covered |= gain
        candidates.remove(key)
    assert covered == noted_tools(), f"the sandbox should have open records in {covered}"
    for key in keys:
        update = {
            "tool": "jira",
            "kind": "issue",
            "id": key,
            "changes": {"summary": HOSTILE_SUMMARY, "status": "Done"},
        }
        requests.post(f"{sandbox_url}/_sandbox/update", json=update, timeout=30).raise_for_status()

    run_cycle(settings, store)
    closed = {i.key: i for i in store.records.load(RecordKind.ISSUE) if i.key in keys}
    checked: set[str] = set()
    for key, issue in closed.items():
        assert issue.summary == HOSTILE_SUMMARY
        mark = marker(key, "done")
        expected = (
            settings.close_loop_note.format(
                key=key, summary=HOSTILE_SUMMARY, status=issue.status, url=issue.url
            )
            + "\n"
            + mark
        )
        noted = {(s, r) for s, r, k, _ in store.loop.noted() if k == key}
        assert noted == by_issue[key]
        for source, record_id in sorted(noted):
            fields = stored_note(settings, source, record_id, mark)
            assert fields, (source, record_id)
            for kind, value in fields:
                if kind == "html":
                    assert_shows_exactly(value, expected)
                else:
                    assert value == expected, (source, record_id, value)
            checked.add(source)
    assert checked == noted_tools()

    before = writes(sandbox_url)
    run_cycle(settings, store)
    assert writes(sandbox_url) == before, "a note was written again or pmsync echoed itself"


HOSTILE_QUOTE = (
    "<script>alert(1)</script></p> &amp; \"dq\" 'sq' javascript:alert(2) "
    "[x](javascript:alert(3)) **md** Ünïcødé 東京 😀"
)


def _nodes(node: Any) -> list[dict[str, Any]]:
    if not isinstance(node, dict):
        return []
    return [node, *(n for child in node.get("content") or [] for n in _nodes(child))]


def test_a_hostile_quote_reaches_the_jira_comment_as_text(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """A customer writes markup, entities, quotes and `javascript:` into a ticket that the
    managed comment quotes: Jira stores the comment with that text in a text node as typed,
    no node or link built from it, and links only to the tools' http(s) pages."""
    run_cycle(settings, store)
    auth = AUTH
    quoted = next(
        (key, q)
        for key in sorted(i.key for i in store.records.load(RecordKind.ISSUE))
        if (prop := _demand_property(sandbox_url, key, auth))
        for q in prop.get("quotes") or []
        if q["source"] == "zendesk"
    )
    key, quote = quoted
    update = {
        "tool": "zendesk",
        "kind": "ticket",
        "id": quote["record_id"],
        "changes": {"description": f"{HOSTILE_QUOTE} {key}"},
    }
    requests.post(f"{sandbox_url}/_sandbox/update", json=update, timeout=30).raise_for_status()
    run_cycle(settings, store)

    comments = requests.get(
        f"{sandbox_url}/jira/rest/api/3/issue/{key}/comment",
        auth=auth,
        params={"maxResults": 100},
        timeout=30,
    ).json()["comments"]
    [managed] = [c["body"] for c in comments if "pmsync demand summary" in _plain(c["body"])]
    nodes = _nodes(managed)
    texts = [n["text"] for n in nodes if n.get("type") == "text"]
    assert f"“{HOSTILE_QUOTE} {key}” " in texts
    assert {n.get("type") for n in nodes} <= ADF_NODES
    hrefs = [
        m["attrs"]["href"] for n in nodes for m in n.get("marks") or [] if m.get("type") == "link"
    ]
    assert hrefs and all(h.startswith(("http://", "https://")) for h in hrefs)


def _plain(node: Any) -> str:
    return "".join(n.get("text", "") for n in _nodes(node))


def _demand_property(url: str, key: str, auth: tuple[str, str]) -> dict[str, Any] | None:
    response = requests.get(
        f"{url}/jira/rest/api/3/issue/{key}/properties/pmsync.demand", auth=auth, timeout=30
    )
    return response.json()["value"] if response.status_code == 200 else None
