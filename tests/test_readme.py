"""A newcomer runs the README's walkthrough top to bottom after `make demo` without an
error, and the Jira searches it shows are ones Jira (the sandbox) accepts and sorts by."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import requests

from connectors.settings import Settings
from flows.pipeline import run_cycle
from store import Store
from tests.jira_view import AUTH

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
WALKTHROUGH = "## After the demo"
SKIPPED = "# needs:"  # the README's visible marker of a line this test leaves out


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start : end if end >= 0 else None]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def commands(text: str) -> list[str]:
    """The shell lines of the fenced `sh` blocks, continuations joined, in order."""
    found: list[str] = []
    for block in blocks(text, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(line.strip())
    return found


def test_the_walkthrough_runs_as_written_after_make_demo(tmp_path: Path) -> None:
    """Each command of the walkthrough, in order, in one shell (so `source` and `export`
    carry on) in a project folder whose `.venv` is this interpreter's; `make demo` runs the
    Makefile's own recipe without the install (the venv exists). The first command that
    fails stops it and is named."""
    run = [c for c in commands(section(WALKTHROUGH)) if SKIPPED not in c]
    assert run[0] == "make demo" and any(c.startswith("pmsync ") for c in run)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    script = ["set -e", "trap 'echo \"FAILED: $BASH_COMMAND\" >&2' ERR"]
    for command in run:
        if command.startswith("make "):
            # Its prerequisite (creating the venv) is done: only the recipe runs.
            command = f"make -f {ROOT / 'Makefile'} -o .venv/.installed {command[5:]}"
        script += [f"echo {shlex.quote('$ ' + command)}", command]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMSYNC_", "VIRTUAL_ENV"))}
    env.update(
        PYTHONPATH=str(ROOT),  # this tree's code, whatever the venv has installed
        PREFECT_HOME=str(tmp_path / ".pmsync" / "prefect"),
        PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if sys.prefix not in p),
    )
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "backlog.html").exists() and (tmp_path / "suggestions.csv").exists()


def test_every_marked_line_says_what_it_needs() -> None:
    """The lines left out are marked where a reader sees them."""
    marked = [c for c in commands(section(WALKTHROUGH)) if SKIPPED in c]
    assert marked and all(re.search(r"# needs: \w", c) for c in marked)


def test_the_readme_s_jql_runs_and_sorts_by_the_fields(
    settings: Settings, store: Store, sandbox_url: str
) -> None:
    """Exactly the README's JQL, by field name and by cf[id]: Jira answers it with the
    issues that have requests, by revenue, most first."""
    run_cycle(settings, store)
    queries = [q.strip() for q in blocks(section("## Sorting issues by demand"), "jql")]
    assert len(queries) == 2
    for jql in queries:
        answer = requests.post(
            f"{sandbox_url}/jira/rest/api/3/search/jql",
            json={"jql": jql, "fields": ["customfield_10050", "customfield_10051"]},
            auth=AUTH,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        issues = answer.json()["issues"]
        requests_shown = [i["fields"]["customfield_10050"] for i in issues]
        revenue = [i["fields"]["customfield_10051"] for i in issues]
        assert issues and all(n > 0 for n in requests_shown), jql
        assert revenue == sorted(revenue, reverse=True), jql
        with_requests = {
            key for key, row in _published(store).items() if row.get("requests", 0) > 0
        }
        assert {i["key"] for i in issues} == with_requests, jql


def _published(store: Store) -> dict[str, dict]:
    return {key: entry.summary for key, entry in store.ledger.entries().items()}
