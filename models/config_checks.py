"""Checks of single settings that pydantic's types cannot express: URLs, the store's URL,
the schedule, templates and the account map. Each raises ValueError with a message that
says what to fix and never repeats a secret (passwords in URLs are masked)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

# Drivers the store is built and tested for: SQLite (the standard library's driver) and
# PostgreSQL through psycopg 3 (the psycopg[binary] dependency; psycopg2 is not installed).
# Every setting is read from the environment variable of its name with this prefix.
ENV_PREFIX = "PMSYNC_"


def variable(setting: str) -> str:
    """The environment variable a setting is read from (jira_url -> PMSYNC_JIRA_URL)."""
    return f"{ENV_PREFIX}{setting.upper()}"


DATABASE_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
DATABASE_EXAMPLES = "sqlite:///.pmsync/pmsync.db or postgresql+psycopg://user:password@host/db"

# Jira's default project key format: a capital letter, then capitals, digits or '_'.
PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]+")

# What a closing-the-loop note is rendered with (services/close_loop.notify), as samples.
NOTE_SAMPLE = {
    "key": "ANA-1",
    "summary": "Export to PDF",
    "status": "Done",
    "url": "https://example.atlassian.net/browse/ANA-1",
}


def shown_url(value: str) -> str:
    """A URL as it may be shown: a user or password replaced by ***, the query (it may
    carry a token) by ?..."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return repr(value.split("@")[-1].split("?")[0])
    host = parts.netloc.rpartition("@")[2]
    shown = parts._replace(
        netloc=f"***@{host}" if "@" in parts.netloc else host,
        query="..." if parts.query else "",
        fragment="",
    )
    return repr(shown.geturl())


def http_url(value: str, example: str) -> str:
    """An http(s) URL with a host and a valid port; surrounding blanks dropped."""
    url = value.strip()
    if not url:
        raise ValueError(f"is empty: set it to the tool's address, e.g. {example}, or unset it")
    if any(char.isspace() for char in url):
        raise ValueError(
            f"{shown_url(url)} contains white space: write the address, e.g. {example}"
        )
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port  # reading it validates it: out of 0-65535 or not a number
    except ValueError:
        raise ValueError(
            f"{shown_url(url)} has an invalid port (use 1 to 65535) or host: e.g. {example}"
        ) from None
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"'{parts.scheme}://'" if parts.scheme and "//" in url else "no http(s)://"
        raise ValueError(f"{shown_url(url)} has {scheme}: write an http(s) URL, e.g. {example}")
    if not parts.hostname:
        raise ValueError(f"{shown_url(url)} names no host: e.g. {example}")
    if port == 0:
        raise ValueError(f"{shown_url(url)} has port 0: use a port from 1 to 65535")
    return url


def database_url(value: str) -> str:
    """A SQLAlchemy URL of a supported store; the password never shown."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(value.strip())
    except (ArgumentError, ValueError):
        # The value is not shown: it may hold a password that did not parse.
        raise ValueError(f"is not a database URL: use {DATABASE_EXAMPLES}") from None
    # No password, and no query: one may carry a password too (?password=...).
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    if parsed.drivername not in DATABASE_DRIVERS:
        hint = (
            " (PostgreSQL through psycopg 3)" if parsed.get_backend_name() == "postgresql" else ""
        )
        raise ValueError(
            f"{shown!r} uses {parsed.drivername!r}, which pmsync does not support{hint}: "
            f"use {DATABASE_EXAMPLES}"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(f"{shown!r} has port {parsed.port}: use a port from 1 to 65535")
    if parsed.get_backend_name() == "postgresql" and not parsed.database:
        raise ValueError(f"{shown!r} names no database: e.g. {DATABASE_EXAMPLES}")
    return value.strip()


def project_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Jira project keys, as typed (case aside): anything else would end up inside JQL."""
    for key in keys:
        if not PROJECT_KEY.fullmatch(key.upper()):
            raise ValueError(
                f"{key[:40]!r} is not a Jira project key (a letter, then letters, digits "
                "or _, e.g. ANA); list keys comma separated: ANA,WEB"
            )
    return tuple(key.upper() for key in keys)


