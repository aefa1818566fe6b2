"""The connectors that benchmarks/clients.py runs, as data, and how each framework's
connector is driven: Singer taps (`--discover`, then `--catalog` with the wanted streams
selected; RECORD messages on stdout) and Airbyte's Python sources (`discover`, then `read`
with a configured catalog; RECORD and TRACE messages on stdout).

Each connector is a PyPI package installed, unchanged, in a virtual environment of its own
under .pmsync/clients/<package>. Every config names the sandbox's credentials
(sandbox/server.py CREDENTIALS) and hosts that the loopback proxy plays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START = "2000-01-01T00:00:00Z"
USER_AGENT = "pmsync-clients-benchmark (demo@example.com)"
SUBDOMAIN = "sandbox"
# The host names the connectors below are configured with (or hard-code).
HOSTS = [
    f"{SUBDOMAIN}.zendesk.com",
    "api.hubapi.com",
    "api.intercom.io",
    f"{SUBDOMAIN}.freshdesk.com",
    f"{SUBDOMAIN}.atlassian.net",
    "login.salesforce.com",
    "test.salesforce.com",
]
SALESFORCE = {"client_id": "demo@example.com", "client_secret": "sandbox"}


@dataclass(frozen=True)
class Connector:
    framework: str  # "singer" or "airbyte"
    vendor: str  # the sandbox mount: zendesk, hubspot, ...
    package: str  # on PyPI
    command: str  # its entry point in the venv's bin/
    config: dict[str, Any]
    # The connector's stream name -> the sandbox's record kind it should read (see truth()).
    streams: dict[str, str]
    python: str = "3.11"  # the interpreter its venv is made with


CONNECTORS = [
    Connector(
        "singer",
        "zendesk",
        "tap-zendesk",
        "tap-zendesk",
        # The tap's streams send `access_token` as an OAuth Bearer token (API tokens only
        # reach its Zenpy client), so the config is an OAuth one.
        {"subdomain": SUBDOMAIN, "access_token": "sandbox", "start_date": START},
        {
            "tickets": "tickets",
            "users": "users",
            "organizations": "organizations",
            "ticket_comments": "comments",
        },
    ),
    Connector(
        "airbyte",
        "zendesk",
        "airbyte-source-zendesk-support",
        "source-zendesk-support",
        {
            "subdomain": SUBDOMAIN,
            "start_date": START,
            "credentials": {
                "credentials": "api_token",
                "email": "demo@example.com",
                "api_token": "sandbox",
            },
        },
        {
            "tickets": "tickets",
            "users": "users",
            "organizations": "organizations",
            "ticket_comments": "comments",
        },
    ),
    Connector(
        "singer",
        "hubspot",
        "tap-hubspot",
        "tap-hubspot",
        # A private app's token goes in `api_key` and is sent as a Bearer token.
        {"api_key": "sandbox", "start_date": START, "user_agent": USER_AGENT},
        {"companies": "companies", "deals": "deals", "engagements": "notes"},
    ),
    Connector(
        "airbyte",
        "hubspot",
        "airbyte-source-hubspot",
        "source-hubspot",
        {
            "start_date": START,
            "credentials": {
                "credentials_title": "Private App Credentials",
                "access_token": "sandbox",
            },
        },
        {"companies": "companies", "deals": "deals", "engagements_notes": "notes"},
    ),
    Connector(
        "singer",
        "intercom",
        "tap-intercom",
        "tap-intercom",
        {"access_token": "sandbox", "start_date": START, "user_agent": USER_AGENT},
        {
            "conversations": "conversations",
            "contacts": "contacts",
            "companies": "companies",
            "admins": "admins",
        },
    ),
    Connector(
        "airbyte",
        "intercom",
        "airbyte-source-intercom",
        "source-intercom",
        {"access_token": "sandbox", "start_date": START},
        {
            "conversations": "conversations",
            "contacts": "contacts",
            "companies": "companies",
            "admins": "admins",
        },
    ),
    Connector(
        "singer",
        "freshdesk",
        "tap-freshdesk",
        "tap-freshdesk",
        {
            "api_key": "sandbox",
            "domain": SUBDOMAIN,
            "start_date": START,
            "user_agent": USER_AGENT,
        },
        {
            "tickets": "tickets",
            "contacts": "contacts",
            "companies": "companies",
            "conversations": "conversations",
        },
    ),
    Connector(
        "airbyte",
        "freshdesk",
        "airbyte-source-freshdesk",
        "source-freshdesk",
        {"api_key": "sandbox", "domain": f"{SUBDOMAIN}.freshdesk.com", "start_date": START},
        {
            "tickets": "tickets",
            "contacts": "contacts",
            "companies": "companies",
            "conversations": "conversations",
        },
        # Its last release allows any airbyte-cdk below 1.0; pip picks 0.90, whose
        # dataclasses Python 3.11 rejects (mutable default). Airbyte's image runs it on 3.10.
        python="3.10",
    ),
    Connector(
        "singer",
        "jira",
        "tap-jira",
        "tap-jira",
        {
            "base_url": f"https://{SUBDOMAIN}.atlassian.net",
            "username": "demo@example.com",
            "password": "sandbox",
            "start_date": START,
            "user_agent": USER_AGENT,
        },
        {"projects": "projects", "issues": "issues", "issue_comments": "comments"},
    ),
    Connector(
        "airbyte",
        "jira",
        "airbyte-source-jira",
        "source-jira",
        {
            "domain": f"{SUBDOMAIN}.atlassian.net",
            "email": "demo@example.com",
            "api_token": "sandbox",
            "start_date": START,
        },
        {"projects": "projects", "issues": "issues", "issue_comments": "comments"},
    ),
    Connector(
        "singer",
        "salesforce",
        "tap-salesforce",
        "tap-salesforce",
        # The tap knows one grant, the refresh token (Salesforce's web server flow).
        {**SALESFORCE, "refresh_token": "sandbox", "start_date": START, "api_type": "REST"},
        {"Account": "Account", "Opportunity": "Opportunity"},
    ),
    Connector(
        "airbyte",
        "salesforce",
        "airbyte-source-salesforce",
        "source-salesforce",
        {
            **SALESFORCE,
            "refresh_token": "sandbox",
            "start_date": START,
            "is_sandbox": False,
            "auth_type": "Client",
        },
        {"Account": "Account", "Opportunity": "Opportunity"},
    ),
]


def truth(state: Any) -> dict[str, dict[str, int]]:
    """Each vendor's record counts as the sandbox holds them (sandbox.state.SandboxState)."""
    with state.lock:
        return {
            "zendesk": {
                "tickets": len(state.zendesk.tickets),
                "users": len(state.zendesk.users),
                "organizations": len(state.zendesk.organizations),
                "comments": sum(map(len, state.zendesk.comments.values())),
            },
            "hubspot": {k: len(v) for k, v in state.hubspot.objects.items()},
            "intercom": {
                "conversations": len(state.intercom.conversations),
                "contacts": len(state.intercom.contacts),
                "companies": len(state.intercom.companies),
                "admins": len(state.intercom.admins),
            },
            "freshdesk": {
                "tickets": len(state.freshdesk.tickets),
                "contacts": len(state.freshdesk.contacts),
                "companies": len(state.freshdesk.companies),
                # Each ticket's description is its first message; conversations are replies
                # and notes after it.
                "conversations": sum(map(len, state.freshdesk.conversations.values())),
            },
            "jira": {
                "projects": 1,
                "issues": len(state.jira.issues),
                "comments": sum(map(len, state.jira.comments.values())),
            },
            "salesforce": {k: len(v) for k, v in state.salesforce.records.items()},
        }


