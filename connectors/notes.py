"""Internal notes on support tickets and CRM deals, for closing the loop.

Each note ends with a marker naming the issue and the transition, so a run that died after
writing a note and before recording it finds that note instead of writing a second one.
"""

from __future__ import annotations

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
    """A note associated with the deal (association type 214: note to deal)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def find(self, record_id: str, mark: str) -> str | None:
        body = self.api.get_json(f"/crm/v4/objects/deals/{record_id}/associations/notes")
        for item in body.get("results", []):
            note_id = str(item["toObjectId"])
            note = self.api.get_json(
                f"/crm/v3/objects/notes/{note_id}", params={"properties": "hs_note_body"}
            )
            if mark in (note.get("properties", {}).get("hs_note_body") or ""):
                return note_id
        return None

    def add(self, record_id: str, text: str, mark: str) -> str:
        from datetime import UTC, datetime

        note: dict[str, Any] = {
            "properties": {
                "hs_timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "hs_note_body": text,
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
