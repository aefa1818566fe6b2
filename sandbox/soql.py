"""A small, honest SOQL parser for what a connector sends, rejecting everything else.

    SELECT <field | convertCurrency(<field>) [alias]>, ... FROM <object>
    [WHERE <condition>] [ORDER BY <field> [ASC|DESC], ...] [LIMIT <n>]

A condition compares a field with a literal (=, !=, <, <=, >, >=) and conditions join with
AND or OR, in parentheses where both are mixed (SOQL refuses `a OR b AND c`). Datetime
literals are unquoted ISO 8601 (`2024-05-01T10:20:30Z`); a quoted one is refused, as
Salesforce refuses it. Unknown fields and objects answer INVALID_FIELD / INVALID_TYPE, worded
as Salesforce words them (the query, a caret under the culprit, its row and column).
`convertCurrency(field)` converts a currency field into the corporate currency in a
multi-currency org; the answer names it by its alias, or by the field's own name without one
(SOQL and SOSL reference, "convertCurrency()").
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


CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the "
    "custom field name. Please reference your WSDL or the describe call for the appropriate "
    "names."
)
CUSTOM_OBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the "
    "entity name. Please reference your WSDL or the describe call for the appropriate names."
)


class SoqlError(ValueError):
    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.code = code


def located(text: str, position: int, message: str) -> str:
    """Salesforce's wording of a query error: the query, a caret under the culprit, then
    `ERROR at Row:r:Column:c` and the message (columns count from 1)."""
    before = text[:position]
    row = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    line = text.splitlines()[row - 1] if text else ""
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{message}"


@dataclass
class Column:
    """One selected column: the key it has in the answer, the field, and whether it is
    converted into the corporate currency."""

    key: str
    field: str
    convert: bool = False


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
    columns: list[Column] = field(default_factory=list)


def _tokens(text: str) -> tuple[list[tuple[str, str]], list[int]]:
    """The tokens, and where each starts in the text."""
    tokens, starts, pos = [], [], 0
    while text[pos:].strip():
        match = TOKEN.match(text, pos)
        if not match or not match.lastgroup:
            raise SoqlError(f"unexpected token: '{text[pos:].split()[0]}'")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        starts.append(match.start(match.lastgroup))
        pos = match.end()
    return tokens, starts


class _Parser:
    def __init__(self, text: str, schema: dict[str, dict[str, str]]) -> None:
        self.text = text
        (self.tokens, self.starts), self.i, self.schema = _tokens(text), 0, schema
        self.fields: dict[str, str] = {}
        self.sobject = ""

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def at(self, word: str) -> bool:
        return self.peek().upper() == word

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise SoqlError("unexpected token: '<EOF>'")  # as Salesforce words it
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
        return self.known(value, self.i - 1)

    def known(self, value: str, index: int) -> str:
        canonical = self.fields.get(value.lower())
        if canonical is None:
            message = f"No such column '{value}' on entity '{self.sobject}'. {CUSTOM_FIELD_HINT}"
            raise SoqlError(located(self.text, self.starts[index], message), "INVALID_FIELD")
        return canonical


def _literal(kind: str, value: str, field_type: str, name: str) -> Any:
    wanted = {
        "datetime": "dt",
        "date": "date",
        "boolean": "word",
        "id": "str",
        "string": "str",
        "double": "num",
        "currency": "num",
        "percent": "num",
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
    raw = [_select_item(p)]
    while p.peek() == ",":
        p.take(",")
        raw.append(_select_item(p))
    p.take("FROM")
    _, sobject = p.take()
    canonical = {name.lower(): name for name in schema}.get(sobject.lower())
    if canonical is None:
        message = f"sObject type '{sobject}' is not supported. {CUSTOM_OBJECT_HINT}"
        raise SoqlError(located(text, p.starts[p.i - 1], message), "INVALID_TYPE")
    types = schema[canonical]
    p.fields = {name.lower(): name for name in types}
    p.sobject = canonical
    columns: dict[str, Column] = {}
    for index, value, convert, alias in raw:
        name = p.known(value, index)
        if convert and types[name] != "currency":
            raise SoqlError(
                located(
                    text, p.starts[index], f"convertCurrency: '{name}' is not a currency field"
                ),
                "INVALID_FIELD",
            )
        key = alias or name
        columns.setdefault(key.lower(), Column(key, name, convert))
    query = Query(canonical, [c.field for c in columns.values()], columns=list(columns.values()))
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


def _select_item(p: _Parser) -> tuple[int, str, bool, str | None]:
    """(token index, field, converted, alias) of one item of the SELECT list."""
    index = p.i
    kind, value = p.take()
    if kind != "word":
        raise SoqlError(f"unexpected token: '{value}'")
    if value.lower() != "convertcurrency" or p.peek() != "(":
        return index, value, False, None
    p.take("(")
    index = p.i
    kind, value = p.take()
    if kind != "word":
        raise SoqlError(f"unexpected token: '{value}'")
    p.take(")")
    alias = None
    if p.i < len(p.tokens) and p.tokens[p.i][0] == "word" and p.peek().upper() != "FROM":
        alias = p.take()[1]
    return index, value, True, alias


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
