"""Zendesk's note writer: a private comment, as `html_body`. The comment `body` renders
Markdown ("Markdown formatting is supported in body but not in html_body": a summary with
`**` or `[x](javascript:...)` would become formatting or a link), so the HTML one is used."""

from __future__ import annotations

from connectors.http import ApiClient
from connectors.notes import as_html, holds


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
