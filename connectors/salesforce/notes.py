"""Salesforce's note writer: a completed Task on the opportunity; its `Description` is a
plain text area, shown as typed."""

from __future__ import annotations

from typing import Any

from connectors.notes import holds, plain


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
