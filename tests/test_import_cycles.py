"""No two modules of pmsync import each other, directly or around a loop: a cycle makes
the import order matter (a half-initialised module) and the layers of ARCHITECTURE.md
meaningless. Every import counts, at the top or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "models",
    "connectors",
    "flows",
    "services",
    "linking",
    "store",
    "webhooks",
    "deployments",
    "sandbox",
    "pmsync",
    "benchmarks",
    "evaluation",
)
# The floors of docs/architecture.md: a package imports only packages on its floor or
# below. The sandbox stands apart: it imports nothing of pmsync, and only the command
# that serves it and the benchmarks import it.
FLOOR = {
    "models": 1,
    "store": 2,
    "linking": 2,
    "connectors": 2,
    "services": 2,
    "flows": 3,
    "evaluation": 3,
    "webhooks": 4,
    "deployments": 4,
    "pmsync": 5,
    "benchmarks": 6,
}


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of `modules` that `name` imports (`from package import module` names the
    module, not the package)."""

    def known(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets += [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
    return {found for t in targets if (found := known(t)) and found != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_around_a_loop() -> None:
    modules = module_files()
    graph = {name: imports(name, path, modules) for name, path in modules.items()}
    assert cycles(graph) == []


def test_each_package_imports_only_its_floor_and_below() -> None:
    modules = module_files()
    wrong = []
    for name, path in modules.items():
        here = name.split(".")[0]
        for target in imports(name, path, modules):
            there = target.split(".")[0]
            if here == there:
                continue
            if there == "sandbox":
                allowed = here in ("pmsync", "benchmarks")
            else:
                allowed = here != "sandbox" and FLOOR[there] <= FLOOR[here]
            if not allowed:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_the_check_finds_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
