"""Internal notes on support tickets and CRM deals, for closing the loop.

Each note ends with a marker naming the issue and the transition, so a run that died after
writing a note and before recording it finds that note instead of writing a second one.

A note carries text people typed elsewhere (an issue summary, a version name), so each is
written in the form its field is rendered in, and arrives as the literal text, never as
markup: HTML, escaped, for HubSpot's `hs_note_body`, Intercom's note `body` ("Notes accept
some HTML formatting") and Freshdesk's note `body` ("Content of the note in HTML"); HTML too
for Zendesk, whose comment `body` renders Markdown ("Markdown formatting is supported in
body but not in html_body": a summary with `**` or `[x](javascript:...)` would become
formatting or a link), so `html_body` is used; plain text for Salesforce's Task
`Description` (a text area, shown as typed).
"""

from __future__ import annotations

import html
import re
from typing import Any, Protocol

from connectors.http import ApiClient
from connectors.paging import Request, Stream, link_header

# C0 control characters other than tab and newline (and DEL): no one types them, HTML
# cannot carry them (a NUL becomes U+FFFD) and some APIs refuse them.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A ticket's conversations, paged by `Link: rel="next"`.
FRESHDESK_NOTES = link_header("freshdesk {path} repeated next link {token}")


# The marker `marker` makes, as found in a note coming back (webhooks' own-write checks).
NOTE_MARKER = re.compile(r"\[pmsync [A-Za-z][A-Za-z0-9_]*-\d+ [^\]]+\]")


def marker(issue_key: str, transition: str) -> str:
    return f"[pmsync {issue_key} {transition}]"


def plain(text: str) -> str:
    """The text with its line breaks as `\n` (a `\r\n` or lone `\r` typed on Windows or
    an old Mac is one break) and no control characters."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def as_html(text: str) -> str:
    """HTML that shows exactly `text`: `<`, `>`, `&` and both quotes escaped (a `<script>`
    or `</p>` in a summary stays words, `&amp;` shows as typed), a `<br>` per line break."""
    return "<p>" + html.escape(plain(text), quote=True).replace("\n", "<br>") + "</p>"


def holds(mark: str, *bodies: Any) -> bool:
    """Whether a note's body, as the tool returns it (plain text, or HTML in which the
    mark's `&` or quotes may come back escaped), carries `mark`."""
    return any(
        isinstance(body, str) and (mark in body or mark in html.unescape(body)) for body in bodies
    )


class NoteWriter(Protocol):
    def find(self, record_id: str, mark: str) -> str | None: ...

    def add(self, record_id: str, text: str, mark: str) -> str:
        """Write the note (its text ends with `mark`) exactly once; return its id."""
        ...


class ZendeskNotes:
    """A private comment, added by updating the ticket (Zendesk has no comment endpoint),
    as `html_body`: the plain `body` would render the text's Markdown."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def find(self, record_id: str, mark: str) -> str | None:
        path: str | None = f"/api/v2/tickets/{record_id}/comments.json"
        while path:
            body = self.api.get_json(path)
            for comment in body.get("comments", []):
                if holds(mark, comment.get("body"), comment.get("html_body")):
                    return str(comment["id"])
            path = body.get("next_page")
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        # Each PUT with a comment adds one: never retried blind.
        return self.api.write_once(
            "PUT",
            f"/api/v2/tickets/{record_id}.json",
            created=lambda response: self.find(record_id, mark) or record_id,
            find_existing=lambda: self.find(record_id, mark),
            json={"ticket": {"comment": {"html_body": as_html(text), "public": False}}},
        )


class HubSpotNotes:
    """A note associated with the deal (association type 214: note to deal). `hs_note_body`
    is HTML: the text (an issue summary may hold `<` or `&`) is escaped, its lines kept."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def find(self, record_id: str, mark: str) -> str | None:
        body = self.api.get_json(f"/crm/v4/objects/deals/{record_id}/associations/notes")
        for item in body.get("results", []):
            note_id = str(item["toObjectId"])
            note = self.api.get_json(
                f"/crm/v3/objects/notes/{note_id}", params={"properties": "hs_note_body"}
            )
            if holds(mark, note.get("properties", {}).get("hs_note_body")):
                return note_id
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        from datetime import UTC, datetime

        note: dict[str, Any] = {
            "properties": {
                "hs_timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "hs_note_body": as_html(text),
            },
            "associations": [
                {
                    "to": {"id": record_id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}],
                }
            ],
        }
        return self.api.write_once(
            "POST",
            "/crm/v3/objects/notes",
            created=lambda response: str(response.json()["id"]),
            find_existing=lambda: self.find(record_id, mark),
            json=note,
        )


class IntercomNotes:
    """An internal note on the conversation, written as the workspace's API admin; its
    `body` is HTML."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self._admin: str | None = None

    def admin_id(self) -> str:
        if self._admin is None:
            self._admin = str(self.api.get_json("/me")["id"])
        return self._admin

    def find(self, record_id: str, mark: str) -> str | None:
        conversation = self.api.get_json(f"/conversations/{record_id}")
        parts = (conversation.get("conversation_parts") or {}).get("conversation_parts") or []
        for part in parts:
            if holds(mark, part.get("body")):
                return str(part["id"])
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        body = {
            "message_type": "note",
            "type": "admin",
            "admin_id": self.admin_id(),
            "body": as_html(text),
        }
        return self.api.write_once(
            "POST",
            f"/conversations/{record_id}/reply",
            created=lambda response: self.find(record_id, mark) or record_id,
            find_existing=lambda: self.find(record_id, mark),
            json=body,
        )


class FreshdeskNotes:
    """A private note on the ticket; its `body` is HTML (`body_text` the plain text)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def find(self, record_id: str, mark: str) -> str | None:
        def send(request: Request) -> Any:
            return self.api.request("GET", request.path)

        path = f"/api/v2/tickets/{record_id}/conversations"
        for response in Stream(path, "[]", FRESHDESK_NOTES).pages(send):
            for note in response.json():
                if holds(mark, note.get("body_text"), note.get("body")):
                    return str(note["id"])
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        return self.api.write_once(
            "POST",
            f"/api/v2/tickets/{record_id}/notes",
            created=lambda response: str(response.json()["id"]),
            find_existing=lambda: self.find(record_id, mark),
            json={"body": as_html(text), "private": True},
        )


class SalesforceNotes:
    """A completed Task on the opportunity: what a sales rep sees in its activity. Its
    `Description` is a plain text area: the text goes as it is."""

    def __init__(self, connector: Any) -> None:
        self.connector = connector

    def find(self, record_id: str, mark: str) -> str | None:
        safe = record_id.replace("\\", "").replace("'", "")
        soql = f"SELECT Id, Description FROM Task WHERE WhatId = '{safe}'"
        for batch in self.connector.query(soql):
            for task in batch:
                if holds(mark, task.get("Description")):
                    return str(task["Id"])
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        text = plain(text)
        task = {
            "WhatId": record_id,
            # The Subject is one line of at most 255 characters: the note's first sentence.
            "Subject": " ".join(text.split(". ")[0].split())[:255],
            "Description": text,
            "Status": "Completed",
        }
        written: str = self.connector.api.write_once(
            "POST",
            "/services/data/v60.0/sobjects/Task",
            created=lambda response: str(response.json()["id"]),
            find_existing=lambda: self.find(record_id, mark),
            json=task,
        )
        return written
