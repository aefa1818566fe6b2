"""Each vendor's timestamp format, and lenient parsing for records injected by tests."""

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def jira_time(when: datetime) -> str:
    # Jira: yyyy-MM-dd'T'HH:mm:ss.SSSZ, offset without a colon.
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}+0000"


def zendesk_time(when: datetime) -> str:
    return f"{when:%Y-%m-%dT%H:%M:%SZ}"


def hubspot_time(when: datetime) -> str:
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string (any vendor's flavour), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def order_time(value: object, now: datetime) -> datetime:
    """For sorting and filtering: an unparsable (injected) timestamp counts as `now`."""
    return parse_time(value) or now


def epoch_ms(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding


def from_epoch_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)
