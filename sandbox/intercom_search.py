"""Intercom's search query language for conversations: validation and evaluation.

A query is a filter `{field, operator, value}` or a group `{operator: AND|OR, value: [...]}`;
groups nest at most two deep with at most 15 entries each. Dates are unix seconds and only
take `=`, `!=`, `>`, `<` (there is no `>=`); strings take `=`, `!=`, `IN`, `NIN`, `~`, `!~`,
`^`, `$`. A value of the wrong type fails the whole query, as Intercom's does.
"""

from typing import Any

DATES = {"created_at", "updated_at", "waiting_since", "snoozed_until"}
BOOLEANS = {"open", "read"}
STRINGS = {
    "id",
    "title",
    "state",
    "priority",
    "source.type",
    "source.id",
    "source.subject",
    "source.body",
    "source.author.id",
    "source.author.type",
    "source.author.name",
    "source.author.email",
    "contact_ids",
    "tag_ids",
    "admin_assignee_id",
    "team_assignee_id",
}
OPERATORS = {
    "date": {"=", "!=", ">", "<"},
    "boolean": {"=", "!="},
    "string": {"=", "!=", "IN", "NIN", "~", "!~", "^", "$"},
}
MAX_DEPTH, MAX_GROUP = 2, 15


class QueryError(ValueError):
    pass


def _kind(name: str) -> str:
    if name in DATES:
        return "date"
    if name in BOOLEANS:
        return "boolean"
    if name in STRINGS:
        return "string"
    raise QueryError(f"'{name}' is not a searchable conversation field")


def _check_value(name: str, kind: str, operator: str, value: Any) -> None:
    values = value if operator in ("IN", "NIN") else [value]
    if not isinstance(values, list) or not values:
        raise QueryError(f"{operator} on {name} takes a non-empty array")
    for item in values:
        ok = {
            "date": isinstance(item, int) and not isinstance(item, bool),
            "boolean": isinstance(item, bool),
            "string": isinstance(item, str | int) and not isinstance(item, bool),
        }[kind]
        if not ok:
            raise QueryError(f"The value {item!r} does not match the type of {name} ({kind})")


def validate(query: Any, depth: int = 0) -> None:
    if not isinstance(query, dict):
        raise QueryError("query must be an object")
    if query.get("operator") in ("AND", "OR"):
        entries = query.get("value")
        if depth >= MAX_DEPTH:
            raise QueryError(f"Queries can nest at most {MAX_DEPTH} levels of AND/OR")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_GROUP:
            raise QueryError(f"An AND/OR group takes 1 to {MAX_GROUP} filters")
        for entry in entries:
            validate(entry, depth + 1)
        return
    name, operator = query.get("field"), query.get("operator")
    if not isinstance(name, str) or "value" not in query:
        raise QueryError("Each filter needs a field, an operator and a value")
    kind = _kind(name)
    if operator not in OPERATORS[kind]:
        raise QueryError(f"Operator {operator!r} is not supported for {name} ({kind})")
    _check_value(name, kind, str(operator), query["value"])


def _values(conversation: dict[str, Any], name: str) -> list[Any]:
    """A field's values: list-like fields (contacts, tags) give several."""
    if name == "contact_ids":
        found = (conversation.get("contacts") or {}).get("contacts") or []
        return [str(c.get("id")) for c in found if isinstance(c, dict)]
    if name == "tag_ids":
        found = (conversation.get("tags") or {}).get("tags") or []
        return [str(t.get("id")) for t in found if isinstance(t, dict)]
    value: Any = conversation
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if name == "source.body" and isinstance(value, str):
        return value.replace("<", " <").replace(">", "> ").split()  # matched word by word
    return [value]


def _compare(actual: Any, operator: str, wanted: Any, kind: str) -> bool:
    if actual is None:
        return operator in ("!=", "NIN", "!~")
    if kind == "date":
        if not isinstance(actual, int) or isinstance(actual, bool):
            return operator == "!="  # an unparsable stored date matches no range
        return {
            "=": actual == wanted,
            "!=": actual != wanted,
            ">": actual > wanted,
            "<": actual < wanted,
        }[operator]
    if kind == "boolean":
        return (actual == wanted) == (operator == "=")
    text, target = str(actual).lower(), str(wanted).lower()
    return {
        "=": text == target,
        "!=": text != target,
        "~": target in text,
        "!~": target not in text,
        "^": text.startswith(target),
        "$": text.endswith(target),
    }[operator]


def matches(conversation: dict[str, Any], query: dict[str, Any]) -> bool:
    if query.get("operator") == "AND":
        return all(matches(conversation, q) for q in query["value"])
    if query.get("operator") == "OR":
        return any(matches(conversation, q) for q in query["value"])
    name, operator, wanted = query["field"], query["operator"], query["value"]
    kind, values = _kind(name), _values(conversation, name)
    if operator in ("IN", "NIN"):
        hit = any(_compare(v, "=", w, kind) for v in values for w in wanted)
        return hit == (operator == "IN")
    if operator in ("!=", "!~"):
        return all(_compare(v, operator, wanted, kind) for v in values)
    return any(_compare(v, operator, wanted, kind) for v in values)
