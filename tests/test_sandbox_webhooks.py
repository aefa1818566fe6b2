"""The sandbox as a webhook sender: every tool's deliveries, signed its own way, accepted by
pmsync's receiver over real HTTP; drops, duplicates and reorders on request; a log with
send times; simulated activity that plants its truth."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
from pydantic import SecretStr

from connectors.settings import Settings
from connectors.webhook import Hint
from store import Store
from store.inbox import Inbox
from tests.conftest import EXPLICIT_ONLY
from webhooks import create_app, hints

DEMO = SecretStr("sandbox")
SECRETS: dict[str, Any] = {
    "jira_webhook_secret": DEMO,
    "zendesk_webhook_secret": DEMO,
    "hubspot_client_secret": DEMO,
    "intercom_client_secret": DEMO,
    "freshdesk_webhook_secret": DEMO,
    "salesforce_webhook_secret": DEMO,
}
QUIET = {"webhook_drop": 0, "webhook_duplicate": 0, "webhook_reorder": 0, "webhook_seed": 0}


class Receiver:
    """pmsync's webhook receiver over real HTTP on a free port, storing into `store`."""

    def __init__(self, settings: Settings, store: Store) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(settings, store), log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self._socket = sock
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self._socket.close()


def hook_settings(sandbox_url: str, store_url: str, **overrides: Any) -> Settings:
    """pmsync pointed at the sandbox, every webhook secret set to the sandbox's; explicit
    links only, so demand can be compared with the oracle (tests/conftest.py)."""
    return Settings.for_sandbox(
        sandbox_url, database_url=store_url, **{**EXPLICIT_ONLY, **SECRETS, **overrides}
    )


def configure(url: str, **settings: Any) -> dict[str, Any]:
    response = requests.post(f"{url}/_sandbox/config", json=settings, timeout=30)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def webhook_log(url: str) -> list[dict[str, Any]]:
    """Every delivery's outcome, once the sender has nothing left to send."""
    body = requests.get(f"{url}/_sandbox/webhooks", params={"wait": 1}, timeout=30).json()
    assert body["pending"] == 0, "the sender did not finish within 10 s"
    deliveries: list[dict[str, Any]] = body["deliveries"]
    return deliveries


@pytest.fixture
def hooked(sandbox_url: str, store_url: str, store: Store) -> Iterator[Inbox]:
    """The shared sandbox sending to a receiver of our own; its inbox."""
    receiver = Receiver(hook_settings(sandbox_url, store_url), store)
    configure(sandbox_url, webhook_url=receiver.url, **QUIET)
    requests.delete(f"{sandbox_url}/_sandbox/webhooks", timeout=30)
    yield store.inbox
    configure(sandbox_url, webhook_url=None, webhook_secrets=dict.fromkeys(SOURCES, "sandbox"))
    webhook_log(sandbox_url)
    receiver.stop()


SOURCES = ("jira", "zendesk", "hubspot", "intercom", "freshdesk", "salesforce")


def first_record(url: str, source: str) -> str:
    truth = requests.get(f"{url}/_sandbox/truth", timeout=30).json()
    return next(link["record_id"] for link in truth["links"] if link["source"] == source)


def open_zendesk_ticket(url: str) -> str:
    """A ticket Zendesk still lets the API update (closed ones are read-only)."""
    truth = requests.get(f"{url}/_sandbox/truth", timeout=30).json()
    for link in truth["links"]:
        if link["source"] == "zendesk":
            ticket = requests.get(
                f"{url}/zendesk/api/v2/tickets/{link['record_id']}.json",
                auth=("demo@example.com/token", "sandbox"),
                timeout=30,
            ).json()["ticket"]
            if ticket["status"] != "closed":
                return str(ticket["id"])
    raise AssertionError("no open Zendesk ticket")


def update(url: str, tool: str, kind: str, record_id: str, changes: dict[str, Any]) -> None:
    body = {"tool": tool, "kind": kind, "id": record_id, "changes": changes}
    requests.post(f"{url}/_sandbox/update", json=body, timeout=30).raise_for_status()


# (tool, kind at /_sandbox, change, the kind pmsync's hints name)
CHANGES = [
    ("zendesk", "ticket", {"status": "solved"}, "ticket"),
    ("intercom", "conversation", {"state": "closed"}, "conversation"),
    ("freshdesk", "ticket", {"status": 4}, "ticket"),
    ("hubspot", "deal", {"dealstage": "closedlost"}, "deal"),
    ("salesforce", "opportunity", {"StageName": "Closed Lost"}, "opportunity"),
]


