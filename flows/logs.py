"""Where pmsync's log lines go: the run's Prefect logs, the console, and not much else.

- Every `pmsync.*` logger logs at INFO (DEBUG with `PMSYNC_LOG_LEVEL=DEBUG`), whatever the
  console shows: Prefect's API handler is attached to `pmsync` (Prefect's
  `PREFECT_LOGGING_EXTRA_LOGGERS`), so each line a flow run logs is in that run's logs.
- Each line logged while a tool's step runs names the tool (`<tool>: ...`), also when the
  code that logs does not know it (the HTTP layer's retries, a store warning).
- Libraries' request lines (httpx, which Prefect's client uses, urllib3, uvicorn's access
  log) are off unless `PMSYNC_LOG_LEVEL=DEBUG`: 13 lines of `POST .../api/...` a run say
  nothing to ops.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Iterator

LEVEL_ENV = "PMSYNC_LOG_LEVEL"
LIBRARIES = ("httpx", "httpcore", "urllib3", "uvicorn.access", "websockets", "asyncio", "alembic")

# The tool whose step is running in this thread (a pull, a lookup): log lines name it.
current_tool: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pmsync_tool", default=None
)


@contextlib.contextmanager
def for_tool(tool: str | None) -> Iterator[None]:
    token = current_tool.set(tool)
    try:
        yield
    finally:
        current_tool.reset(token)


_factory = logging.getLogRecordFactory()


def _record(*args: object, **kwargs: object) -> logging.LogRecord:
    """Puts `tool: ` before a pmsync line logged inside a tool's step that does not start
    with the tool's name already (a record factory: logger filters miss child loggers)."""
    record = _factory(*args, **kwargs)
    tool = current_tool.get()
    if tool and record.name.startswith("pmsync"):
        message = record.getMessage()
        if not message.startswith(tool):
            record.msg, record.args = f"{tool}: {message}", None
    return record


def level() -> int:
    """pmsync's own level: INFO, or what PMSYNC_LOG_LEVEL names (DEBUG, WARNING, ...)."""
    name = os.environ.get(LEVEL_ENV, "").strip().upper() or "INFO"
    value = logging.getLevelName(name)
    return value if isinstance(value, int) else logging.INFO


def prefect_environment() -> None:
    """Before Prefect is imported: send `pmsync.*` lines to the flow run's logs, and keep
    quiet about lines logged outside any run (the CLI's own, `serve`'s)."""
    extra = [n for n in os.environ.get("PREFECT_LOGGING_EXTRA_LOGGERS", "").split(",") if n]
    if "pmsync" not in extra:
        os.environ["PREFECT_LOGGING_EXTRA_LOGGERS"] = ",".join([*extra, "pmsync"])
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def for_runs() -> None:
    """pmsync's lines at `level()` (whatever the root logger lets through: Prefect's API
    handler sits on `pmsync` itself), naming the tool; libraries' request lines off unless
    DEBUG. Each process that runs flows calls it: a served run's child, a worker's
    `python -m prefect.engine`, the CLI, `pmsync webhooks`. Idempotent."""
    if logging.getLogRecordFactory() is not _record:
        logging.setLogRecordFactory(_record)
    logging.getLogger("pmsync").setLevel(level())
    debug = level() <= logging.DEBUG
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


def configure(console_level: int = logging.INFO) -> None:
    """`for_runs`, and a console (stderr) showing `console_level` and up (e.g. WARNING
    with --json; DEBUG with PMSYNC_LOG_LEVEL=DEBUG)."""
    for_runs()
    root = logging.getLogger()
    if not root.handlers:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
    shown = logging.DEBUG if level() <= logging.DEBUG else console_level
    for handler in root.handlers:
        handler.setLevel(shown)
    root.setLevel(shown)


class OneLineErrors(logging.Filter):
    """On a console: an error's line without its traceback (the run's Prefect logs keep
    it: Prefect's API handler sits on its own loggers and formats the record first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text:
            error = record.exc_info[1] if record.exc_info else None
            message = record.getMessage()
            if error is not None and str(error) not in message:
                message = f"{message}: {type(error).__name__}: {error}"
            record.msg, record.args = message, None
            record.exc_info, record.exc_text = None, None
        return True


def one_line_errors_on_the_console() -> None:
    """`serve`'s output: one line per failure, not a traceback (`pmsync serve` prints
    a line per run; the traceback is in the run's logs)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OneLineErrors) for f in handler.filters):
            handler.addFilter(OneLineErrors())
