"""The `pmsync` command as a user runs it: a real Prefect flow run against the sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from processes import run_python
from typer.testing import CliRunner

from connectors.settings import Settings
from pmsync.cli import app
from tests.oracle import EVERY_TOOL

ROOT = Path(__file__).parent.parent


def pmsync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_python("-m", "pmsync", *args, env=env, timeout=300)


def test_sync_json_twice_without_a_prefect_server(
    sandbox_url: str, store_url: str, tmp_path: Path
) -> None:
    """`pmsync sync --json` with no Prefect server configured or kept by `pmsync serve`
    runs the cycle in its own process (no temporary server per call) and prints exactly
    one JSON object; the second run writes nothing to Jira; `status` says where runs go."""
    env = dict(os.environ, PMSYNC_DATABASE_URL=store_url, PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)
    first = pmsync("sync", "--sandbox", sandbox_url, "--json", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert set(result) == {
        "pulled",
        "failed",
        "missing",
        "clamped",
        "notes",
        "dead_letters",
        "links",
        "published",
        "repaired",
        "duration_s",
    }
    assert result["failed"] == {} and result["missing"] == {}
    assert set(result["pulled"]) == EVERY_TOOL
    assert result["published"]["written"] > 0 and result["published"]["failed"] == 0

    second = json.loads(pmsync("sync", "--sandbox", sandbox_url, "--json", env=env).stdout)
    assert second["published"]["written"] == second["published"]["failed"] == 0
    assert second["links"] == result["links"]

    links = json.loads(pmsync("links", "list", "--json", env=env).stdout)
    assert len(links) == result["links"]
    assert set(links[0]) == {"source", "record_id", "kind", "issue_key", "method", "confidence"}
    status = json.loads(pmsync("status", "--json", env=env).stdout)
    assert "jira.issues" in status["cursors"] and status["runs"][0]["outcome"] == "ok"
    assert status["prefect"]["mode"] == "in-process"
    assert not (tmp_path / "prefect").exists() or not any((tmp_path / "prefect").glob("*.db"))


def test_bad_configuration_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    """A tool with a URL but no token stops before any work, naming the variable, and
    never echoes the secrets it was given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMSYNC_")}
    env.update(
        PMSYNC_JIRA_URL="https://example.atlassian.net",
        PMSYNC_JIRA_API_TOKEN="s3cret-token-value",
        PMSYNC_JIRA_PROJECTS="ANA",
    )
    result = CliRunner().invoke(app, ["sync"], env=env)
    assert result.exit_code == 2
    assert "PMSYNC_JIRA_EMAIL" in result.output
    assert "s3cret-token-value" not in result.output


def test_readme_documents_every_setting() -> None:
    """The README's settings table lists every environment variable Settings reads."""
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(PMSYNC_[A-Z_]+)`", readme))
    for name in Settings.model_fields:
        assert f"PMSYNC_{name.upper()}" in documented, name
