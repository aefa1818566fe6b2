"""What every connector shares: the page it yields and how a raw record becomes a model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from models import Record
from store import DeadLetter

CursorReader = Callable[[str], Any]


@dataclass
class Page:
    """Records of one stream, the dead letters among them, and the cursor that follows.

    `cursor` is saved in the same transaction as the records; `None` leaves it alone.
    `deleted_ids` are records the tool reports deleted (or archived): they leave the store,
    and their links and demand with them, in that same transaction.
    `complete_ids` marks the last page of a stream read in full: what the tool did not
    return is gone from the tool.
    """

    source: str
    kind: str
    stream: str
    records: list[Record] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    cursor: Any = None
    deleted_ids: list[str] = field(default_factory=list)
    complete_ids: set[str] | None = None


class Connector(Protocol):
    tool: str

    def pull(self, cursor_for: CursorReader, full: bool = False) -> Iterator[Page]: ...


class DuplicatePageToken(RuntimeError):
    """The API sent the same page token twice: following it would loop forever."""


def parse_time(value: Any, name: str = "timestamp") -> datetime:
    """Any timestamp a tool sends, as aware UTC; `name` says which field in the error.

    A value without a zone is refused: guessing one is how connectors lose data."""
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: not a timestamp: {value!r}")
    try:
        # Jira sends offsets without a colon (+0000), which fromisoformat reads since 3.11.
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name}: timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def convert(
    page: Page,
    raw: dict[str, Any],
    build: Callable[[dict[str, Any]], Record],
    raw_id: Any = None,
) -> Record | None:
    """Validate one raw record into the page, or into its dead letters with the reason."""
    record_id = raw_id if raw_id is not None else raw.get("id") if isinstance(raw, dict) else None
    try:
        record = build(raw)
    except (ValidationError, ValueError, KeyError, TypeError, AttributeError) as error:
        reason = _reason(error)
        page.dead.append(
            DeadLetter(
                page.source, page.kind, None if record_id is None else str(record_id), reason, raw
            )
        )
        return None
    page.records.append(record)
    return record


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
            for e in error.errors(include_url=False)
        ]
        return "; ".join(parts)
    if isinstance(error, KeyError):
        return f"missing field {error}"
    return f"{type(error).__name__}: {error}"
