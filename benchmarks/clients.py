"""Independent connectors against the sandbox (issue 14, point 8): how much of each
vendor's data do open-source connector frameworks read from the sandbox, unchanged?

Runs Singer taps (tap-zendesk, tap-hubspot, tap-intercom, tap-freshdesk, tap-jira,
tap-salesforce) and Airbyte's Python sources (airbyte-source-zendesk-support, -hubspot,
-intercom, -freshdesk, -jira, -salesforce), each as its package on PyPI publishes it, against
a sandbox that this script starts (seed 7, `--tenant`, default full). For each connector the
script writes the config (the sandbox's credentials, sandbox/server.py CREDENTIALS),
discovers its catalog, selects the streams pmsync uses (benchmarks/client_connectors.py
CONNECTORS) and reads them, bounded by `--timeout` seconds per connector. It prints a table:
per framework, vendor and stream, the records the connector read (distinct ids in brackets
when they differ) against the sandbox's own record count for that kind, and the error when
the stream failed. Then, per connector, every request that the sandbox refused or did not
know: method, path, query, status and the start of the sandbox's answer, which is what the
sandbox's owners need to match the vendor's documented API.

The connectors hard-code the vendors' hosts (api.hubapi.com, <subdomain>.zendesk.com,
api.intercom.io, <domain>.freshdesk.com, <site>.atlassian.net, login.salesforce.com), all
over HTTPS. So the script generates a private CA and a certificate for those names
(benchmarks/loopback_tls.py), serves TLS on 127.0.0.1:443 forwarding each host to its
sandbox mount (/zendesk, /hubspot, ...; `X-Forwarded-Host` and `-Proto` set), adds
the names to /etc/hosts as 127.0.0.1 for the run only, and points each connector's process
at the CA (REQUESTS_CA_BUNDLE, SSL_CERT_FILE, CURL_CA_BUNDLE). /etc/hosts gets back its
exact bytes when the script ends, on Ctrl-C and SIGTERM too. No traffic leaves the loopback
interface.

Needs root (for /etc/hosts and port 443), python3.11 and python3.10 (airbyte-source-freshdesk
fails to import on 3.11). On first use each connector is installed from PyPI into a virtual
environment of its own under .pmsync/clients/<package> (several minutes for the Airbyte
sources), so their dependencies never touch the project's venv; later runs reuse them.
While a connector runs, its venv's certifi bundle holds only the private CA (clients that
ignore REQUESTS_CA_BUNDLE verify against certifi), and is put back afterwards. Each run's
config, catalog and output stay in .pmsync/clients/runs/<package>/. Not part of `make test`.

    sudo .venv/bin/python benchmarks/clients.py [--tenant NAME] [--only zendesk,hubspot,...]
        [--framework singer|airbyte] [--timeout 300] [--json report.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.client_connectors import CONNECTORS, HOSTS, truth  # noqa: E402
from benchmarks.client_frameworks import (  # noqa: E402
    RunResult,
    ensure_installed,
    run_connector,
    summary,
)
from benchmarks.loopback_tls import client_environment, loopback  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".pmsync" / "clients"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


@dataclass
class Seen:
    """One request as the sandbox received and answered it."""

    method: str
    path: str
    query: str
    status: int
    request_body: str
    answer: str


class RequestLog:
    """ASGI middleware around the whole sandbox: every request, its status, and the start of
    the request's and the answer's bodies."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent: bytearray = bytearray()
        received: bytearray = bytearray()
        status = [0]

        async def receiving() -> Message:
            message = await receive()
            if message.get("type") == "http.request" and len(received) < 600:
                received.extend(message.get("body", b"")[:600])
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and len(sent) < 400:
                sent.extend(message.get("body", b"")[:400])
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            seen = Seen(
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode(errors="replace"),
                status[0],
                received.decode(errors="replace"),
                " ".join(sent.decode(errors="replace").split())[:300],
            )
            with self._lock:
                self.seen.append(seen)

    def take(self) -> list[Seen]:
        with self._lock:
            seen, self.seen = self.seen, []
        return seen


