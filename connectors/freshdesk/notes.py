"""Freshdesk's note writer: a private note on the ticket; its `body` is HTML ("Content of
the note in HTML")."""

from __future__ import annotations

from typing import Any

from connectors.http import ApiClient
from connectors.notes import as_html, holds
from connectors.paging import Request, Stream, link_header

# A ticket's conversations, paged by `Link: rel="next"`.
FRESHDESK_NOTES = link_header("freshdesk {path} repeated next link {token}")


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
