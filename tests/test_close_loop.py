"""Closing the loop: one note per open ticket or deal and transition, never repeated,
never on first sight, and healed when a run died between the note and its record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import records
import responses
from records import deal_link, feedback_link

from connectors.http import ApiClient, AuthError
from connectors.hubspot.notes import HubSpotNotes
from connectors.settings import Settings
from models import Deal, Feedback, Issue
from services import invalidation
from services.close_loop import close_loop
from store import Store
from store.loop import Loop

NOW = datetime(2026, 11, 1, tzinfo=UTC)


class FakeNotes:
    """A tool's notes, in memory: what `find` sees is what `add` wrote."""

    def __init__(self) -> None:
        self.notes: dict[str, list[str]] = {}

    def find(self, record_id: str, mark: str) -> str | None:
        for i, text in enumerate(self.notes.get(record_id, [])):
            if mark in text:
                return f"{record_id}-{i}"
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        self.notes.setdefault(record_id, []).append(text)
        return f"{record_id}-{len(self.notes[record_id]) - 1}"


def issue(category: str, released: tuple[str, ...] = ()) -> Issue:
    return Issue(
        source="jira",
        id="10001",
        key="ANA-1",
        url="https://jira/browse/ANA-1",
        project="ANA",
        summary="Export to PDF",
        status="Done" if category == "done" else "In Progress",
        status_category=category,
        fix_versions=released,
        released_versions=released,
        updated_at=NOW,
    )


def ticket(id: str, status: str) -> Feedback:
    return records.feedback(id, url=f"https://z/{id}", status=status, updated_at=NOW)


def deal(id: str, closed: bool) -> Deal:
    return records.deal(
        id,
        url=f"https://h/{id}",
        name="Big deal",
        amount=Decimal(1000),
        stage="closedwon" if closed else "qualifiedtobuy",
        is_closed=closed,
        is_won=closed,
        updated_at=NOW,
    )


@pytest.fixture
def world(tmp_path) -> tuple[Settings, Store, dict[str, FakeNotes]]:
    settings = Settings(close_loop=True)
    store = Store(f"sqlite:///{tmp_path / 'loop.db'}", upgrade=True)
    store.records.save_page(
        [
            issue("indeterminate"),
            ticket("1", "open"),
            ticket("2", "solved"),
            deal("7", closed=False),
            deal("8", closed=True),
        ]
    )
    invalidation.replace_links(
        store,
        [],
        [
            feedback_link("1", "ANA-1"),
            feedback_link("2", "ANA-1"),
            deal_link("7", "ANA-1"),
            deal_link("8", "ANA-1"),
        ],
    )
    return settings, store, {"zendesk": FakeNotes(), "hubspot": FakeNotes()}


def test_first_sight_of_a_done_issue_notifies_nobody(world) -> None:
    """Issues that were done before pmsync looked have no transition to announce."""
    settings, store, writers = world
    store.records.save_page([issue("done")])
    assert close_loop(settings, store, writers)["notified"] == 0
    assert writers["zendesk"].notes == {} and writers["hubspot"].notes == {}


def test_done_notifies_each_open_ticket_and_deal_once(world) -> None:
    """Open ticket 1 and open deal 7 hear about it once; solved and closed ones do not."""
    settings, store, writers = world
    close_loop(settings, store, writers)
    store.records.save_page([issue("done")])
    assert close_loop(settings, store, writers)["notified"] == 2
    assert close_loop(settings, store, writers)["notified"] == 0
    assert list(writers["zendesk"].notes) == ["1"] and list(writers["hubspot"].notes) == ["7"]
    [note] = writers["zendesk"].notes["1"]
    assert "ANA-1" in note and "Export to PDF" in note and "Done" in note


def test_release_is_its_own_transition(world) -> None:
    """A released fix version is news even for an issue that was already done."""
    settings, store, writers = world
    store.records.save_page([issue("done")])
    close_loop(settings, store, writers)
    store.records.save_page([issue("done", released=("2026.11",))])
    assert close_loop(settings, store, writers)["notified"] == 2
    assert "released 2026.11" in writers["zendesk"].notes["1"][0]


