"""Small builders of pmsync's own records (models.records) for tests.

Each fills what the model requires with plain defaults, so a test names only the fields it
cares about; any field, defaults included, can be named to override it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from models import Account, Deal, Feedback, Link, ToolLink

# When a built record last changed, unless the test names its own `updated_at`.
UPDATED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def feedback(id: str, **fields: Any) -> Feedback:
    """Zendesk ticket `id`."""
    defaults = {
        "source": "zendesk",
        "url": f"https://z.example/agent/tickets/{id}",
        "updated_at": UPDATED,
    }
    return Feedback(**{**defaults, "id": id, **fields})


def deal(id: str, **fields: Any) -> Deal:
    """HubSpot deal `id`, open."""
    defaults = {
        "source": "hubspot",
        "url": f"https://h.example/deals/{id}",
        "name": f"Deal {id}",
        "stage": "qualifiedtobuy",
        "is_closed": False,
        "is_won": False,
        "updated_at": UPDATED,
    }
    return Deal(**{**defaults, "id": id, **fields})


def account(id: str, **fields: Any) -> Account:
    """Account `id` of `source` (HubSpot unless named)."""
    source = fields.get("source", "hubspot")
    defaults = {
        "source": source,
        "url": f"https://{source}.example/{id}",
        "name": f"Account {id}",
        "updated_at": UPDATED,
    }
    return Account(**{**defaults, "id": id, **fields})


def tool_link(id: str, record_id: str, issue_key: str, **fields: Any) -> ToolLink:
    """Link `id` a tool (Zendesk unless named) keeps from its record to an issue."""
    defaults = {"source": "zendesk", "url": f"https://example/{id}", "updated_at": UPDATED}
    return ToolLink(
        **{**defaults, "id": id, "record_id": record_id, "issue_key": issue_key, **fields}
    )


def feedback_link(record_id: str, issue_key: str, **fields: Any) -> Link:
    """Zendesk ticket `record_id` citing `issue_key`."""
    defaults = {"source": "zendesk", "kind": "feedback", "method": "cited_key"}
    return Link(**{**defaults, "record_id": record_id, "issue_key": issue_key, **fields})


def deal_link(record_id: str, issue_key: str, **fields: Any) -> Link:
    """HubSpot deal `record_id` naming `issue_key` in its field."""
    defaults = {"source": "hubspot", "kind": "deal", "method": "deal_field"}
    return Link(**{**defaults, "record_id": record_id, "issue_key": issue_key, **fields})
