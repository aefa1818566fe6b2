"""Internal notes on support tickets and CRM deals, for closing the loop.

Each note ends with a marker naming the issue and the transition, so a run that died after
writing a note and before recording it finds that note instead of writing a second one.
"""

from __future__ import annotations

import html
from typing import Any, Protocol

from connectors.http import ApiClient


def marker(issue_key: str, transition: str) -> str:
    return f"[pmsync {issue_key} {transition}]"


class NoteWriter(Protocol):
    def find(self, record_id: str, mark: str) -> str | None: ...

    def add(self, record_id: str, text: str, mark: str) -> str:
        """Write the note (its text ends with `mark`) exactly once; return its id."""
        ...


class ZendeskNotes:
    """A private comment, added by updating the ticket (Zendesk has no comment endpoint)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def find(self, record_id: str, mark: str) -> str | None:
        path: str | None = f"/api/v2/tickets/{record_id}/comments.json"
        while path:
            body = self.api.get_json(path)
            for comment in body.get("comments", []):
                if mark in (comment.get("body") or ""):
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
            json={"ticket": {"comment": {"body": text, "public": False}}},
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
            body = note.get("properties", {}).get("hs_note_body") or ""
            if mark in body or html.escape(mark) in body:
                return note_id
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        from datetime import UTC, datetime

        note: dict[str, Any] = {
            "properties": {
                "hs_timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "hs_note_body": "<p>" + html.escape(text).replace("\n", "<br>") + "</p>",
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
    """An internal note on the conversation, written as the workspace's API admin."""

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
            if mark in (part.get("body") or ""):
                return str(part["id"])
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        body = {
            "message_type": "note",
            "type": "admin",
            "admin_id": self.admin_id(),
            "body": "<p>" + html.escape(text).replace("\n", "<br>") + "</p>",
        }
        return self.api.write_once(
            "POST",
            f"/conversations/{record_id}/reply",
            created=lambda response: self.find(record_id, mark) or record_id,
            find_existing=lambda: self.find(record_id, mark),
            json=body,
        )


class FreshdeskNotes:
    """A private note on the ticket."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def find(self, record_id: str, mark: str) -> str | None:
        path: str | None = f"/api/v2/tickets/{record_id}/conversations"
        while path:
            response = self.api.request("GET", path)
            for note in response.json():
                if mark in (note.get("body_text") or note.get("body") or ""):
                    return str(note["id"])
            path = response.links.get("next", {}).get("url")
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        return self.api.write_once(
            "POST",
            f"/api/v2/tickets/{record_id}/notes",
            created=lambda response: str(response.json()["id"]),
            find_existing=lambda: self.find(record_id, mark),
            json={"body": html.escape(text).replace("\n", "<br>"), "private": True},
        )


class SalesforceNotes:
    """A completed Task on the opportunity: what a sales rep sees in its activity."""

    def __init__(self, connector: Any) -> None:
        self.connector = connector

    def find(self, record_id: str, mark: str) -> str | None:
        safe = record_id.replace("\\", "").replace("'", "")
        soql = f"SELECT Id, Description FROM Task WHERE WhatId = '{safe}'"
        for batch in self.connector.query(soql):
            for task in batch:
                if mark in (task.get("Description") or ""):
                    return str(task["Id"])
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        task = {
            "WhatId": record_id,
            "Subject": text.split(". ")[0][:255],
            "Description": text,
            "Status": "Completed",
        }
        return self.connector.api.write_once(
            "POST",
            "/services/data/v60.0/sobjects/Task",
            created=lambda response: str(response.json()["id"]),
            find_existing=lambda: self.find(record_id, mark),
            json=task,
        )
