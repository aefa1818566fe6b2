"""Intercom's note writer: an internal note on the conversation; its `body` is HTML
("Notes accept some HTML formatting")."""

from __future__ import annotations

from connectors.http import ApiClient
from connectors.notes import as_html, holds


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