# --- virtual environments ---------------------------------------------------------------


def interpreter(version: str) -> str:
    if sys.version_info[:2] == tuple(int(part) for part in version.split(".")):
        return sys.executable
    found = shutil.which(f"python{version}")
    if not found:
        raise SystemExit(f"python{version} is needed to install some connectors")
    return found


def ensure_installed(connector: Connector, root: Path, timeout_s: float = 900) -> Path:
    """The connector's venv, created and installed from PyPI on first use."""
    venv = root / connector.package
    marker = venv / ".installed"
    if marker.exists():
        return venv
    if not (venv / "bin" / "python").exists():
        subprocess.run(
            [interpreter(connector.python), "-m", "venv", str(venv)], check=True, timeout=120
        )
    print(f"  installing {connector.package} from PyPI into {venv} ...", flush=True)
    log = venv.with_suffix(".log")
    with log.open("w") as out:
        pip = [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, connector.package], stdout=out, stderr=out, check=True, timeout=timeout_s
        )
    marker.write_text(connector.package + "\n")
    return venv


@contextlib.contextmanager
def trusting(venv: Path, ca: Path) -> Iterator[None]:
    """The venv's certifi bundle holds only our CA while the connector runs. Clients that
    call `Session.send` skip REQUESTS_CA_BUNDLE (only `Session.request` reads the
    environment) and verify against certifi; with only our CA in it, they can reach no
    host but the loopback proxy. The original bundle is kept beside it and put back."""
    bundles = list(venv.glob("lib/python*/site-packages/certifi/cacert.pem"))
    for bundle in bundles:
        kept = bundle.with_suffix(".pem.orig")
        if kept.exists():  # a run that was killed: put the original back first
            shutil.copyfile(kept, bundle)
        shutil.copyfile(bundle, kept)
        shutil.copyfile(ca, bundle)
    try:
        yield
    finally:
        for bundle in bundles:
            kept = bundle.with_suffix(".pem.orig")
            shutil.copyfile(kept, bundle)
            kept.unlink()


