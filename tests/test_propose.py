"""A theme of requests no issue covers becomes a proposed issue: printed with its terms,
size, customers, revenue and quotes with links; with --create, made once in Jira (the
sandbox's POST /rest/api/3/issue) and its requests suggested for it after the next sync."""

from __future__ import annotations

import json
import os

import requests
from typer.testing import CliRunner

from connectors.settings import Settings
from flows.pipeline import run_cycle
from pmsync.cli import app
from store import Store
from tests.jira_view import AUTH


def cli(store_url: str, *args: str) -> str:
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_theme_becomes_an_issue_once_and_its_requests_suggestions(
    settings: Settings, store: Store, store_url: str, sandbox_url: str
) -> None:
    run_cycle(settings, store)
    themes = json.loads(cli(store_url, "report", "--unlinked", "--json"))["themes"]
    assert themes, "the sandbox world has requests no issue covers"
    theme = themes[0]
    shown = json.loads(cli(store_url, "themes", "propose", str(theme["theme"]), "--json"))
    assert shown["issue"] is None and shown["summary"].startswith("Customers ask: ")
    text = "\n".join(shown["description"])
    assert f"{theme['requests']} requests from {theme['customers']} customers" in text
    assert all(q["url"] in text for q in theme["quotes"])
    assert len(shown["requests"]) == theme["requests"]

    args = ["themes", "propose", str(theme["theme"]), "--json", "--create"]
    created = json.loads(cli(store_url, *args, "--sandbox", sandbox_url))
    key = created["issue"]
    assert created["created"] and key.startswith("ANA-")
    issue = requests.get(f"{sandbox_url}/jira/rest/api/3/issue/{key}", auth=AUTH, timeout=30)
    assert issue.status_code == 200
    fields = issue.json()["fields"]
    assert fields["summary"] == shown["summary"] and created["label"] in fields["labels"]
    # The description reaches Jira as a document: the headline bold, each quote linked.
    described = fields["description"]
    assert described["type"] == "doc"
    headline = described["content"][0]["content"][0]
    assert headline["text"] == shown["description"][0] and headline["marks"] == [{"type": "strong"}]
    links = json.dumps(described)
    assert all(json.dumps(q["url"]) in links for q in theme["quotes"])
    # Again: the label finds the issue made before; nothing new is created.
    again = json.loads(cli(store_url, *args, "--sandbox", sandbox_url))
    assert again["issue"] == key and not again["created"]

    run_cycle(settings, store)
    suggested = {
        f"{x.source}:{x.record_id}" for x in store.links.all(key, suggested=True) if not x.counts
    }
    assert suggested == set(shown["requests"])
    listed = cli(store_url, "links", "list", "--suggested", "--json", "--per-page", "999")
    rows = json.loads(listed)["suggestions"]
    assert {f"{r['source']}:{r['record_id']}" for r in rows if r["issue_key"] == key} == suggested


def test_unknown_theme_says_where_themes_are_listed(settings: Settings, store_url: str) -> None:
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url)
    result = CliRunner().invoke(app, ["themes", "propose", "999"], env=env)
    assert result.exit_code == 2 and "report --unlinked" in result.output


def test_the_sandbox_refuses_an_issue_without_a_summary(sandbox_url: str) -> None:
    """As Jira documents: a missing field is a 400 naming it."""
    answer = requests.post(
        f"{sandbox_url}/jira/rest/api/3/issue",
        json={"fields": {"project": {"key": "ANA"}, "issuetype": {"name": "Story"}}},
        auth=AUTH,
        timeout=30,
    )
    assert answer.status_code == 400 and "summary" in answer.json()["errors"]
