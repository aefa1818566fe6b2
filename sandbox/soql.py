"""A small, honest SOQL parser for what a connector sends, rejecting everything else.

    SELECT <fields> FROM <object>
    [WHERE <condition>] [ORDER BY <field> [ASC|DESC], ...] [LIMIT <n>]

A condition compares a field with a literal (=, !=, <, <=, >, >=) and conditions join with
AND or OR, in parentheses where both are mixed (SOQL refuses `a OR b AND c`). Datetime
literals are unquoted ISO 8601 (`2024-05-01T10:20:30Z`); a quoted one is refused, as
Salesforce refuses it. Unknown fields and objects answer INVALID_FIELD / INVALID_TYPE.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')"
    r"|(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))"
    r"|(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
COMPARISONS = {"=", "!=", "<>", "<", "<=", ">", ">="}


class SoqlError(ValueError):
    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Condition:
    field: str
    op: str
    value: Any


@dataclass
class Group:
    joiner: str  # "AND" | "OR"
    parts: list["Condition | Group"]


@dataclass
class Query:
    sobject: str
    fields: list[str]
    where: "Condition | Group | None" = None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, ascending)
    limit: int | None = None


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while text[pos:].strip():
        match = TOKEN.match(text, pos)
        if not match or not match.lastgroup:
            raise SoqlError(f"unexpected token: '{text[pos:].split()[0]}'")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, schema: dict[str, dict[str, str]]) -> None:
        self.tokens, self.i, self.schema = _tokens(text), 0, schema
        self.fields: dict[str, str] = {}

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def at(self, word: str) -> bool:
        return self.peek().upper() == word

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise SoqlError(
                f"unexpected end of query{f', expecting {expected}' if expected else ''}"
            )
        kind, value = self.tokens[self.i]
        if expected and value.upper() != expected:
            raise SoqlError(f"unexpected token: '{value}', expecting {expected}")
        self.i += 1
        return kind, value

    def name(self) -> str:
        """A field of the object, by its canonical name (SOQL ignores case)."""
        kind, value = self.take()
        if kind != "word":
            raise SoqlError(f"unexpected token: '{value}'")
        canonical = self.fields.get(value.lower())
        if canonical is None:
            raise SoqlError(f"No such column '{value}' on entity", "INVALID_FIELD")
        return canonical


def _literal(kind: str, value: str, field_type: str, name: str) -> Any:
    wanted = {
        "datetime": "dt",
        "date": "date",
        "boolean": "word",
        "id": "str",
        "string": "str",
        "double": "num",
    }[field_type]
    if kind == "word" and value.lower() == "null":
        return None
    if kind != wanted:
        raise SoqlError(
            f"value of filter criterion for field '{name}' must be of type {field_type}"
            + (" and should not be enclosed in quotes" if kind == "str" else "")
        )
    if kind == "dt":
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "num":
        return float(value)
    if kind == "word":
        if value.lower() not in ("true", "false"):
            raise SoqlError(f"unexpected token: '{value}'")
        return value.lower() == "true"
    return value[1:-1].replace("\\'", "'").replace("\\\\", "\\")


def _condition(p: _Parser, types: dict[str, str]) -> "Condition | Group":
    if p.peek() == "(":
        p.take("(")
        inner = _expression(p, types)
        p.take(")")
        return inner
    name = p.name()
    _, op = p.take()
    if op not in COMPARISONS:
        raise SoqlError(f"unexpected token: '{op}', expecting a comparison")
    kind, value = p.take()
    return Condition(name, "!=" if op == "<>" else op, _literal(kind, value, types[name], name))


def _expression(p: _Parser, types: dict[str, str]) -> "Condition | Group":
    parts, joiner = [_condition(p, types)], None
    while p.at("AND") or p.at("OR"):
        _, word = p.take()
        if joiner and word.upper() != joiner:
            raise SoqlError(f"unexpected token: '{word}': use parentheses to mix AND and OR")
        joiner = word.upper()
        parts.append(_condition(p, types))
    return Group(joiner, parts) if joiner else parts[0]


def parse(text: str, schema: dict[str, dict[str, str]]) -> Query:
    """Parse against `schema` (object -> field -> type); raises SoqlError."""
    p = _Parser(text, schema)
    p.take("SELECT")
    raw_fields = [p.take()]
    while p.peek() == ",":
        p.take(",")
        raw_fields.append(p.take())
    p.take("FROM")
    _, sobject = p.take()
    canonical = {name.lower(): name for name in schema}.get(sobject.lower())
    if canonical is None:
        raise SoqlError(f"sObject type '{sobject}' is not supported.", "INVALID_TYPE")
    types = schema[canonical]
    p.fields = {name.lower(): name for name in types}
    fields = []
    for kind, value in raw_fields:
        if kind != "word":
            raise SoqlError(f"unexpected token: '{value}'")
        if value.lower() not in p.fields:
            raise SoqlError(f"No such column '{value}' on entity '{canonical}'", "INVALID_FIELD")
        fields.append(p.fields[value.lower()])
    query = Query(canonical, list(dict.fromkeys(fields)))
    if p.at("WHERE"):
        p.take("WHERE")
        query.where = _expression(p, types)
    if p.at("ORDER"):
        p.take("ORDER")
        p.take("BY")
        while True:
            name = p.name()
            ascending = not p.at("DESC")
            if p.at("ASC") or p.at("DESC"):
                p.take()
            query.order.append((name, ascending))
            if p.peek() != ",":
                break
            p.take(",")
    if p.at("LIMIT"):
        p.take("LIMIT")
        kind, value = p.take()
        if kind != "num" or not value.isdigit():
            raise SoqlError(f"unexpected token: '{value}', expecting a number")
        query.limit = int(value)
    if p.i < len(p.tokens):
        raise SoqlError(f"unexpected token: '{p.peek()}'")
    return query


def evaluate(where: "Condition | Group | None", record: dict[str, Any], read: Any) -> bool:
    """Whether a record passes; `read(record, field)` gives comparable values (or None)."""
    if where is None:
        return True
    if isinstance(where, Group):
        results = (evaluate(part, record, read) for part in where.parts)
        return all(results) if where.joiner == "AND" else any(results)
    actual = read(record, where.field)
    if actual is None or where.value is None:
        return (
            (actual is None) == (where.value is None)
            if where.op == "="
            else (where.op == "!=" and (actual is None) != (where.value is None))
        )
    try:
        return bool(
            {
                "=": actual == where.value,
                "!=": actual != where.value,
                "<": actual < where.value,
                "<=": actual <= where.value,
                ">": actual > where.value,
                ">=": actual >= where.value,
            }[where.op]
        )
    except TypeError:
        return False