# --- running a connector ----------------------------------------------------------------


@dataclass
class StreamResult:
    read: int = 0
    ids: set[str] = field(default_factory=set)
    error: str = ""


@dataclass
class RunResult:
    connector: Connector
    streams: dict[str, StreamResult]
    error: str = ""  # the connector as a whole (discovery, check, crash, time-out)
    seconds: float = 0.0


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired("connector", 0)
        return left


def _run(
    argv: list[str], env: dict[str, str], deadline: Deadline, workdir: Path, step: str
) -> tuple[int, str, str]:
    """Run to completion within the deadline; stdout and stderr go through files so a chatty
    connector never blocks on a full pipe."""
    out_path, err_path = workdir / f"{step}.stdout", workdir / f"{step}.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=workdir)
        try:
            code = process.wait(timeout=deadline.left())
        except BaseException:  # the time-out, or Ctrl-C / SIGTERM unwinding the script
            process.kill()
            process.wait(10)
            raise
    return code, out_path.read_text(errors="replace"), err_path.read_text(errors="replace")


def _messages(stdout: str) -> list[dict[str, Any]]:
    messages = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                messages.append(json.loads(line))
            except ValueError:
                continue
    return messages


def _id(record: dict[str, Any]) -> str | None:
    for key in ("id", "Id", "engagement_id", "key"):
        if isinstance(record, dict) and record.get(key) is not None:
            return str(record[key])
    if isinstance(record, dict) and isinstance(record.get("engagement"), dict):
        return str(record["engagement"].get("id"))
    return None


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in ("CRITICAL", "ERROR", "Error", "Exception"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1][:400]
    return lines[-1][:400] if lines else ""


def run_connector(
    connector: Connector, venv: Path, env: dict[str, str], timeout_s: float, work: Path
) -> RunResult:
    """Discover, select and read, within `timeout_s`; `work` keeps the config, catalog and
    each step's output for reading afterwards."""
    started = time.monotonic()
    streams = {name: StreamResult() for name in connector.streams}
    result = RunResult(connector, streams)
    deadline = Deadline(timeout_s)
    binary = str(venv / "bin" / connector.command)
    full_env = {**os.environ, **env, "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"}
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "config.json").write_text(json.dumps(connector.config))
    try:
        with trusting(venv, Path(env["SSL_CERT_FILE"])):
            if connector.framework == "singer":
                _singer(connector, binary, full_env, deadline, work, result)
            else:
                _airbyte(connector, binary, full_env, deadline, work, result)
    except subprocess.TimeoutExpired:
        result.error = f"timed out after {timeout_s:.0f} s"
    result.seconds = time.monotonic() - started
    return result


def _count(result: RunResult, stream: str, record: Any) -> None:
    if stream in result.streams:
        result.streams[stream].read += 1
        key = _id(record)
        if key is not None:
            result.streams[stream].ids.add(key)


def _singer(
    connector: Connector,
    binary: str,
    env: dict[str, str],
    deadline: Deadline,
    work: Path,
    result: RunResult,
) -> None:
    config = str(work / "config.json")
    code, out, err = _run(
        [binary, "--config", config, "--discover"], env, deadline, work, "discover"
    )
    if code != 0:
        result.error = f"discover exited {code}: {_last_error(err)}"
        return
    catalog = json.loads(out)
    found = {s["tap_stream_id"] for s in catalog["streams"]}
    for name in set(connector.streams) - found:
        result.streams[name].error = "not in the tap's catalog"
    # The whole catalog goes back, the wanted streams selected: some taps look up the
    # catalog entries of child streams whether or not they are selected.
    for stream in catalog["streams"]:
        wanted = stream["tap_stream_id"] in connector.streams
        for entry in stream.get("metadata", []):
            if entry["metadata"].get("inclusion") != "unsupported":
                entry["metadata"]["selected"] = wanted
        stream["selected"] = wanted  # the older taps read it here
    (work / "catalog.json").write_text(json.dumps(catalog))
    path = str(work / "catalog.json")
    argv = [binary, "--config", config, "--catalog", path, "--properties", path]
    code, out, err = _run(argv, env, deadline, work, "read")
    current = ""
    for message in _messages(out):
        if message.get("type") == "SCHEMA":
            current = message.get("stream", current)
        elif message.get("type") == "RECORD":
            current = message.get("stream", current)
            _count(result, current, message.get("record"))
    if code != 0:
        error = _last_error(err)
        where = current if current in result.streams else ""
        result.error = f"sync exited {code}" + (f" during {where}" if where else "")
        (result.streams[where] if where else result).error = error or result.error
        if where:
            for name, stream in result.streams.items():
                if stream.read == 0 and not stream.error and name != where:
                    stream.error = "not reached: the tap stopped"


