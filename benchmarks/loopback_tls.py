"""Loopback plumbing for benchmarks/clients.py: a private CA and a server certificate for
the vendors' own host names, a TLS proxy on 127.0.0.1 that forwards each host to its mount
in the sandbox, and an /etc/hosts editor that always puts the file back as it found it.

Connectors that hard-code `api.hubapi.com` or `https://<subdomain>.zendesk.com` then reach
the sandbox unchanged: the host resolves to 127.0.0.1 (hosts file), the proxy presents a
certificate the connector's process trusts (its CA bundle variables point at our CA), and
the request goes on to `http://127.0.0.1:<sandbox port>/<mount>/<path>` with
`X-Forwarded-Host` and `X-Forwarded-Proto: https`. The sandbox then writes its absolute URLs
(next pages, `self`, instance_url) as `https://<vendor host>/<mount>/...`: the mount is part
of its URL space, and `X-Forwarded-Prefix` names only a prefix a proxy strips in front of it
(the de-facto meaning, sandbox/web.py), which this proxy does not do: it adds the mount. A
path that already starts with its host's mount is therefore forwarded as it is.

Nothing here opens a connection anywhere but the loopback address it is given.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import ipaddress
import os
import signal
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Host (exact, or a suffix starting with ".") -> the sandbox mount that plays it.
VENDOR_HOSTS: dict[str, str] = {
    ".zendesk.com": "/zendesk",
    "api.hubapi.com": "/hubspot",
    "api.hubspot.com": "/hubspot",
    "api.intercom.io": "/intercom",
    ".freshdesk.com": "/freshdesk",
    ".atlassian.net": "/jira",
    ".salesforce.com": "/salesforce",
}

# Headers that describe one hop, not the message (RFC 9110 section 7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA certificate (PEM): what clients trust
    cert: Path  # the server certificate, then the CA (PEM chain)
    key: Path  # the server's private key (PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pmsync loopback test CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_certificates(directory: Path, hosts: list[str]) -> Certificates:
    """A fresh CA and a server certificate for `hosts` (names or "*.suffix" wildcards,
    plus 127.0.0.1), valid for a day. Keys are never reused between runs."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("pmsync loopback CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0] if hosts else "localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca.write_bytes(ca.public_bytes(pem))
    paths.cert.write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    paths.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths.key.chmod(0o600)
    return paths


def mount_for(host: str, routes: dict[str, str] = VENDOR_HOSTS) -> str | None:
    """The sandbox mount that plays `host` (port ignored), or None."""
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
    for pattern, mount in routes.items():
        if name == pattern or (pattern.startswith(".") and name.endswith(pattern)):
            return mount
    return None


@dataclass
class Exchange:
    """One request as the proxy saw it."""

    host: str
    method: str
    path: str
    status: int


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TLSProxy

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the proxy keeps its own log (TLSProxy.exchanges)

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        # The sandbox's own Date and Server headers pass through: no second pair.
        self.log_request(status)
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self) -> None:
        host = self.headers.get("host", "")
        body = self._body()
        mount = mount_for(host, self.server.routes)
        if mount is None:
            message = b'{"error": "no sandbox mount plays this host"}'
            self.server.record(Exchange(host, self.command, self.path, 502))
            self._answer(502, message, [("Content-Type", "application/json")])
            return
        # The sandbox's own absolute URLs (next pages, instance_url) carry the mount already.
        path = self.path if self.path.startswith(mount + "/") else mount + self.path
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers.update(
            {
                "X-Forwarded-Host": host,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": self.client_address[0],
                "Content-Length": str(len(body)),
            }
        )
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=self.server.timeout_s)
        try:
            upstream.request(self.command, path, body=body, headers=headers)
            answer = upstream.getresponse()
            content = answer.read()
            # Header names as the vendors' servers write them (`Content-Type`), not as
            # uvicorn does (`content-type`): names are case-insensitive, but some clients
            # look them up in a plain dict (Airbyte CDK's CSV extractor reads
            # `dict(response.headers).get("content-type")`, which a vendor's header misses).
            kept = [
                ("-".join(part.capitalize() for part in k.split("-")), v)
                for k, v in answer.getheaders()
                if k.lower() not in HOP_BY_HOP
            ]
            status = answer.status
        except OSError as exc:
            status, content = 502, f'{{"error": "sandbox unreachable: {exc}"}}'.encode()
            kept = [("Content-Type", "application/json")]
        finally:
            upstream.close()
        self.server.record(Exchange(host, self.command, self.path, status))
        self._answer(status, content, kept)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward


