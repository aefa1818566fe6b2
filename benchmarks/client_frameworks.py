"""How benchmarks/clients.py drives the connectors of benchmarks/client_connectors.py: Singer
taps (`--discover`, then `--catalog` with the wanted streams selected; RECORD messages on
stdout) and Airbyte's Python sources (`discover`, then `read` with a configured catalog;
RECORD and TRACE messages on stdout).

Each connector is a PyPI package installed, unchanged, in a virtual environment of its own
under .pmsync/clients/<package>.
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

from benchmarks.client_connectors import Connector

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


@dataclass
class Executable:
    """A connector's command in its work folder: each step (discover, read) runs it with the
    same environment, within one deadline, and leaves its output in `work`."""

    binary: str
    env: dict[str, str]
    deadline: Deadline
    work: Path

    def run(self, args: list[str], step: str) -> tuple[int, str, str]:
        return _run([self.binary, *args], self.env, self.deadline, self.work, step)


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
            read = _singer if connector.framework == "singer" else _airbyte
            read(connector, Executable(binary, full_env, deadline, work), result)
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


def _singer(connector: Connector, executable: Executable, result: RunResult) -> None:
    config, work = str(executable.work / "config.json"), executable.work
    code, out, err = executable.run(["--config", config, "--discover"], "discover")
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
    argv = ["--config", config, "--catalog", path, "--properties", path]
    code, out, err = executable.run(argv, "read")
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


def _airbyte(connector: Connector, executable: Executable, result: RunResult) -> None:
    config, work = str(executable.work / "config.json"), executable.work
    code, out, err = executable.run(["discover", "--config", config], "discover")
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
    argv = ["read", "--config", config, "--catalog", str(work / "catalog.json")]
    code, out, err = executable.run(argv, "read")
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
