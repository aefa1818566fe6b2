"""Exactness against the sandbox: what pmsync stores is what the tools serve, read by the
test from the sandbox itself (its in-process state, through the sandbox's own code only),
never through pmsync's connectors.

Also here: `--full` after incremental runs converges to the same store, and a search
index that lags behind writes loses nothing once the lookback covers the lag. The
helpers (`served`, `stored`, `mismatches`, `Changes`) are shared with the property and
fault tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sandbox_session import configured_sandbox

from connectors import registry
from connectors.jira.remote_links import NO_TIME
from connectors.settings import Settings
from flows.pipeline import pull_source, run_cycle
from models import RecordKind
from sandbox import malformed
from sandbox.server import SandboxServer, start_sandbox
from sandbox.state import SandboxState
from store import Store

Snapshot = dict[tuple[str, str], dict[str, datetime]]  # (source, kind) -> id -> updated

# The sandbox's (tool, kind) of each store kind the tests change, with a field to change.
CHANGEABLE = {
    "jira": ("issue", "summary"),
    "zendesk": ("ticket", "subject"),
    "intercom": ("conversation", "title"),
    "freshdesk": ("ticket", "subject"),
    "hubspot": ("deal", "dealname"),
    "salesforce": ("opportunity", "Name"),
}
# Deleted Intercom conversations are not emulated as a stream pmsync can see (Intercom
# offers no list of deleted conversations); every other tool's deletes are.
DELETABLE = ("jira", "zendesk", "freshdesk", "hubspot", "salesforce")


def _time(value: Any) -> datetime:
    """A sandbox timestamp (unix seconds or any vendor's ISO 8601) as aware UTC."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).replace("Z", "+00:00")
    if text[-5] in "+-" and text[-3] != ":":  # Jira's and Salesforce's +0000
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text).astimezone(UTC)


def served(state: SandboxState, projects: tuple[str, ...] = ("ANA",)) -> Snapshot:
    """What each tool serves as live, well-formed records: {(source, kind): {id: updated}}.

    Read from the sandbox's own records: deleted, archived, trashed and recycled records
    are left out, and so are the records the sandbox serves broken (they belong in the
    dead letters)."""

    def intact(tool: str, kind: str, record_id: Any) -> bool:
        return malformed.broken_field(state, tool, kind, record_id) is None

    with state.lock:
        zendesk, intercom, freshdesk = state.zendesk, state.intercom, state.freshdesk
        hubspot, salesforce = state.hubspot.objects, state.salesforce.records
        return {
            ("jira", "issue"): {
                str(i["id"]): _time(i["fields"]["updated"])
                for i in state.jira.issues.values()
                if str(i["key"]).split("-")[0] in projects
            },
            ("zendesk", "feedback"): {
                str(t["id"]): _time(t["updated_at"])
                for t in zendesk.tickets.values()
                if t.get("status") != "deleted" and intact("zendesk", "ticket", t["id"])
            },
            ("zendesk", "account"): {
                str(o["id"]): _time(o["updated_at"]) for o in zendesk.organizations.values()
            },
            ("zendesk", "tool_link"): {
                str(link["id"]): _time(link.get("updated_at") or link["created_at"])
                for link in zendesk.jira_links
            },
            # Remote links on the project's issues (Jira keeps no time for them).
            ("jira", "tool_link"): {
                str(link["id"]): NO_TIME
                for key, links in state.jira.remote_links.items()
                if str(key).split("-")[0] in projects
                for link in links
            },
            ("intercom", "feedback"): {
                str(c["id"]): _time(c["updated_at"])
                for c in intercom.conversations.values()
                if intact("intercom", "conversation", c["id"])
            },
            ("intercom", "account"): {
                str(c["id"]): _time(c["updated_at"]) for c in intercom.companies.values()
            },
            ("freshdesk", "feedback"): {
                str(t["id"]): _time(t["updated_at"])
                for t in freshdesk.tickets.values()
                if not t.get("deleted")
                and not t.get("spam")
                and intact("freshdesk", "ticket", t["id"])
            },
            ("freshdesk", "account"): {
                str(c["id"]): _time(c["updated_at"]) for c in freshdesk.companies.values()
            },
            ("hubspot", "deal"): {
                str(d["id"]): _time(d["properties"]["hs_lastmodifieddate"])
                for d in hubspot["deals"].values()
                if intact("hubspot", "deal", d["id"])
            },
            ("hubspot", "account"): {
                str(c["id"]): _time(c["properties"]["hs_lastmodifieddate"])
                for c in hubspot["companies"].values()
            },
            ("salesforce", "deal"): {
                str(o["Id"]): _time(o["SystemModstamp"])
                for o in salesforce["Opportunity"].values()
                if not o.get("IsDeleted") and intact("salesforce", "opportunity", o["Id"])
            },
            ("salesforce", "account"): {
                str(a["Id"]): _time(a["SystemModstamp"])
                for a in salesforce["Account"].values()
                if not a.get("IsDeleted")
            },
        }


