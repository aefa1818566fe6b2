"""HubSpot's note writer: a note on the deal; its `hs_note_body` is HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.http import ApiClient
from connectors.notes import as_html, holds


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
