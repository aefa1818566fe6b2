"""One tool's failure is that tool's: an unreachable tool or refused credentials stop that
tool's pull only. The others' changes are linked and published, the run ends partially
failed naming the tool and the setting to fix, and the failed tool's cursor stays put."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

import pmsync.sync_cmd
from connectors.settings import Settings
from flows.pipeline import run_cycle
from pmsync.cli import app
from pmsync.status_cmd import status_report
from store import Store
from tests.conftest import EXPLICIT_ONLY

ZENDESK_STREAMS = ("zendesk.tickets", "zendesk.organizations", "zendesk.jira_links")


def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NUMBERS = ("requests", "customers", "revenue", "open_pipeline", "weighted_pipeline", "by_source")


def published_numbers(store: Store) -> dict[str, tuple[Any, ...]]:
    """What each published issue shows (a reset world is dated a moment later, so the
    times move; the numbers may not)."""
    return {
        key: tuple(str(entry.summary[name]) for name in NUMBERS)
        for key, entry in store.ledger.entries().items()
    }


def reset(url: str) -> None:
    requests.post(f"{url}/_sandbox/reset", json={"seed": 7}, timeout=30).raise_for_status()


@pytest.mark.parametrize(
    ("broken", "names"),
    [
        ({"zendesk_url": f"http://127.0.0.1:{closed_port()}/zendesk"}, "PMSYNC_ZENDESK_URL"),
        ({"zendesk_api_token": "wrong"}, "PMSYNC_ZENDESK_API_TOKEN"),
    ],
    ids=["unreachable", "credentials-refused"],
)
def test_one_tool_down_the_others_reach_jira(
    sandbox_url: str, tmp_path: Any, broken: dict[str, str], names: str
) -> None:
    """With Zendesk down, every other tool's demand reaches the tickets exactly as it would
    if Zendesk were not configured at all, and the run says which tool failed and why."""
    down = Store(f"sqlite:///{tmp_path / 'down.db'}", upgrade=True)
    settings = Settings.for_sandbox(
        sandbox_url,
        database_url=str(down.engine.url),
        http_max_attempts=2,
        **EXPLICIT_ONLY,
        **broken,
    )
    result = run_cycle(settings, down)
    assert set(result.failed) == {"zendesk"}
    assert names in result.failed["zendesk"]
    assert set(result.pulled) == {"jira", "intercom", "freshdesk", "hubspot", "salesforce"}
    assert result.published["written"] > 0 and result.published["failed"] == 0
    assert all(down.cursors.get(stream) is None for stream in ZENDESK_STREAMS)
    assert down.runs.last(1)[0]["outcome"] == "partial"
    assert status_report(down)["failed_tools"] == result.failed  # `pmsync status` says so

    reset(sandbox_url)
    without = Store(f"sqlite:///{tmp_path / 'without.db'}", upgrade=True)
    alone = Settings.for_sandbox(
        sandbox_url, database_url=str(without.engine.url), **EXPLICIT_ONLY, zendesk_url=None
    )
    run_cycle(alone, without)
    assert published_numbers(down) == published_numbers(without), "the others' demand changed"


def test_sync_command_exits_1_with_one_line_per_failed_tool(
    sandbox_url: str, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pmsync sync` ends partially failed: exit code 1, a line naming the tool and the
    setting, and no traceback for an expected failure."""

    def in_process(sandbox: str | None, full: bool, allow: bool = False) -> dict[str, Any]:
        settings = Settings.for_sandbox(
            sandbox_url,
            database_url=store_url,
            hubspot_url=f"http://127.0.0.1:{closed_port()}/hubspot",
        )
        return run_cycle(settings, Store(store_url, upgrade=True), full=full).as_dict()

    monkeypatch.setattr(pmsync.sync_cmd, "run_sync_flow", in_process)
    shown = CliRunner().invoke(app, ["sync", "--sandbox", sandbox_url])
    assert shown.exit_code == 1, shown.output
    assert "failed hubspot" in shown.output and "PMSYNC_HUBSPOT_URL" in shown.output
    assert "Traceback" not in shown.output
    assert "partially failed: 1 of 6 tools" in shown.output