def stored(store: Store) -> Snapshot:
    """What pmsync holds, in the same shape."""
    found: Snapshot = {}
    for kind in RecordKind:
        for record in store.records.load(kind):
            found.setdefault((record.source, kind), {})[record.id] = record.updated_at
    return found


def mismatches(expected: Snapshot, actual: Snapshot, tools: tuple[str, ...] = ()) -> list[str]:
    """Every missing, extra or stale record, per (source, kind); empty when equal."""
    problems = []
    for key in sorted(set(expected) | set(actual)):
        if tools and key[0] not in tools:
            continue
        want, have = expected.get(key, {}), actual.get(key, {})
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        stale = sorted(i for i in set(want) & set(have) if want[i] != have[i])
        if missing:
            problems.append(f"{key}: {len(missing)} missing of {len(want)}, e.g. {missing[:3]}")
        if extra:
            problems.append(f"{key}: {len(extra)} extra, e.g. {extra[:3]}")
        for record_id in stale[:3]:
            problems.append(
                f"{key}: {record_id} stored as of {have[record_id]}, served as of {want[record_id]}"
            )
    return problems


class Changes:
    """Changes made through /_sandbox the way each tool makes them: one record updated now,
    many records updated to one shared timestamp (`at`), a record deleted. Records are
    picked by an index into the tool's live ids, so a test can draw them."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.zendesk_written = 0.0  # when a Zendesk ticket last changed (time.time())
        self.made: list[tuple[str, str, str]] = []  # (verb, tool, id)

    def live_ids(self, tool: str) -> list[str]:
        """The ids /_sandbox/update and /delete take (a Jira issue's key), sorted."""
        state = self.server.state
        with state.lock:
            if tool == "jira":
                return sorted(state.jira.issues)
            if tool == "zendesk":
                tickets = state.zendesk.tickets.items()
                return sorted(str(k) for k, t in tickets if t.get("status") != "deleted")
            if tool == "intercom":
                return sorted(state.intercom.conversations)
            if tool == "freshdesk":
                tickets = state.freshdesk.tickets.items()
                return sorted(str(k) for k, t in tickets if not t.get("deleted"))
            if tool == "hubspot":
                return sorted(state.hubspot.objects["deals"])
            records = state.salesforce.records["Opportunity"].items()
            return sorted(k for k, o in records if not o.get("IsDeleted"))

    def _post(self, verb: str, body: dict[str, Any]) -> None:
        response = requests.post(f"{self.server.url}/_sandbox/{verb}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        if body["tool"] == "zendesk":
            self.zendesk_written = time.time()
        self.made.append((verb, body["tool"], str(body["id"])))

    def candidates(self, tool: str, among: list[str] | None) -> list[str]:
        live = self.live_ids(tool)
        if among is None:
            return live
        chosen = set(among) & set(live)
        return [record_id for record_id in among if record_id in chosen]

    def update(
        self,
        tool: str,
        pick: int,
        count: int = 1,
        shared: bool = False,
        among: list[str] | None = None,
    ) -> None:
        """Update `count` records from index `pick` on (of the live ids, or of those of
        `among` still live); `shared` gives them one timestamp."""
        ids = self.candidates(tool, among)
        if not ids:
            return
        kind, field = CHANGEABLE[tool]
        at = datetime.now(UTC).isoformat(timespec="milliseconds") if shared else None
        for n in range(min(count, len(ids))):
            record_id = ids[(pick + n) % len(ids)]
            body: dict[str, Any] = {
                "tool": tool,
                "kind": kind,
                "id": record_id,
                "changes": {field: f"changed {pick}/{n}"},
            }
            if at is not None:
                body["at"] = at
            self._post("update", body)

    def delete(self, tool: str, pick: int, among: list[str] | None = None) -> None:
        ids = self.candidates(tool, among)
        if ids:
            kind = CHANGEABLE[tool][0]
            self._post("delete", {"tool": tool, "kind": kind, "id": ids[pick % len(ids)]})

    def settle(self) -> None:
        """Wait until Zendesk's export serves the last change (its delay, if set)."""
        delay = self.server.state.zendesk_export_delay_s
        if delay and self.zendesk_written:
            # The export compares whole seconds: a change at 10:00:00.7 counts as 10:00:00.
            ready = int(self.zendesk_written) + delay + 0.01
            time.sleep(max(0.0, ready - time.time()))


def pull_all(settings: Settings, store: Any, full: bool) -> None:
    """A sync's pull step: every configured tool, page by page (no linking, no publish)."""
    for source in registry.configured(settings):
        pull_source(settings, store, source, full)


# -- `--full` converges ---------------------------------------------------------------------


def links_and_ledger(store: Store) -> tuple[list[tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    links = sorted(
        (link.source, link.record_id, link.issue_key, link.method, link.status)
        for link in store.links.all()
    )
    ledger = {
        key: (entry.content_hash, entry.comment_id) for key, entry in store.ledger.entries().items()
    }
    return links, ledger


@pytest.fixture
def exact_sandbox() -> Iterator[SandboxServer]:
    with configured_sandbox(11, zendesk_export_delay_s=1) as server:
        yield server


def test_full_after_incremental_runs_converges_to_the_same_store(
    exact_sandbox: SandboxServer, tmp_path: Any
) -> None:
    """`pmsync sync --full` re-reads everything: after incremental runs that met updates
    (some sharing one timestamp) and deletes, it must neither add, drop nor change a
    record, a link or a ledger entry, and must write nothing to Jira. Pins down a full read
    that resurrects deleted records (a delete signal only incremental reads act on), one
    that leaves records a cursor skipped, and links or ledger entries that differ by path."""
    server = exact_sandbox
    settings = Settings.for_sandbox(server.url, database_url=f"sqlite:///{tmp_path}/s.db")
    store = Store(settings.database_url, upgrade=True)
    changes = Changes(server)
    run_cycle(settings, store, full=True)
    for tool in CHANGEABLE:
        changes.update(tool, pick=3)
        changes.update(tool, pick=17, count=6, shared=True)
    for tool in DELETABLE:
        changes.delete(tool, pick=5)
    changes.settle()
    run_cycle(settings, store)
    changes.update("jira", pick=1, count=4, shared=True)
    changes.update("hubspot", pick=9)
    changes.delete("hubspot", pick=2)
    changes.delete("salesforce", pick=8)
    changes.settle()
    run_cycle(settings, store)
    # Publishing edits Jira issues: one more run takes those edits in and writes nothing.
    quiet = run_cycle(settings, store)
    assert quiet.published["written"] == 0
    incremental = stored(store)
    incremental_links, incremental_ledger = links_and_ledger(store)
    assert mismatches(served(server.state), incremental) == []

    full = run_cycle(settings, store, full=True)

    assert full.published == {"written": 0, "unchanged": full.published["unchanged"], "failed": 0}
    assert mismatches(incremental, stored(store)) == []
    # Text matches against issues edited since the last reconcile are refreshed by the
    # next one (services.incremental); every other link, and every number written, is exact.
    links, ledger = links_and_ledger(store)
    assert ledger == incremental_ledger
    assert untexted(links) == untexted(incremental_links)
    assert untexted(incremental_links), "the world links feedback and deals to issues"


def untexted(links: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [link for link in links if link[3] != "text"]


# -- search lag ------------------------------------------------------------------------------

LAGGING = ("jira", "hubspot", "intercom")  # the tools whose search the sandbox delays


def test_changes_hidden_by_search_lag_are_read_by_the_next_sync_within_the_lookback(
    tmp_path: Any,
) -> None:
    """Search indexes (Jira, HubSpot, Intercom) show a write late, and not in write order:
    a change A can be missing from a sync that already sees a later change B, so the
    cursor passes A. With a lookback covering the lag the next sync re-reads A; without
    one A is lost for good. Pins down a lookback that is not applied (or applied to the
    wrong bound) on each search-based stream."""
    lag = 1.0
    with start_sandbox(seed=5, search_lag_s=lag) as server:
        covered = Settings.for_sandbox(
            server.url, database_url=f"sqlite:///{tmp_path}/covered.db", lookback_minutes=1
        )
        exposed = covered.model_copy(
            update={"database_url": f"sqlite:///{tmp_path}/exposed.db", "lookback_minutes": 0}
        )
        stores = {
            "covered": Store(covered.database_url, upgrade=True),
            "exposed": Store(exposed.database_url, upgrade=True),
        }
        for name, settings in (("covered", covered), ("exposed", exposed)):
            for tool in LAGGING:
                pull_source(settings, stores[name], tool, full=True)
        started = datetime.now(UTC)
        changes = Changes(server)
        # B: indexed before the sync, with the later timestamp (seconds apart: Intercom's
        # timestamps are whole seconds).
        later = (started + timedelta(seconds=3)).isoformat(timespec="milliseconds")
        for tool in LAGGING:
            kind, field = CHANGEABLE[tool]
            b_id = changes.live_ids(tool)[0]
            requests.post(
                f"{server.url}/_sandbox/update",
                json={"tool": tool, "kind": kind, "id": b_id, "changes": {field: "B"}, "at": later},
                timeout=30,
            ).raise_for_status()
        time.sleep(lag + 0.1)
        # A: written now with an earlier timestamp than B, so not indexed yet.
        earlier = started.isoformat(timespec="milliseconds")
        for tool in LAGGING:
            kind, field = CHANGEABLE[tool]
            a_id = changes.live_ids(tool)[-1]
            requests.post(
                f"{server.url}/_sandbox/update",
                json={
                    "tool": tool,
                    "kind": kind,
                    "id": a_id,
                    "changes": {field: "A"},
                    "at": earlier,
                },
                timeout=30,
            ).raise_for_status()
        for name, settings in (("covered", covered), ("exposed", exposed)):
            for tool in LAGGING:
                pull_source(settings, stores[name], tool, full=False)
        time.sleep(lag + 0.1)  # the index catches up
        for name, settings in (("covered", covered), ("exposed", exposed)):
            for tool in LAGGING:
                pull_source(settings, stores[name], tool, full=False)

        truth = served(server.state)
        assert mismatches(truth, stored(stores["covered"]), LAGGING) == []
        lost = mismatches(truth, stored(stores["exposed"]), LAGGING)
    # Without a lookback each tool's A is lost (Jira's sweep even dropped it meanwhile).
    assert len(lost) == len(LAGGING), lost


# -- Intercom requesters, found in bulk ------------------------------------------------------


def test_intercom_requesters_found_by_search_are_those_read_one_by_one(
    sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conversation's company is its requester's: a full sync used to read every
    requester's contact with its own GET (3,000 requests at scale 100). Pins down a bulk
    lookup (contacts search by id, in pages) that loses, mixes up or misses a contact."""
    import connectors.intercom.client
    from connectors.intercom.client import IntercomConnector

    settings = Settings.for_sandbox(sandbox_url)

    def feedback() -> list[Any]:
        pages = IntercomConnector(settings).conversations(None)
        return sorted((r.model_dump() for p in pages for r in p.records), key=lambda r: r["id"])

    monkeypatch.setattr(connectors.intercom.client, "ONE_BY_ONE", 10**6)
    one_by_one = feedback()
    requests.delete(f"{sandbox_url}/_sandbox/requests", timeout=30)
    monkeypatch.setattr(connectors.intercom.client, "ONE_BY_ONE", 0)
    monkeypatch.setattr(connectors.intercom.client, "CONTACTS_PER_SEARCH", 7)
    monkeypatch.setattr(connectors.intercom.client, "SEARCH_PAGE", 5)  # ids of a search span pages
    in_bulk = feedback()

    routes = requests.get(f"{sandbox_url}/_sandbox/requests", timeout=30).json()["intercom"]
    assert in_bulk == one_by_one
    assert sum(1 for item in in_bulk if item["account_id"]) > len(in_bulk) // 2
    assert routes["routes"].get("POST /contacts/search", 0) > 1
    assert routes["routes"].get("GET /contacts/{id}", 0) == 0


# -- offset paging under changes -------------------------------------------------------------


@pytest.mark.parametrize("verb", ["update", "delete"])
@pytest.mark.parametrize("tool", ["hubspot", "freshdesk"])
def test_a_record_changed_or_deleted_mid_read_hides_no_other(
    sandbox_server: SandboxServer,
    sandbox_url: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    tool: str,
    verb: str,
) -> None:
    """HubSpot's search (`after`) and Freshdesk's listing (`page`) page by offset in change
    order. A record read on page 1 that changes moves to the end, or one that is deleted
    leaves: every record behind it moves up a place, and page 2 starts one record late.
    Pins down the record that slid over the page boundary being lost for good (it has not
    changed, so no later incremental sync asks for it)."""
    import connectors.freshdesk.client

    monkeypatch.setattr(connectors.freshdesk.client, "PER_PAGE", 5)
    settings = Settings.for_sandbox(
        sandbox_url, database_url=f"sqlite:///{tmp_path}/s.db", page_size=5
    )
    store = Store(settings.database_url, upgrade=True)
    changes = Changes(sandbox_server)
    save_page = store.records.save_page
    first: list[str] = []

    def save_then_change(records: Any, *args: Any, **kwargs: Any) -> None:
        save_page(records, *args, **kwargs)
        ids = [r.id for r in records if r.source == tool and type(r).__name__ != "Account"]
        if ids and not first:
            first.append(ids[0])
            if verb == "update":
                changes.update(tool, 0, among=first)
            else:
                changes.delete(tool, 0, among=first)

    monkeypatch.setattr(store.records, "save_page", save_then_change)
    pull_source(settings, store, tool, full=True)

    assert first and mismatches(served(sandbox_server.state), stored(store), (tool,)) == []
