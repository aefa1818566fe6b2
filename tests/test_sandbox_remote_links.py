"""Jira remote links that the support tools' and CRMs' Jira apps planted in the seeded world:
served by GET .../remotelink with absolute URLs back to the record, listed in the truth,
drawn without disturbing anything else the seed makes; a new link moves the issue."""

import json
import threading
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from sandbox import jira_data, world_remote_links
from sandbox.server import SandboxServer, start_sandbox
from sandbox.world import CRMS, SUPPORT_TOOLS, World, generate

AUTH = ("demo@example.com", "sandbox")
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
MOUNTS = {tool: f"/{tool}/" for tool in (*SUPPORT_TOOLS, *CRMS)}
WORLD_FIELDS = ("issues", "accounts", "people", "feedback", "jira_links", "deals")


def served_links(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every issue's remote links, as GET /rest/api/3/issue/{key}/remotelink answers."""
    keys = [
        issue["key"]
        for issue in requests.get(
            f"{url}/jira/rest/api/3/search/jql",
            params={"jql": "project = ANA", "fields": "key", "maxResults": "5000"},
            auth=AUTH,
            timeout=30,
        ).json()["issues"]
    ]
    return {
        key: requests.get(
            f"{url}/jira/rest/api/3/issue/{key}/remotelink", auth=AUTH, timeout=30
        ).json()
        for key in keys
    }


def epoch_ms(jira_time: str) -> int:
    return int(datetime.strptime(jira_time, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


def without_remote_links(seed: int, scale: int, monkeypatch: pytest.MonkeyPatch) -> World:
    with monkeypatch.context() as patch:
        patch.setattr(world_remote_links, "remote_links", lambda *args: ((), ()))
        return generate(seed, NOW, scale)


def test_seed_7_plants_links_for_feedback_in_every_support_tool_and_deals_in_both_crms() -> None:
    """At scale 1 each tool's Jira app has linked something, and only records that nothing
    else links: feedback of the planted kind "unrelated", deals with an empty Jira field."""
    world = generate(7, NOW)
    planted = Counter((link.tool, link.kind) for link in world.remote_links)
    assert set(planted) == {(t, "feedback") for t in SUPPORT_TOOLS} | {(c, "deal") for c in CRMS}
    assert 5 <= len(world.remote_links) <= 12
    others = {(t.source, t.record_id) for t in world.truth if t.method != "jira_remote_link"}
    issues = {i.key: i for i in world.issues}
    feedback = {(f.tool, str(f.id)): f for f in world.feedback}
    deals = {(d.crm, d.id): d for d in world.deals}
    for link in world.remote_links:
        record = feedback.get((link.tool, link.record_id)) or deals[(link.tool, link.record_id)]
        issue = issues[link.issue_key]
        assert (link.tool, link.record_id) not in others
        assert link.kind == "deal" or record in feedback.values()
        assert link.kind == "feedback" or not deals[(link.tool, link.record_id)].issue_keys
        assert link.issue_id == issue.id
        # Linked after both existed; the issue's `updated` already accounts for the link.
        assert record.created < link.created and issue.created <= link.created <= issue.updated
    assert len({link.id for link in world.remote_links}) == len(world.remote_links)


@pytest.mark.parametrize(("seed", "scale"), [(7, 1), (11, 3)])
def test_remote_links_are_deterministic_and_leave_the_rest_of_the_world_as_it_was(
    seed: int, scale: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remote links come from their own random stream: every record, Jira link and older
    truth entry of a seed and scale is what the world without them has, and the Jira
    issues are served with the same fields (`updated` included)."""
    world, before = generate(seed, NOW, scale), without_remote_links(seed, scale, monkeypatch)
    assert world == generate(seed, NOW, scale)
    assert world.remote_links and not before.remote_links
    for name in WORLD_FIELDS:
        assert getattr(world, name) == getattr(before, name), name
    assert world.truth[: len(before.truth)] == before.truth
    added = world.truth[len(before.truth) :]
    assert {t.method for t in added} == {"jira_remote_link"}
    assert jira_data.build(world).issues == jira_data.build(before).issues
    assert generate(seed + 1, NOW, scale).remote_links != world.remote_links


def test_every_planted_link_has_a_truth_entry_and_every_truth_entry_a_link() -> None:
    for world in (generate(7, NOW), generate(7, NOW, scale=3)):
        planted = {(x.tool, x.kind, x.record_id, x.issue_key) for x in world.remote_links}
        truth = {
            (t.source, t.kind, t.record_id, t.issue_key)
            for t in world.truth
            if t.method == "jira_remote_link"
        }
        assert planted == truth and len(truth) == len(world.remote_links)


def test_get_remotelink_serves_planted_links_pointing_at_the_records_tool(
    server: SandboxServer,
) -> None:
    """What pmsync's Jira connector reads: the app's globalId and name, and an absolute
    URL under the record's tool on this very sandbox, titled as the record is."""
    world = server.state.world
    titles = {(f.tool, str(f.id)): f.subject for f in world.feedback}
    titles |= {(d.crm, d.id): d.name for d in world.deals}
    served = served_links(server.url)
    found = set()
    for key, links in served.items():
        issue_id = next(i.id for i in world.issues if i.key == key)
        for link in links:
            app, tool, record_id = link["globalId"].split(":")
            assert link["application"] == dict(
                zip(("type", "name"), jira_data.REMOTE_APPS[tool], strict=True)
            )
            assert app == link["application"]["type"]
            assert link["relationship"] == "mentioned in"
            assert link["self"] == (
                f"{server.url}/jira/rest/api/3/issue/{issue_id}/remotelink/{link['id']}"
            )
            assert link["object"]["url"].startswith(server.url + MOUNTS[tool])
            assert link["object"]["url"].endswith(record_id) or tool == "salesforce"
            assert record_id in link["object"]["url"]
            assert link["object"]["title"] == titles[(tool, record_id)]
            found.add((tool, record_id, key))
    truth = requests.get(f"{server.url}/_sandbox/truth", timeout=30).json()["links"]
    planted = {
        (t["source"], t["record_id"], t["issue_key"])
        for t in truth
        if t["method"] == "jira_remote_link"
    }
    assert found == planted
    assert {t for t, _, _ in planted} == set(MOUNTS)


def test_the_issue_page_links_to_the_planted_records(server: SandboxServer) -> None:
    link = server.state.world.remote_links[0]
    [served] = [
        x
        for x in requests.get(
            f"{server.url}/jira/rest/api/3/issue/{link.issue_key}/remotelink",
            auth=AUTH,
            timeout=30,
        ).json()
        if x["id"] == link.id
    ]
    page = requests.get(f"{server.url}/jira/browse/{link.issue_key}", timeout=30).text
    assert f'href="{served["object"]["url"]}"' in page


class Hooks(ThreadingHTTPServer):
    """A webhook receiver that keeps every body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_posting_a_remote_link_moves_the_issue_for_search_and_webhooks() -> None:
    """Jira logs a new remote link in the issue's history: `updated` moves, a search by
    `updated` finds the issue, and a `jira:issue_updated` webhook names the link. Posting
    the same link again changes nothing."""
    hooks = Hooks()
    with start_sandbox(seed=7, webhook_url=f"http://127.0.0.1:{hooks.server_port}") as sandbox:
        api = f"{sandbox.url}/jira/rest/api/3/issue/ANA-5"
        before = requests.get(api, auth=AUTH, timeout=30).json()["fields"]["updated"]
        link: dict[str, Any] = {
            "globalId": "com.zendesk.jira:zendesk:1",
            "application": {"type": "com.zendesk.jira", "name": "Zendesk"},
            "object": {"url": "https://example.zendesk.com/agent/tickets/1", "title": "T1"},
        }
        created = requests.post(f"{api}/remotelink", json=link, auth=AUTH, timeout=30)
        assert created.status_code == 201
        moved = requests.get(api, auth=AUTH, timeout=30).json()["fields"]["updated"]
        assert moved > before
        again = requests.post(f"{api}/remotelink", json=link, auth=AUTH, timeout=30)
        assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
        assert requests.get(api, auth=AUTH, timeout=30).json()["fields"]["updated"] == moved
        [posted] = [
            x
            for x in requests.get(f"{api}/remotelink", auth=AUTH, timeout=30).json()
            if x["globalId"] == link["globalId"]
        ]
        assert posted["object"]["url"] == link["object"]["url"]  # absolute URLs kept as posted
        found = requests.get(
            f"{sandbox.url}/jira/rest/api/3/search/jql",
            params={"jql": f"updated >= {epoch_ms(moved)} ORDER BY updated", "fields": "key"},
            auth=AUTH,
            timeout=30,
        ).json()["issues"]
        assert "ANA-5" in {i["key"] for i in found}
        log = requests.get(f"{sandbox.url}/_sandbox/webhooks", params={"wait": 1}, timeout=30)
        assert log.json()["pending"] == 0
    hooks.shutdown()
    [sent] = hooks.bodies
    assert sent["webhookEvent"] == "jira:issue_updated" and sent["issue"]["key"] == "ANA-5"
    [item] = sent["changelog"]["items"]
    assert item["field"] == "RemoteIssueLink" and item["to"] == str(created.json()["id"])
