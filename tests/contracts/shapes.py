"""Helpers of the contract suite: load the vendors' recorded and documented answers kept in
`tests/contracts/<vendor>/`, and hold the sandbox's answers against them.

A fixture file is JSON: either the answer's body itself, or
`{"origin": ..., "request": {"method": ..., "path": ...}, "status": 200, "headers": {...},
"body": ...}` when the request it answers matters. Each file's origin, kind (recorded,
documented, derived) and licence are in the vendor folder's SOURCES.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def fixture(vendor: str, name: str) -> Any:
    """The parsed JSON of `tests/contracts/<vendor>/<name>` (`.json` may be left off)."""
    path = HERE / vendor / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def body(vendor: str, name: str) -> Any:
    """A fixture's answer body, whether the file holds the body or an envelope with one."""
    found = fixture(vendor, name)
    if isinstance(found, dict) and "body" in found and "origin" in found:
        return found["body"]
    return found


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_problems(
    recorded: Any, served: Any, where: str = "$", nullable: bool = True
) -> list[str]:
    """Where `served` lacks a key that `recorded` has, or holds it as another JSON type.

    A recorded `null` accepts any served type, and a served `null` is accepted where the
    recorded value is not null only when `nullable` (real tenants leave optional values
    empty). Arrays compare their first served element with every recorded element's keys
    merged, so a recorded list of differently filled records asks only for what each has."""
    problems: list[str] = []
    if recorded is None or (served is None and nullable):
        return problems
    if _kind(recorded) != _kind(served):
        return [f"{where}: recorded {_kind(recorded)}, served {_kind(served)}"]
    if isinstance(recorded, dict):
        for key, value in recorded.items():
            if key not in served:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += shape_problems(value, served[key], f"{where}.{key}", nullable)
    elif isinstance(recorded, list) and recorded and served:
        merged: dict[str, Any] = {}
        if all(isinstance(item, dict) for item in recorded):
            for item in recorded:
                for key, value in item.items():
                    if merged.get(key) is None:
                        merged[key] = value
            problems += shape_problems(merged, served[0], f"{where}[0]", nullable)
        else:
            problems += shape_problems(recorded[0], served[0], f"{where}[0]", nullable)
    return problems


def assert_same_shape(recorded: Any, served: Any, where: str = "$") -> None:
    problems = shape_problems(recorded, served, where)
    assert not problems, "the sandbox's answer differs from the vendor's:\n" + "\n".join(problems)


def recorded_answer(vendor: str, name: str) -> tuple[int, dict[str, str], str]:
    """A fixture as a `responses` callback's reply: status (200 unless recorded), headers, body."""
    found = fixture(vendor, name)
    headers = {"Content-Type": "application/json", **found.get("headers", {})}
    return found.get("status", 200), headers, json.dumps(found["body"])