class TLSProxy(ThreadingHTTPServer):
    """TLS on `listen` (default 127.0.0.1:443), each vendor host forwarded to its mount on
    the plain-HTTP sandbox at `upstream` (host, port). `exchanges` logs every request."""

    daemon_threads = True

    def __init__(
        self,
        upstream: tuple[str, int],
        certificates: Certificates,
        listen: tuple[str, int] = ("127.0.0.1", 443),
        routes: dict[str, str] = VENDOR_HOSTS,
        timeout_s: float = 60.0,
    ) -> None:
        if not ipaddress.ip_address(listen[0]).is_loopback:
            raise ValueError(f"the proxy listens on loopback only, not {listen[0]}")
        if not ipaddress.ip_address(upstream[0]).is_loopback:
            raise ValueError(f"the proxy forwards to loopback only, not {upstream[0]}")
        self.upstream, self.routes, self.timeout_s = upstream, routes, timeout_s
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certificates.cert, certificates.key)
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(listen, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs in the connection's own thread, so one slow client does not
        # hold up accept(); an idle keep-alive connection is dropped after `timeout_s`.
        request.settimeout(self.timeout_s)
        try:
            secured = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the CA: nothing to forward
        try:
            super().finish_request(secured, client_address)
        except (ssl.SSLError, ConnectionError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(OSError):
                secured.close()

    def start(self) -> TLSProxy:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(10)
        self.server_close()

    def __enter__(self) -> TLSProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


MARK = "# pmsync benchmarks/clients.py (removed when it exits)"


class HostsFile:
    """Adds `names` -> 127.0.0.1 to a hosts file and puts back its exact bytes on exit,
    on SIGINT/SIGTERM/SIGHUP too (the signal is then re-delivered to the old handler).
    Restoring is idempotent; the original mode and ownership are kept by writing in place."""

    def __init__(self, names: list[str], path: Path = Path("/etc/hosts")) -> None:
        self.names, self.path = names, path
        self.original: bytes | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> HostsFile:
        self.original = self.path.read_bytes()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if threading.current_thread() is threading.main_thread():
                self._previous[sig] = signal.signal(sig, self._on_signal)
        text = self.original.decode()
        block = "".join(f"127.0.0.1 {name} {MARK}\n" for name in self.names)
        self._write((text if text.endswith("\n") or not text else text + "\n") + block)
        return self

    def _write(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        # In place (not a rename): /etc/hosts may be a bind mount in a container.
        with open(self.path, "r+b") as handle:
            handle.write(data)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())

    def restore(self) -> None:
        if self.original is not None:
            self._write(self.original)
            self.original = None
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum)
        self.restore()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.raise_signal(signum)

    def __exit__(self, *exc: object) -> None:
        self.restore()


def client_environment(ca: Path) -> dict[str, str]:
    """What points a connector's process at our CA: requests, OpenSSL (urllib, aiohttp,
    httpx), curl-based clients."""
    return {"REQUESTS_CA_BUNDLE": str(ca), "SSL_CERT_FILE": str(ca), "CURL_CA_BUNDLE": str(ca)}


def wildcards(routes: dict[str, str] = VENDOR_HOSTS) -> list[str]:
    """The certificate's names: each exact host, and "*.suffix" for each suffix."""
    return [("*" + host) if host.startswith(".") else host for host in routes]


@contextlib.contextmanager
def loopback(
    upstream: tuple[str, int],
    directory: Path,
    names: list[str],
    port: int = 443,
    hosts_path: Path = Path("/etc/hosts"),
) -> Iterator[tuple[TLSProxy, Certificates]]:
    """Certificates, the proxy and the hosts entries together, all undone on exit."""
    certificates = make_certificates(directory, wildcards() + names)
    with (
        TLSProxy(upstream, certificates, ("127.0.0.1", port)) as proxy,
        HostsFile(names, hosts_path),
    ):
        yield proxy, certificates
