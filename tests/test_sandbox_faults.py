"""Fault injection as a client sees it over real HTTP with `requests`: 429s, 5xx with the
vendor's body, slow answers, dropped and truncated connections, and a write applied before
its connection dropped; deterministic for a seed; never on /_sandbox."""

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer, start_sandbox

JIRA = ("demo@example.com", "sandbox")
HUBSPOT = {"Authorization": "Bearer sandbox"}


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def faulty(server: SandboxServer) -> Iterator[Any]:
    """Returns a function that sets the fault settings; faults are off again afterwards."""

    def configure(**settings: Any) -> str:
        answer = requests.post(f"{server.url}/_sandbox/config", json=settings)
        assert answer.status_code == 200, answer.text
        requests.delete(f"{server.url}/_sandbox/faults/injected").raise_for_status()
        requests.delete(f"{server.url}/_sandbox/ratelimits").raise_for_status()
        return server.url

    yield configure
    requests.post(
        f"{server.url}/_sandbox/config",
        json={"faults": 0.0, "fault_seed": 0, "fault_kinds": None, "fault_max_delay": 1.5},
    ).raise_for_status()
    requests.post(f"{server.url}/_sandbox/reset", json={"seed": 7}).raise_for_status()


def injected(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{url}/_sandbox/faults/injected").json()
    return answer


def put_summary(url: str, text: str, timeout: float | None = None) -> requests.Response:
    """A client's edit of ANA-1's summary."""
    return requests.put(
        f"{url}/jira/rest/api/3/issue/ANA-1",
        auth=JIRA,
        json={"fields": {"summary": text}},
        timeout=timeout,
    )


def summary(url: str, key: str = "ANA-1") -> str:
    answer = requests.get(f"{url}/jira/rest/api/3/issue/{key}", auth=JIRA, timeout=10)
    answer.raise_for_status()
    text: str = answer.json()["fields"]["summary"]
    return text


def test_no_faults_by_default(server: SandboxServer) -> None:
    for _ in range(10):
        assert requests.get(f"{server.url}/jira/rest/api/3/myself", auth=JIRA).ok
    assert injected(server.url)["total"] == 0


def test_injected_429_is_honest_and_logged(faulty: Any) -> None:
    url = faulty(faults=1.0, fault_kinds=["rate_limit"])
    answer = requests.get(f"{url}/jira/rest/api/3/myself", auth=JIRA)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["RateLimit-Reason"] == "jira-burst-based"
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    hubspot = requests.get(f"{url}/hubspot/crm/v3/objects/deals", headers=HUBSPOT)
    assert hubspot.status_code == 429
    assert hubspot.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    log = requests.get(f"{url}/_sandbox/ratelimits").json()
    assert log["throttled"] == 2
    assert {entry["reason"] for entry in log["log"]} == {"fault"}
    assert injected(url)["by_kind"]["rate_limit"] == 2
    # /_sandbox/faults reports them next to the malformed records.
    assert requests.get(f"{url}/_sandbox/faults").json()["injected"]["total"] == 2


def test_server_errors_carry_the_vendor_body(faulty: Any) -> None:
    url = faulty(faults=1.0, fault_kinds=["server_error"], fault_seed=3)
    seen: dict[int, requests.Response] = {}
    for _ in range(40):
        answer = requests.get(f"{url}/jira/rest/api/3/myself", auth=JIRA)
        seen.setdefault(answer.status_code, answer)
    assert set(seen) == {500, 502, 503, 504}
    assert seen[500].json()["errorMessages"] and seen[500].json()["errors"] == {}
    assert seen[503].headers["Retry-After"] == "1"
    for status in (502, 504):
        assert seen[status].headers["Content-Type"].startswith("text/html")
        assert str(status) in seen[status].text
    zendesk = requests.get(f"{url}/zendesk/api/v2/users.json")
    assert zendesk.status_code in (500, 502, 503, 504)
    counts = injected(url)
    assert counts["by_kind"]["server_error"] == 41
    assert sum(counts["by_status"].values()) == 41


def test_slow_answers_are_normal_answers(faulty: Any) -> None:
    url = faulty(faults=1.0, fault_kinds=["slow"], fault_max_delay=0.3)
    started = time.monotonic()
    answer = requests.get(f"{url}/jira/rest/api/3/myself", auth=JIRA)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200 and answer.json()["emailAddress"]
    [event] = injected(url)["events"]
    assert event["kind"] == "slow" and 0.03 <= event["delay"] <= 0.3
    assert elapsed >= event["delay"]


@pytest.fixture
def uvicorn_errors() -> Iterator[list[logging.LogRecord]]:
    recorder = Recorder()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(recorder)
    yield recorder.records
    logger.removeHandler(recorder)


def test_dropped_connection(faulty: Any, uvicorn_errors: list[logging.LogRecord]) -> None:
    url = faulty(faults=1.0, fault_kinds=["drop"])
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/jira/rest/api/3/myself", auth=JIRA, timeout=10)
    # A write met by a drop before its handler changed nothing.
    with pytest.raises(requests.ConnectionError):
        put_summary(url, "never written", timeout=10)
    faulty(faults=0.0)
    assert summary(url) != "never written"
    assert uvicorn_errors == []


def test_truncated_response(faulty: Any, uvicorn_errors: list[logging.LogRecord]) -> None:
    url = faulty(faults=1.0, fault_kinds=["truncate"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{url}/jira/rest/api/3/search/jql", auth=JIRA, timeout=10)
    # Truncation applies to reads only: a write meets no fault of this kind.
    put = put_summary(url, "kept")
    assert put.status_code == 204
    assert injected(url)["by_kind"]["truncate"] == 1
    assert uvicorn_errors == []


def test_drop_after_write_applies_the_write(
    faulty: Any, uvicorn_errors: list[logging.LogRecord]
) -> None:
    url = faulty(faults=1.0, fault_kinds=["drop_after_write"])
    with pytest.raises(requests.ConnectionError):
        put_summary(url, "written, unanswered", timeout=10)
    assert summary(url) == "written, unanswered"  # reads are not eligible for this kind
    assert injected(url)["by_kind"] == {
        "rate_limit": 0,
        "server_error": 0,
        "slow": 0,
        "drop": 0,
        "truncate": 0,
        "error_200": 0,
        "drop_after_write": 1,
    }
    assert uvicorn_errors == []


def test_pre_handler_faults_never_apply_writes(faulty: Any) -> None:
    url = faulty(faults=1.0, fault_kinds=["rate_limit", "server_error", "drop"], fault_seed=5)
    for n in range(10):
        try:
            answer = requests.put(
                f"{url}/jira/rest/api/3/issue/ANA-2",
                auth=JIRA,
                json={"fields": {"summary": f"attempt {n}"}},
                timeout=10,
            )
            assert answer.status_code >= 429
        except requests.ConnectionError:
            pass
    faulty(faults=0.0)
    assert not summary(url, "ANA-2").startswith("attempt")


def sequence(url: str, seed: int) -> list[tuple[str, str, int | None]]:
    requests.post(
        f"{url}/_sandbox/config",
        json={"faults": 0.5, "fault_seed": seed, "fault_kinds": ["rate_limit", "server_error"]},
    ).raise_for_status()
    requests.delete(f"{url}/_sandbox/faults/injected").raise_for_status()
    for n in range(30):
        if n % 2:
            requests.get(f"{url}/jira/rest/api/3/myself", auth=JIRA)
        else:
            requests.get(f"{url}/hubspot/crm/v3/objects/deals", headers=HUBSPOT)
    return [(e["tool"], e["kind"], e.get("status")) for e in injected(url)["events"]]


def test_faults_are_deterministic_for_a_seed(faulty: Any) -> None:
    url = faulty()
    first, again, other = sequence(url, 11), sequence(url, 11), sequence(url, 12)
    assert first == again
    assert 5 <= len(first) <= 25
    assert first != other


def test_sandbox_endpoints_are_never_faulted(faulty: Any) -> None:
    url = faulty(faults=1.0, fault_kinds=["drop", "server_error", "rate_limit"])
    for _ in range(10):
        assert requests.get(f"{url}/_sandbox/health").json()["status"] == "ok"
        assert requests.get(f"{url}/_sandbox/requests").status_code == 200
    assert injected(url)["total"] == 0


def test_fault_settings_are_validated(server: SandboxServer) -> None:
    config = f"{server.url}/_sandbox/config"
    assert requests.post(config, json={"faults": 1.5}).status_code == 400
    assert requests.post(config, json={"fault_kinds": ["gremlins"]}).status_code == 400
    assert requests.post(config, json={"fault_kinds": {"slow": 0}}).status_code == 400
    assert requests.get(config).json()["faults"] == 0.0


def test_create_app_fault_parameters() -> None:
    with start_sandbox(faults=1.0, fault_seed=1, fault_kinds=["server_error"]) as running:
        answer = requests.get(f"{running.url}/jira/rest/api/3/myself", auth=JIRA)
        assert answer.status_code in (500, 502, 503, 504)
        settings = requests.get(f"{running.url}/_sandbox/config").json()
        assert settings["faults"] == 1.0 and settings["fault_seed"] == 1
