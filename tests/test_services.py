"""The services' shape: they never reach up into flows, and every run that links and
publishes (sync, backfill, webhook events, `pmsync publish`, replay) goes through the one
path, services.apply, choosing only its scope."""

from __future__ import annotations

import ast
from pathlib import Path

from models import Deal, Issue
from services.apply import closes_loop
from services.scope import Changes, Scope

ROOT = Path(__file__).resolve().parent.parent
# What only services.apply may put together: the flows call it instead.
STEPS = {
    "link_all",
    "relink",
    "relink_around",
    "link_step",
    "demand",
    "demand_step",
    "publish_all",
    "close_loop",
}


def imported(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from module import name` in a file, nested ones too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def test_services_never_import_flows() -> None:
    for path in (ROOT / "services").glob("*.py"):
        for module, _ in imported(path):
            assert not module.startswith(("flows", "webhooks", "deployments", "pmsync")), path


def test_the_runs_that_publish_call_apply_not_the_steps() -> None:
    callers = ["flows/pipeline.py", "flows/backfill.py", "flows/events.py", "flows/replay.py"]
    for name in [*callers, "pmsync/sync_cmd.py"]:  # `pmsync publish`
        names = {n for module, n in imported(ROOT / name) if module.startswith("services")}
        assert "apply" in names, name
        assert not names & STEPS, (name, names & STEPS)
    for path in (ROOT / "flows").glob("*.py"):
        names = {n for module, n in imported(path) if module.startswith("services")}
        assert not names & STEPS, (path, names & STEPS)


def test_scopes() -> None:
    assert Scope.everything() == Scope("everything")
    assert Scope.sync_run(reconcile=True) == Scope("everything", sync=True)
    assert Scope.sync_run(reconcile=False) == Scope("changed", sync=True)
    assert Scope.these(Changes()).kind == "records"


def test_who_closes_the_loop() -> None:
    """A sync does; events do when an issue changed or went; a backfill or `pmsync publish`
    (everything, outside a sync) leaves it to the next sync."""
    issue = Issue.model_construct(id="1", key="ANA-1")  # only its kind matters here
    deal = Deal.model_construct(source="hubspot", id="9")
    assert closes_loop(Scope.sync_run(reconcile=False))
    assert not closes_loop(Scope.everything())
    assert closes_loop(Scope.these(Changes(changed=(issue,))))
    assert closes_loop(Scope.these(Changes(deleted={("jira", "issue"): ["1"]})))
    assert not closes_loop(Scope.these(Changes(changed=(deal,))))
