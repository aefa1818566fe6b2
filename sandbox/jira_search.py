"""Running a parsed JQL query over stored issues, with Jira's opaque page tokens."""

import zlib
from datetime import datetime
from typing import Any

from sandbox.jql import Query
from sandbox.timefmt import epoch_ms, order_time
from sandbox.web import decode_cursor, encode_cursor


class TokenError(ValueError):
    pass


def _fields(issue: dict[str, Any]) -> dict[str, Any]:
    fields = issue.get("fields")
    return fields if isinstance(fields, dict) else {}


def project_of(issue: dict[str, Any]) -> str:
    return str(issue.get("key", "")).partition("-")[0].upper()


def matches(issue: dict[str, Any], query: Query, now: datetime) -> bool:
    if query.projects is not None and project_of(issue) not in query.projects:
        return False
    for name, op, bound in query.ranges:
        ms = epoch_ms(order_time(_fields(issue).get(name), now))
        if not {">=": ms >= bound, ">": ms > bound, "<=": ms <= bound, "<": ms < bound}[op]:
            return False
    for name, negated, values in query.filters:
        if bool(_names(issue, name) & values) == negated:
            return False
    for fid, op, given in query.numbers:
        value = _fields(issue).get(fid)
        if not isinstance(value, int | float):
            return False  # an empty field matches no comparison, as in Jira
        compared = {">=": value >= given, ">": value > given, "<=": value <= given}
        compared.update({"<": value < given, "=": value == given, "!=": value != given})
        if not compared[op]:
            return False
    return True


def _names(issue: dict[str, Any], name: str) -> set[str]:
    """What a status clause may name the issue's status (or its category) by, lower-cased;
    for `labels`, its labels."""
    if name == "labels":
        return {str(label).lower() for label in _fields(issue).get("labels") or ()}
    status = _fields(issue).get("status")
    status = status if isinstance(status, dict) else {}
    if name == "statusCategory":
        category = status.get("statusCategory")
        status = category if isinstance(category, dict) else {}
    return {str(status[k]).lower() for k in ("id", "key", "name") if status.get(k) is not None}


def sort_key(issue: dict[str, Any], order: list[tuple[str, bool]], now: datetime) -> list[Any]:
    key: list[Any] = []
    for name, ascending in order:
        if name == "key":
            project, _, number = str(issue.get("key", "")).partition("-")
            num = int(number) if number.isdigit() else 0
            # Descending text sorts by negated code points, with a terminator for prefixes.
            key.append([project, num] if ascending else [[-ord(c) for c in project] + [0], -num])
        elif name == "status":
            status = _fields(issue).get("status")
            text = str(status.get("name", "")) if isinstance(status, dict) else ""
            key.append(text if ascending else [-ord(c) for c in text] + [0])
        elif name in ("updated", "created"):
            ms = epoch_ms(order_time(_fields(issue).get(name), now))
            key.append(ms if ascending else -ms)
        else:  # a custom number field; empty values sort last ascending (unconfirmed)
            value = _fields(issue).get(name)
            amount = float(value) if isinstance(value, int | float) else None
            if amount is None:
                key.append([1, 0.0] if ascending else [0, 0.0])
            else:
                key.append([0, amount] if ascending else [1, -amount])
    return key


def search(
    issues: list[dict[str, Any]],
    query: Query,
    jql: str,
    token: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of matching issues and the token of the next page (None on the last).

    The token carries the sort position of the page's last issue, so an issue that is
    updated while a client pages moves behind it and is served again, never skipped."""
    order = [*(query.order or [("updated", True)]), ("key", True)]
    found = sorted(
        ((sort_key(i, order, now), i) for i in issues if matches(i, query, now)),
        key=lambda pair: pair[0],
    )
    fingerprint = zlib.crc32(jql.encode())
    if token:
        try:
            position = decode_cursor(token)
            if position["q"] != fingerprint:
                raise TokenError(token)
            found = [pair for pair in found if pair[0] > position["after"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError(token) from exc
    page = found[:limit]
    more = len(found) > limit
    return [i for _, i in page], (
        encode_cursor({"q": fingerprint, "after": page[-1][0]}) if more else None
    )