def _airbyte(
    connector: Connector,
    binary: str,
    env: dict[str, str],
    deadline: Deadline,
    work: Path,
    result: RunResult,
) -> None:
    config = str(work / "config.json")
    code, out, err = _run([binary, "discover", "--config", config], env, deadline, work, "discover")
    catalogs = [m["catalog"] for m in _messages(out) if m.get("type") == "CATALOG"]
    if not catalogs:
        traces = [_trace_text(m) for m in _messages(out) if m.get("type") == "TRACE"]
        result.error = f"discover exited {code}: " + (
            "; ".join(t for t in traces if t) or _last_error(err) or _last_log(out)
        )
        return
    available = {s["name"]: s for s in catalogs[0]["streams"]}
    configured = []
    for name in connector.streams:
        stream = available.get(name)
        if stream is None:
            result.streams[name].error = "not in the source's catalog"
            continue
        modes = stream.get("supported_sync_modes", ["full_refresh"])
        mode = "full_refresh" if "full_refresh" in modes else "incremental"
        configured.append(
            {
                "stream": stream,
                "sync_mode": mode,
                "destination_sync_mode": "append",
                "cursor_field": stream.get("default_cursor_field", []),
                "primary_key": stream.get("source_defined_primary_key", []),
            }
        )
    (work / "catalog.json").write_text(json.dumps({"streams": configured}))
    argv = [binary, "read", "--config", config, "--catalog", str(work / "catalog.json")]
    code, out, err = _run(argv, env, deadline, work, "read")
    for message in _messages(out):
        kind = message.get("type")
        if kind == "RECORD":
            record = message.get("record", {})
            _count(result, record.get("stream", ""), record.get("data"))
        elif kind == "TRACE":
            trace = message.get("trace", {})
            if trace.get("type") == "ERROR":
                error = trace.get("error", {})
                stream = (error.get("stream_descriptor") or {}).get("name")
                text = _trace_text(message)
                if stream in result.streams:
                    result.streams[stream].error = text
                else:
                    result.error = result.error or text
            elif trace.get("type") == "STREAM_STATUS":
                status = trace.get("stream_status", {})
                name = str((status.get("stream_descriptor") or {}).get("name"))
                if status.get("status") == "INCOMPLETE" and name in result.streams:
                    result.streams[name].error = result.streams[name].error or "INCOMPLETE"
    if code != 0 and not result.error and not any(s.error for s in result.streams.values()):
        result.error = f"read exited {code}: {_last_error(err) or _last_log(out)}"


def _trace_text(message: dict[str, Any]) -> str:
    error = message.get("trace", {}).get("error", {})
    text = error.get("internal_message") or error.get("message") or ""
    return " ".join(str(text).split())[:400]


def _last_log(stdout: str) -> str:
    logs = [
        m["log"].get("message", "")
        for m in _messages(stdout)
        if m.get("type") == "LOG" and m.get("log", {}).get("level") in ("ERROR", "FATAL")
    ]
    return " ".join(logs[-1].split())[:400] if logs else ""


def summary(results: list[RunResult], truths: dict[str, dict[str, int]]) -> list[list[str]]:
    """Rows: framework, vendor, stream, read (unique), truth, error."""
    rows = []
    for run in results:
        connector = run.connector
        for name, stream in run.streams.items():
            kind = connector.streams[name]
            expected = truths.get(connector.vendor, {}).get(kind)
            unique = len(stream.ids)
            read = str(stream.read) + (f" ({unique})" if unique and unique != stream.read else "")
            error = stream.error or (run.error if stream.read == 0 else "")
            rows.append(
                [
                    connector.framework,
                    connector.vendor,
                    name,
                    read,
                    "?" if expected is None else str(expected),
                    error,
                ]
            )
    return rows
