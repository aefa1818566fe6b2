"""The loopback plumbing of benchmarks/clients.py, without root: the TLS proxy on a high
port with its private CA in front of a started sandbox, and the hosts-file editor on a
temporary file. A leftover /etc/hosts entry would break every later run on the machine, so
the editor must put back the exact bytes, on a signal as on a normal exit."""

import os
import signal
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

pytest.importorskip("cryptography", reason="cryptography is a dev extra")

from benchmarks.loopback_tls import (  # noqa: E402
    Certificates,
    HostsFile,
    TLSProxy,
    make_certificates,
    mount_for,
    wildcards,
)
from sandbox.server import SandboxServer  # noqa: E402

VENDOR_NAMES = ("sandbox.zendesk.com", "api.hubapi.com")


@pytest.fixture
def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vendors' names resolve to 127.0.0.1, as the /etc/hosts entries make them do,
    without root; the host stays in the URL for SNI, the certificate check and Host."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in VENDOR_NAMES else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("ca"), wildcards() + list(VENDOR_NAMES))


@pytest.fixture(scope="module")
def proxy(server: SandboxServer, certificates: Certificates) -> Iterator[TLSProxy]:
    with TLSProxy(("127.0.0.1", server.port), certificates, ("127.0.0.1", 0)) as running:
        yield running


def _session(certificates: Certificates) -> requests.Session:
    session = requests.Session()
    session.verify = str(certificates.ca)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    return session


@pytest.mark.usefixtures("resolve_to_loopback")
def test_vendor_hosts_reach_their_mounts_over_tls(
    proxy: TLSProxy, certificates: Certificates
) -> None:
    """A client that trusts only our CA reads Zendesk and HubSpot at their own host names,
    with the vendors' paths, and the sandbox's answer comes back whole."""
    session = _session(certificates)
    port = proxy.port
    tickets = session.get(
        f"https://sandbox.zendesk.com:{port}/api/v2/incremental/tickets/cursor.json",
        params={"start_time": 0},
        auth=("demo@example.com/token", "sandbox"),
        timeout=10,
    )
    assert tickets.status_code == 200, (tickets.text, proxy.exchanges)
    assert len(tickets.json()["tickets"]) > 0
    deals = session.get(
        f"https://api.hubapi.com:{port}/crm/v3/objects/deals",
        headers={"Authorization": "Bearer sandbox"},
        timeout=10,
    )
    assert deals.status_code == 200 and deals.json()["results"]
    refused = session.get(
        f"https://api.hubapi.com:{port}/crm/v3/objects/deals",
        headers={"Authorization": "Bearer wrong"},
        timeout=10,
    )
    assert refused.status_code == 401  # the sandbox's own answer, passed through
    seen = [(e.host.split(":")[0], e.status) for e in proxy.exchanges[-3:]]
    assert seen == [("sandbox.zendesk.com", 200), ("api.hubapi.com", 200), ("api.hubapi.com", 401)]


def test_clients_without_the_ca_are_refused(proxy: TLSProxy) -> None:
    """The proxy is only reachable by a process told to trust the CA: the system store
    rejects its certificate."""
    context = ssl.create_default_context()
    with (
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="api.hubapi.com")


def test_unknown_hosts_are_not_forwarded(proxy: TLSProxy, certificates: Certificates) -> None:
    """A host that no sandbox mount plays gets a 502 from the proxy, never a forward."""
    context = ssl.create_default_context(cafile=str(certificates.ca))
    context.check_hostname = False
    with (
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="example.org") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n")
        assert tls.recv(100).startswith(b"HTTP/1.1 502")
    assert mount_for("acme.freshdesk.com:443") == "/freshdesk"
    assert mount_for("api.intercom.io") == "/intercom"
    assert mount_for("zendesk.com.example.org") is None


def test_proxy_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path, ["api.hubapi.com"])
    with pytest.raises(ValueError, match="loopback"):
        TLSProxy(("127.0.0.1", 1), certificates, ("0.0.0.0", 0))
    with pytest.raises(ValueError, match="loopback"):
        TLSProxy(("10.0.0.1", 1), certificates, ("127.0.0.1", 0))


ORIGINAL = b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n# no newline at the end"


def test_hosts_file_gets_its_exact_bytes_back(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_bytes(ORIGINAL)
    with HostsFile(["api.hubapi.com", "sandbox.zendesk.com"], hosts):
        during = hosts.read_text().splitlines()
        assert during[2] == "# no newline at the end"  # untouched, then our block
        assert [line.split()[:2] for line in during[3:]] == [
            ["127.0.0.1", "api.hubapi.com"],
            ["127.0.0.1", "sandbox.zendesk.com"],
        ]
    assert hosts.read_bytes() == ORIGINAL
    with pytest.raises(RuntimeError), HostsFile(["api.intercom.io"], hosts):
        raise RuntimeError("the run failed")
    assert hosts.read_bytes() == ORIGINAL


def test_hosts_file_is_restored_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM (CI ending the run, `timeout`) restores the file, then reaches the handler
    that was there before."""
    hosts = tmp_path / "hosts"
    hosts.write_bytes(ORIGINAL)
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with HostsFile(["api.intercom.io"], hosts):
            assert b"api.intercom.io" in hosts.read_bytes()
            os.kill(os.getpid(), signal.SIGTERM)
            assert hosts.read_bytes() == ORIGINAL
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert hosts.read_bytes() == ORIGINAL


@pytest.mark.usefixtures("resolve_to_loopback")
def test_next_page_links_through_the_proxy_are_followed(
    proxy: TLSProxy, certificates: Certificates
) -> None:
    """The sandbox's absolute links name the vendor's host and the mount (the proxy sends no
    X-Forwarded-Prefix: it adds the mount, strips nothing); following one reaches the next
    page, and answers carry header names as the vendors write them."""
    session = _session(certificates)
    first = session.get(
        f"https://sandbox.zendesk.com:{proxy.port}/api/v2/organizations.json",
        params={"per_page": 2},
        auth=("demo@example.com/token", "sandbox"),
        timeout=10,
    )
    following = first.json()["next_page"]
    assert following.startswith(f"https://sandbox.zendesk.com:{proxy.port}/zendesk/api/v2/")
    second = session.get(following, auth=("demo@example.com/token", "sandbox"), timeout=10)
    assert second.status_code == 200, second.text
    ids = {o["id"] for o in first.json()["organizations"]}
    assert ids.isdisjoint(o["id"] for o in second.json()["organizations"])
    assert "Content-Type" in dict(second.headers)  # a plain dict's lookup, as some clients do
