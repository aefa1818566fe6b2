"""A small, honest JQL parser for the clauses pmsync sends, rejecting everything else.

Supported: `project = KEY`, `project in (A, B)`, `updated|created <op> <epoch ms>` with
op in >=, >, <=, <, joined by AND, then `ORDER BY updated|created|key [ASC|DESC], ...`.
Bare date strings are refused on purpose: real Jira reads them in the API user's profile
time zone, which silently shifts incremental windows.
"""

import re
from dataclasses import dataclass, field

TOKEN = re.compile(
    r'\s*(?:(?P<str>"[^"]*"|\'[^\']*\')|(?P<op>>=|<=|!=|=|>|<|\(|\)|,)'
    r"|(?P<word>[A-Za-z0-9_.\-]+))"
)
COMPARISONS = (">=", ">", "<=", "<")
SORTABLE = ("updated", "created", "key")


class JqlError(ValueError):
    pass


@dataclass
class Query:
    projects: set[str] | None = None
    ranges: list[tuple[str, str, int]] = field(default_factory=list)  # (field, op, epoch ms)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, ascending)


def _tokens(jql: str) -> list[tuple[str, int]]:
    tokens, pos = [], 0
    while pos < len(jql):
        if not jql[pos:].strip():
            break
        match = TOKEN.match(jql, pos)
        if not match:
            raise JqlError(
                f"Error in the JQL Query: The character '{jql[pos:].strip()[0]}' "
                f"is a reserved JQL character. (line 1, character {pos + 1})"
            )
        value = match.group("str") or match.group("op") or match.group("word")
        tokens.append((value, match.start(match.lastgroup or 0) + 1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, jql: str) -> None:
        self.tokens = _tokens(jql)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def at(self, word: str) -> bool:
        return (self.peek() or "").lower() == word

    def take(self, expected: str | None = None) -> str:
        if self.i >= len(self.tokens):
            wanted = f"'{expected}'" if expected else "more input"
            raise JqlError(
                f"Error in the JQL Query: Expecting {wanted} but reached the end of the query."
            )
        value, column = self.tokens[self.i]
        if expected and value.lower() != expected:
            raise JqlError(
                f"Error in the JQL Query: Expecting '{expected}' but got "
                f"'{value}'. (line 1, character {column})"
            )
        self.i += 1
        return value

    def fail(self, what: str) -> JqlError:
        value, column = self.tokens[min(self.i, len(self.tokens) - 1)]
        return JqlError(
            f"Error in the JQL Query: {what} but got '{value}'. (line 1, character {column})"
        )


def parse(jql: str) -> Query:
    parser, query = _Parser(jql), Query()
    while parser.peek() is not None and not parser.at("order"):
        if query.projects is not None or query.ranges:
            parser.take("and")
        _clause(parser, query)
    if parser.peek() is not None:
        parser.take("order")
        parser.take("by")
        while True:
            name = parser.take().lower()
            if name not in SORTABLE:
                parser.i -= 1
                raise parser.fail("Expecting one of updated, created, key in ORDER BY")
            ascending = True
            if parser.at("asc") or parser.at("desc"):
                ascending = parser.take().lower() == "asc"
            query.order.append((name, ascending))
            if parser.peek() != ",":
                break
            parser.take(",")
        if parser.peek() is not None:
            raise parser.fail("Expecting ',' or the end of the query")
    if query.projects is None and not query.ranges:
        raise JqlError(
            "Unbounded JQL queries are not allowed here. Please add a search "
            "restriction to your query."
        )
    return query


def _clause(parser: _Parser, query: Query) -> None:
    name = parser.take().lower()
    if name == "project":
        operator = parser.take().lower()
        if operator == "=":
            projects = {_value(parser.take())}
        elif operator == "in":
            parser.take("(")
            projects = {_value(parser.take())}
            while parser.peek() == ",":
                parser.take(",")
                projects.add(_value(parser.take()))
            parser.take(")")
        else:
            parser.i -= 1
            raise parser.fail("Expecting '=' or 'in' after project")
        query.projects = projects if query.projects is None else query.projects & projects
    elif name in ("updated", "created"):
        operator = parser.take()
        if operator not in COMPARISONS:
            parser.i -= 1
            raise parser.fail(f"Expecting one of {', '.join(COMPARISONS)} after {name}")
        value = _value(parser.take())
        if not value.isdigit():
            parser.i -= 1
            raise parser.fail("Expecting a time in epoch milliseconds")
        query.ranges.append((name, operator, int(value)))
    else:
        parser.i -= 1
        raise parser.fail("Expecting a clause on project, updated or created")


def _value(token: str) -> str:
    return token[1:-1] if token[:1] in "\"'" and len(token) > 1 else token