def test_crash_after_the_note_leaves_one_note(world, monkeypatch) -> None:
    """A run that wrote the note but died before recording it must not write it again."""
    settings, store, writers = world
    close_loop(settings, store, writers)
    store.records.save_page([issue("done")])

    def crash(*args: object) -> None:
        raise RuntimeError("killed before the notes ledger")

    monkeypatch.setattr(Loop, "record_note", crash)
    with pytest.raises(RuntimeError):
        close_loop(settings, store, writers)
    monkeypatch.undo()
    close_loop(settings, store, writers)
    assert [len(n) for n in writers["zendesk"].notes.values()] == [1]
    assert [len(n) for n in writers["hubspot"].notes.values()] == [1]


class RefusedNotes(FakeNotes):
    """A tool whose app lacks the notes scopes until `granted`: every call answers 403."""

    def __init__(self) -> None:
        super().__init__()
        self.granted = False

    def _check(self) -> None:
        if not self.granted:
            raise AuthError(
                "hubspot", "POST /crm/v3/objects/notes answered 403: MISSING_SCOPES", 403
            )

    def find(self, record_id: str, mark: str) -> str | None:
        self._check()
        return super().find(record_id, mark)

    def add(self, record_id: str, text: str, mark: str) -> str:
        self._check()
        return super().add(record_id, text, mark)


def test_a_failed_note_stays_pending_and_lands_once_the_tool_accepts_it(world) -> None:
    """A refused note is counted, kept pending and tried by every later run, though the
    issue does not change again: its transition is not used up."""
    settings, store, writers = world
    refused = RefusedNotes()
    writers["hubspot"] = refused
    close_loop(settings, store, writers)
    store.records.save_page([issue("done")])

    first = close_loop(settings, store, writers)
    assert first == {"notified": 1, "skipped": 2, "failed": 1, "pending": 1}
    assert store.loop.pending() == {("hubspot", "7", "ANA-1", "done")}
    second = close_loop(settings, store, writers)  # still refused: still pending
    assert (second["failed"], second["pending"]) == (1, 1)

    refused.granted = True
    third = close_loop(settings, store, writers)
    assert (third["notified"], third["failed"], third["pending"]) == (1, 0, 0)
    assert list(refused.notes) == ["7"] and len(refused.notes["7"]) == 1
    assert ("hubspot", "7", "ANA-1", "done") in store.loop.noted()
    assert close_loop(settings, store, writers)["notified"] == 0
    assert len(writers["zendesk"].notes["1"]) == 1  # the ticket heard once, not per retry


def test_a_pending_note_for_a_deal_closed_since_is_dropped(world) -> None:
    settings, store, writers = world
    writers["hubspot"] = RefusedNotes()
    close_loop(settings, store, writers)
    store.records.save_page([issue("done")])
    close_loop(settings, store, writers)
    store.records.save_page([deal("7", closed=True)])
    assert close_loop(settings, store, writers)["pending"] == 0
    assert store.loop.pending() == set()


def test_hubspot_notes_are_html_with_the_summary_escaped() -> None:
    """hs_note_body is HTML: an issue summary with `<` or `&` must not become markup."""
    api = ApiClient(
        "hubspot", "https://h.example", credential_settings="PMSYNC_HUBSPOT_ACCESS_TOKEN"
    )
    with responses.RequestsMock() as mock:
        mock.add("POST", "https://h.example/crm/v3/objects/notes", json={"id": "901"}, status=201)
        note_id = HubSpotNotes(api).add(
            "7", "ANA-1 <Export> & more shipped.\n[pmsync ANA-1 done]", "[pmsync ANA-1 done]"
        )
        sent = json.loads(mock.calls[-1].request.body)
    assert note_id == "901"
    assert sent["properties"]["hs_note_body"] == (
        "<p>ANA-1 &lt;Export&gt; &amp; more shipped.<br>[pmsync ANA-1 done]</p>"
    )
    assert sent["associations"][0]["types"][0]["associationTypeId"] == 214