@pytest.mark.parametrize(("tool", "kind", "changes", "hinted"), CHANGES, ids=lambda c: str(c))
def test_a_change_reaches_pmsyncs_receiver_signed_and_names_its_record(
    sandbox_url: str, hooked: Inbox, tool: str, kind: str, changes: dict[str, Any], hinted: str
) -> None:
    """Each vendor's signature (HMAC, timestamped HMAC, shared secret) verifies at pmsync's
    receiver, and the stored event names the changed record."""
    record_id = first_record(sandbox_url, tool)
    update(sandbox_url, tool, kind, record_id, changes)
    log = webhook_log(sandbox_url)
    assert log and all(e["outcome"] == "sent" and e["status"] == 202 for e in log), log
    assert all(e["sent_at"] and e["delivery_id"] and e["actor"] == "person" for e in log)
    events = hooked.events(tool)
    assert len(events) >= 1
    assert all(Hint(tool, hinted, record_id) in hints(tool, e.payload) for e in events)


def test_a_jira_transition_is_an_issue_updated_with_its_changelog(
    sandbox_url: str, hooked: Inbox
) -> None:
    update(sandbox_url, "jira", "issue", "ANA-3", {"status": "Done"})
    [sent] = webhook_log(sandbox_url)
    [event] = hooked.events("jira")
    assert event.payload["webhookEvent"] == "jira:issue_updated"
    assert event.payload["issue"]["key"] == "ANA-3"
    items = {item["field"]: item for item in event.payload["changelog"]["items"]}
    assert items["status"]["toString"] == "Done"
    assert event.headers["x-atlassian-webhook-identifier"] == sent["delivery_id"]


def test_api_writes_come_back_as_the_api_users_webhooks(sandbox_url: str, hooked: Inbox) -> None:
    """What pmsync writes through the APIs comes back to it, as in the real tools."""
    auth = ("demo@example.com", "sandbox")
    jira = f"{sandbox_url}/jira/rest/api/3/issue/ANA-2"
    requests.put(jira, json={"fields": {"customfield_10050": 4}}, auth=auth, timeout=30)
    comment = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "pmsync demand summary: 4 requests"}]}]}  # fmt: skip
    requests.post(f"{jira}/comment", json={"body": comment}, auth=auth, timeout=30)
    ticket = open_zendesk_ticket(sandbox_url)
    requests.put(
        f"{sandbox_url}/zendesk/api/v2/tickets/{ticket}.json",
        json={"ticket": {"comment": {"body": "Shipped [pmsync ANA-2 done]", "public": False}}},
        auth=("demo@example.com/token", "sandbox"),
        timeout=30,
    ).raise_for_status()
    log = webhook_log(sandbox_url)
    assert {(e["tool"], e["event"], e["actor"]) for e in log} == {
        ("jira", "jira:issue_updated", "api"),
        ("jira", "comment_created", "api"),
        ("zendesk", "zen:event-type:ticket.comment_added", "api"),
    }
    [updated] = [e for e in hooked.events("jira") if "changelog" in e.payload]
    assert updated.payload["changelog"]["items"][0]["field"] == "Customer Requests"
    [note] = hooked.events("zendesk")
    assert "[pmsync ANA-2 done]" in note.payload["event"]["comment"]["body"]


def test_a_wrong_secret_is_refused_and_logged_as_failed(sandbox_url: str, hooked: Inbox) -> None:
    configure(sandbox_url, webhook_secrets={"hubspot": "not-the-secret"})
    update(sandbox_url, "hubspot", "deal", first_record(sandbox_url, "hubspot"), {"amount": 1})
    [entry] = webhook_log(sandbox_url)
    assert (entry["outcome"], entry["status"]) == ("failed", 401)
    assert hooked.events() == []


def test_dropped_deliveries_never_arrive(sandbox_url: str, hooked: Inbox) -> None:
    configure(sandbox_url, webhook_drop=1.0)
    requests.post(
        f"{sandbox_url}/_sandbox/activity", json={"kind": "open_ticket", "count": 3}, timeout=30
    )
    log = webhook_log(sandbox_url)
    assert [e["outcome"] for e in log] == ["dropped"] * 3
    assert all(e["sent_at"] is None for e in log)
    assert hooked.events() == []