def note_template(template: str) -> str:
    """Render the template once with sample values, as each closing note will be."""
    names = ", ".join("{" + name + "}" for name in NOTE_SAMPLE)
    try:
        template.format(**NOTE_SAMPLE)
    except KeyError as error:
        raise ValueError(
            f"unknown placeholder {{{error.args[0]}}}: use {names} (write {{{{ and }}}} "
            "for a literal brace)"
        ) from None
    except IndexError:
        raise ValueError(f"has a placeholder without a name ({{}} or {{0}}): use {names}") from None
    except (ValueError, AttributeError, TypeError) as error:
        raise ValueError(
            f"is not a valid template ({error}): use {names}, and write {{{{ and }}}} for a "
            "literal brace"
        ) from None
    return template


def timezone(name: str) -> str:
    """An IANA time zone, as Prefect's schedules accept it (prefect.types get_timezones)."""
    from zoneinfo import available_timezones

    # The default needs no scan of the system's zone files (~0.1 s on each settings load).
    if name != "UTC" and name not in available_timezones():
        raise ValueError(
            f"{name[:60]!r} is not an IANA time zone: e.g. UTC, Europe/Berlin, America/New_York"
        )
    return name


DEFAULT_CRON = "*/15 * * * *"


def cron(expression: str) -> str:
    """A cron expression Prefect's Cron schedule accepts. Prefect judges one with its copy
    of croniter 6.0 and refuses random and hashed fields (R, H); croniter 6.0 is a
    dependency here, so the same verdict comes without importing Prefect (a second or
    more, too much for every command's settings, and too early: Prefect's logging must be
    set up first). tests/test_config_at_start.py holds the verdicts to Prefect's own."""
    from croniter import croniter

    fields = expression.split()
    if not croniter.is_valid(expression):
        try:
            croniter.expand(expression)
            reason = "refused"
        except Exception as error:  # croniter's reason: out of range, columns, ...
            reason = str(error).replace(f"[{expression}] is not acceptable, ", "")
            if "columns" in reason:
                reason = f"{len(fields)} fields"
        raise ValueError(
            f"{expression[:60]!r} is not a cron expression ({reason[:80]}): five fields, "
            "minute hour day-of-month month day-of-week, e.g. */15 * * * *"
        )
    if any(field.casefold() in ("r", "h") for field in fields):
        raise ValueError(
            f"{expression[:60]!r} uses random or hashed fields (R, H), which Prefect refuses"
        )
    return expression


def read_account_map(path: Path) -> dict[tuple[str, str], str]:
    """The manual mapping: CSV rows `source,id,account` (account: a domain or any label)."""
    mapping: dict[tuple[str, str], str] = {}
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].startswith("#") or row[:3] == ["source", "id", "account"]:
                continue
            if len(row) != 3 or not all(cell.strip() for cell in row):
                raise ValueError(f"{path}:{number}: expected source,id,account, got {row}")
            mapping[(row[0].strip(), row[1].strip())] = row[2].strip().lower()
    return mapping


def account_map(path: str) -> str:
    """The account map read as a sync will read it (read_account_map)."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"account map file {path} does not exist")
    try:
        read_account_map(file)
    except UnicodeDecodeError:
        raise ValueError(
            f"{path} is not UTF-8 text (a binary file?): save it as CSV rows source,id,account"
        ) from None
    except csv.Error as error:
        raise ValueError(
            f"{path} is not a CSV file ({error}): write rows source,id,account"
        ) from None
    except OSError as error:
        raise ValueError(f"{path} cannot be read: {error.strerror}") from None
    except ValueError as error:
        # read_account_map names the file, the line and the row: keep the row short.
        raise ValueError(_short(str(error), 160)) from None
    return path


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problem_line(errors: list[dict[str, Any]]) -> str:
    """pydantic's errors as one line naming each setting, without the values."""
    problems = []
    for item in errors:
        where = ".".join(str(part) for part in item["loc"])
        setting = f"{variable(where)}: " if where else ""
        message = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        message = message.replace("Input should be", "should be")
        if item["type"] == "string_pattern_mismatch":
            message = "should be a name: a letter, then letters, digits or _"
        problems.append(f"{setting}{message}")
    return "invalid configuration: " + "; ".join(problems)
