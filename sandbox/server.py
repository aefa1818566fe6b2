"""Run the sandbox over real HTTP: in a background thread for tests, or in the foreground
for `pmsync sandbox`."""

import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette

from sandbox.app import create_app
from sandbox.state import SandboxState

CREDENTIALS = (
    ("Jira", "/jira", "basic auth demo@example.com / sandbox"),
    ("Zendesk", "/zendesk", "basic auth demo@example.com/token / sandbox"),
    ("HubSpot", "/hubspot", "Authorization: Bearer sandbox"),
    ("Intercom", "/intercom", "Authorization: Bearer sandbox"),
    ("Freshdesk", "/freshdesk", "basic auth sandbox / X (the API key, any password)"),
    ("Salesforce", "/salesforce", "OAuth client credentials demo@example.com / sandbox"),
)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, keep-alive clients wait ~40 ms on
    # every small response (Nagle's algorithm meeting delayed ACKs).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: Starlette) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )


class SandboxServer:
    """A sandbox listening on a real socket; `url` is e.g. http://127.0.0.1:54321."""

    def __init__(
        self, seed: int = 7, host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> None:
        # `options` go to create_app: rate_limits, faults, fault_seed, limits_scale, ...
        self.app: Starlette = create_app(seed, **options)
        self._socket = _listen(host, port)
        self.host, self.port = host, self._socket.getsockname()[1]
        self.url = _url(host, self.port)
        self._server = _server(self.app)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"sandbox-{self.port}",
            daemon=True,
        )

    @property
    def state(self) -> SandboxState:
        state: SandboxState = self.app.state.sandbox
        return state

    def start(self, timeout: float = 10.0) -> "SandboxServer":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start on {self.url}")
            time.sleep(0.01)
        with socket.create_connection((self.host, self.port), timeout=timeout):
            pass  # accepting connections
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in the foreground stops it)."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> "SandboxServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    seed: int = 7, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> SandboxServer:
    return SandboxServer(seed, host, port, **options).start()


def serve(host: str = "127.0.0.1", port: int = 8900, seed: int = 7, **options: Any) -> None:
    """Serve in the foreground until interrupted, after printing where each tool lives."""
    app = create_app(seed, **options)
    sock = _listen(host, port)
    url = _url(host, sock.getsockname()[1])
    tenant = app.state.sandbox.tenant
    print(f"pmsync sandbox (seed {seed}, tenant {tenant.name}: {tenant.description}) on {url}")
    for tool, path, how in CREDENTIALS:
        print(f"  {tool:<10} {url}{path:<11} {how}")
    print(
        f"  Admin    {url}/_sandbox  (health, requests, truth, reset, config, faults, "
        "inject, update, delete)",
        flush=True,
    )
    settings = app.state.traffic.config()
    print(f"  Limits   {settings['rate_limits']}; faults {settings['faults']}", flush=True)
    hooks = app.state.webhooks.settings()
    if hooks["webhook_url"]:
        print(f"  Webhooks to {hooks['webhook_url']}/webhooks/<tool> (log: /_sandbox/webhooks)")
    try:
        _server(app).run(sockets=[sock])
    finally:
        sock.close()