def refused(seen: list[Seen]) -> list[tuple[int, Seen]]:
    """Requests the sandbox answered with an error, one per (method, path, status), with how
    many times each came."""
    groups: dict[tuple[str, str, int], list[Seen]] = {}
    for item in seen:
        if item.status >= 400 or item.status == 0:
            groups.setdefault((item.method, item.path, item.status), []).append(item)
    return [(len(items), items[0]) for items in groups.values()]


def table(rows: list[list[str]]) -> str:
    header = ["framework", "vendor", "stream", "read", "truth", "error"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    lines = []
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(5)]
        lines.append("  ".join(cells) + "  " + row[5][:160])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", default="full")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default="", help="vendors, comma-separated")
    parser.add_argument("--framework", choices=["singer", "airbyte"], default=None)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per connector")
    parser.add_argument("--port", type=int, default=443, help="the TLS proxy's port")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    vendors = {v.strip() for v in args.only.split(",") if v.strip()}
    chosen = [
        c
        for c in CONNECTORS
        if (not vendors or c.vendor in vendors)
        and (args.framework is None or c.framework == args.framework)
    ]
    if os.geteuid() != 0:
        print("needs root: it edits /etc/hosts and listens on port 443", file=sys.stderr)
        return 2
    # SIGTERM and SIGHUP unwind like Ctrl-C, so every `finally` (hosts file, CA bundles,
    # the connector's process) runs.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    VENVS.mkdir(parents=True, exist_ok=True)
    venvs = {c.package: ensure_installed(c, VENVS) for c in chosen}

    server = SandboxServer(seed=args.seed, tenant=args.tenant)
    log = RequestLog(server.app)
    server._server.config.app = log  # the log sees every request, as the sandbox answers it
    server.start()
    truths = truth(server.state)
    results: list[tuple[RunResult, list[Seen]]] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="pmsync-ca-") as tmp,
            loopback((server.host, server.port), Path(tmp), HOSTS, port=args.port) as (
                proxy,
                certificates,
            ),
        ):
            env = client_environment(certificates.ca)
            for connector in chosen:
                print(f"running {connector.package} ...", flush=True)
                log.take()
                work = VENVS / "runs" / connector.package
                run = run_connector(connector, venvs[connector.package], env, args.timeout, work)
                results.append((run, log.take()))
                print(f"  done in {run.seconds:.0f} s {run.error[:200]}", flush=True)
    finally:
        server.stop()
    report(results, truths, args)
    return 0


def report(
    results: list[tuple[RunResult, list[Seen]]],
    truths: dict[str, dict[str, int]],
    args: argparse.Namespace,
) -> None:
    rows = summary([run for run, _ in results], truths)
    print(f"\nRecords read against the sandbox's truth (seed {args.seed}, tenant {args.tenant})\n")
    print(table(rows))
    print("\nRequests the sandbox refused, per connector (count x method path -> status: answer)")
    details: dict[str, Any] = {}
    for run, seen in results:
        errors = refused(seen)
        name = run.connector.package
        details[name] = {
            "requests": len(seen),
            "refused": [
                {"count": n, **{k: getattr(s, k) for k in Seen.__dataclass_fields__}}
                for n, s in errors
            ],
        }
        print(f"\n{name}: {len(seen)} requests, {sum(n for n, _ in errors)} refused")
        for count, item in errors:
            query = f"?{item.query}" if item.query else ""
            print(f"  {count} x {item.method} {item.path}{query[:160]} -> {item.status}")
            if item.request_body:
                print(f"      sent: {item.request_body[:240]}")
            print(f"      answer: {item.answer[:240]}")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "truth": truths, "connectors": details}, indent=2)
        )


if __name__ == "__main__":
    raise SystemExit(main())
