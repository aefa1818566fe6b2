"""A small, honest JQL parser for the clauses clients send, rejecting everything else.

Supported, joined by AND:
- `project = KEY`, `project in (A, B)`;
- `updated|created <op> <time>` with op in >=, >, <=, <, where the time is epoch
  milliseconds, a date string (`"2025-01-01 00:00"`, `"2025/01/01 13:45"`, `"2025-01-01"`,
  `"2025/01/01"`) or a relative period (`-30d`, `-4w`, `-2h`, `-15m`, `"-1w 2d"`). Jira reads
  dates in the API user's profile time zone (the sandbox user's is UTC) and relative
  periods from now;
- `status` and `statusCategory` with =, !=, in, not in: a status by name or id, a category
  by name, key or id, case-insensitively; `labels` the same, by label;
- a custom number field by its clause names (`"Customer Requests" > 0`, `cf[10050] >= 5`)
  with =, !=, >, >=, <, <=: an issue whose field is empty matches none;
then `ORDER BY updated|created|key|status|<custom field> [ASC|DESC], ...`, a custom field
named by its clause names (`"Customer Revenue"` or `cf[10050]`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sandbox.timefmt import epoch_ms, utcnow

TOKEN = re.compile(
    r'\s*(?:(?P<str>"[^"]*"|\'[^\']*\')|(?P<op>>=|<=|!=|=|>|<|\(|\)|,)'
    r"|(?P<word>cf\[\d+\]|[A-Za-z0-9_.\-/:]+))"
)
COMPARISONS = (">=", ">", "<=", "<")
SORTABLE = ("updated", "created", "key", "status")
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
PERIOD = re.compile(r"^\s*([+-]?)((?:\s*\d+\s*[wdhm])+)\s*$")
UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
UNITS["m"] = timedelta(minutes=1)
USER_TIME_ZONE = UTC  # the sandbox API user's profile time zone (myself: Etc/UTC)


class JqlError(ValueError):
    pass


@dataclass
class Query:
    projects: set[str] | None = None
    ranges: list[tuple[str, str, int]] = field(default_factory=list)  # (field, op, epoch ms)
    # (status | statusCategory, negated, lower-cased names, keys or ids)
    filters: list[tuple[str, bool, set[str]]] = field(default_factory=list)
    numbers: list[tuple[str, str, float]] = field(default_factory=list)  # (field id, op, value)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field id, ascending)

    @property
    def bounded(self) -> bool:
        return self.projects is not None or bool(self.ranges or self.filters or self.numbers)


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

    def values(self) -> set[str]:
        """`( a, b, ... )`: the values of an `in` list."""
        self.take("(")
        found = {_value(self.take())}
        while self.peek() == ",":
            self.take(",")
            found.add(_value(self.take()))
        self.take(")")
        return found


def parse(
    jql: str, now: datetime | None = None, sortable: Mapping[str, str] | None = None
) -> Query:
    """`sortable`: lower-cased clause names of the custom fields (`customer revenue`,
    `cf[10051]`) -> field id, for ORDER BY."""
    parser, query = _Parser(jql), Query()
    clock = now or utcnow()
    while parser.peek() is not None and not parser.at("order"):
        if query.bounded:
            parser.take("and")
        _clause(parser, query, clock, sortable or {})
    if parser.peek() is not None:
        parser.take("order")
        parser.take("by")
        while True:
            name = _value(parser.take()).lower()
            fid = name if name in SORTABLE else (sortable or {}).get(name)
            if fid is None:
                parser.i -= 1
                raise parser.fail(
                    "Expecting a field that can be ordered by (updated, created, key, status "
                    "or a custom field) in ORDER BY"
                )
            ascending = True
            if parser.at("asc") or parser.at("desc"):
                ascending = parser.take().lower() == "asc"
            query.order.append((fid, ascending))
            if parser.peek() != ",":
                break
            parser.take(",")
        if parser.peek() is not None:
            raise parser.fail("Expecting ',' or the end of the query")
    if not query.bounded:
        raise JqlError(
            "Unbounded JQL queries are not allowed here. Please add a search "
            "restriction to your query."
        )
    return query


def _clause(parser: _Parser, query: Query, now: datetime, numbers: Mapping[str, str]) -> None:
    name = parser.take().lower()
    if name == "project":
        operator = parser.take().lower()
        if operator == "=":
            projects = {_value(parser.take()).upper()}
        elif operator == "in":
            projects = {p.upper() for p in parser.values()}
        else:
            parser.i -= 1
            raise parser.fail("Expecting '=' or 'in' after project")
        query.projects = projects if query.projects is None else query.projects & projects
    elif name in ("updated", "created"):
        operator = parser.take()
        if operator not in COMPARISONS:
            parser.i -= 1
            raise parser.fail(f"Expecting one of {', '.join(COMPARISONS)} after {name}")
        ms = moment(_value(parser.take()), now)
        if ms is None:
            parser.i -= 1
            raise parser.fail(
                f"Date value for field '{name}' is invalid. Valid formats include: "
                "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a "
                "period format e.g. '-5d', '4w 2d'"
            )
        query.ranges.append((name, operator, ms))
    elif name in ("status", "statuscategory", "labels"):
        operator = parser.take().lower()
        negated = operator in ("!=", "not")
        if operator == "not":
            parser.take("in")
            values = parser.values()
        elif operator == "in":
            values = parser.values()
        elif operator in ("=", "!="):
            values = {_value(parser.take())}
        else:
            parser.i -= 1
            raise parser.fail(f"Expecting one of =, !=, in, not in after {name}")
        field_name = {"statuscategory": "statusCategory"}.get(name, name)
        query.filters.append((field_name, negated, {v.lower() for v in values}))
    elif _value(name) in numbers:
        operator = parser.take()
        if operator not in (*COMPARISONS, "=", "!="):
            parser.i -= 1
            raise parser.fail(f"Expecting one of =, !=, {', '.join(COMPARISONS)}")
        text = _value(parser.take())
        try:
            bound = float(text)
        except ValueError:
            parser.i -= 1
            raise parser.fail(f"Expecting a number for field '{_value(name)}'") from None
        query.numbers.append((numbers[_value(name)], operator, bound))
    else:
        parser.i -= 1
        raise parser.fail(
            "Expecting a clause on project, updated, created, status or statusCategory"
        )


def moment(value: str, now: datetime) -> int | None:
    """Epoch ms of a JQL time: epoch ms, a date in the user's time zone, or a period."""
    if value.isdigit():
        return int(value)
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
        return epoch_ms(parsed.replace(tzinfo=USER_TIME_ZONE))
    period = PERIOD.match(value)
    if period is None:
        return None
    sign = -1 if period.group(1) == "-" else 1
    span = sum(
        (int(n) * UNITS[unit] for n, unit in re.findall(r"(\d+)\s*([wdhm])", period.group(2))),
        timedelta(),
    )
    return epoch_ms(now + sign * span)


def _value(token: str) -> str:
    return token[1:-1] if token[:1] in "\"'" and len(token) > 1 else token