def test_duplicates_are_the_vendors_retries_and_stored_once(
    sandbox_url: str, hooked: Inbox
) -> None:
    configure(sandbox_url, webhook_duplicate=1.0)
    requests.post(
        f"{sandbox_url}/_sandbox/activity",
        json={"kind": "move_deal", "count": 4, "seed": 2},
        timeout=30,
    )
    log = webhook_log(sandbox_url)
    sent = [e["delivery_id"] for e in log if e["outcome"] == "sent"]
    again = [e["delivery_id"] for e in log if e["outcome"] == "duplicated"]
    assert sent and sorted(sent) == sorted(again)
    assert all(e["status"] == 202 for e in log)
    # HubSpot sends one array per change; each event in it is one inbox row, stored once.
    events = hooked.events()
    assert len({(e.tool, e.delivery_id) for e in events}) == len(events)


def test_reordered_deliveries_arrive_out_of_order(sandbox_url: str, hooked: Inbox) -> None:
    configure(sandbox_url, webhook_reorder=1.0)
    requests.post(
        f"{sandbox_url}/_sandbox/activity", json={"kind": "open_ticket", "count": 2}, timeout=30
    )
    log = webhook_log(sandbox_url)
    assert [e["seq"] for e in log] == sorted((e["seq"] for e in log), reverse=True)
    assert log[-1]["reordered"] is True


def test_sending_never_holds_up_an_api_request(store_url: str) -> None:
    """A receiver that never answers delays no API call: deliveries go out from a thread."""
    from sandbox.server import start_sandbox

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers
    port = silent.getsockname()[1]
    with start_sandbox(seed=7, webhook_url=f"http://127.0.0.1:{port}") as sandbox:
        started = time.monotonic()
        for _ in range(5):
            update(sandbox.url, "jira", "issue", "ANA-1", {"labels": ["x", str(time.time())]})
        assert time.monotonic() - started < 2.0
        entries = requests.get(f"{sandbox.url}/_sandbox/webhooks", timeout=30).json()
        assert entries["pending"] == 5
    silent.close()


def test_config_refuses_bad_settings_and_never_shows_secrets(sandbox_url: str) -> None:
    for bad in (
        {"webhook_drop": 2},
        {"webhook_duplicate": "often"},
        {"webhook_url": "ftp://example.com"},
        {"webhook_secrets": {"slack": "x"}},
        {"webhook_seed": 1.5},
    ):
        response = requests.post(f"{sandbox_url}/_sandbox/config", json=bad, timeout=30)
        assert response.status_code == 400, bad
    shown = configure(sandbox_url, webhook_secrets={"jira": "s3cret-value"})
    assert "s3cret-value" not in str(shown)
    assert shown["webhook_secrets"] == sorted(SOURCES)
    configure(sandbox_url, webhook_secrets={"jira": "sandbox"})


def test_activity_is_deterministic_and_plants_its_truth(sandbox_url: str) -> None:
    def run() -> list[dict[str, Any]]:
        requests.post(f"{sandbox_url}/_sandbox/reset", json={"seed": 7}, timeout=30)
        answer = requests.post(
            f"{sandbox_url}/_sandbox/activity",
            json={"kind": "mixed", "count": 15, "seed": 4},
            timeout=30,
        ).json()
        return [{k: v for k, v in c.items() if k != "deliveries"} for c in answer["changes"]]

    first = run()
    assert first == run()
    kinds = {c["activity"] for c in first}
    assert {"open_ticket", "move_deal"} <= kinds
    truth = requests.get(f"{sandbox_url}/_sandbox/truth", timeout=30).json()["links"]
    planted = {(t["source"], t["record_id"], t["issue_key"]) for t in truth}
    for change in first:
        if change["activity"] in ("open_ticket", "tag_issue"):
            assert (change["tool"], change["id"], change["issue_key"]) in planted


@pytest.mark.parametrize(
    "body",
    [{"kind": "dance"}, {"kind": "open_ticket", "count": 0}, {"count": True}, {"seed": "x"}, []],
)
def test_activity_refuses_what_it_cannot_do(sandbox_url: str, body: Any) -> None:
    response = requests.post(f"{sandbox_url}/_sandbox/activity", json=body, timeout=30)
    assert response.status_code == 400
