"""Jira's issue edit, comment and issue property rules: what may be set, how it is
validated, and the `updated` bump that follows a real change."""

import json
from datetime import datetime
from typing import Any

from sandbox.jira_data import API_USER, NUMBER_FIELDS, PRIORITIES, JiraStore, adf, is_adf
from sandbox.timefmt import jira_time

EDITABLE = {"summary", "description", "labels", "priority", *NUMBER_FIELDS}
NOT_SETTABLE = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
INVALID_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
PROPERTY_LIMIT = 32768
NOT_PROPERTIES = "The properties must be a list of objects with a string 'key' and a 'value'."


def _field_error(name: str, value: Any, version: str) -> str | None:
    if name == "summary":
        if not isinstance(value, str) or not value.strip():
            return "You must specify a summary of the issue."
        if "\n" in value:
            return "The summary is invalid because it contains newline characters."
        return "Summary must be less than 255 characters." if len(value) > 255 else None
    if name == "description":
        valid = value is None or (isinstance(value, str) if version == "2" else is_adf(value))
        return (
            None if valid else (NOT_ADF if version != "2" else "Operation value must be a string")
        )
    if name == "labels":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "Operation value must be an array of strings"
        spaced = next((v for v in value if " " in v or not v), None)
        return f"The label '{spaced}' contains spaces which is invalid." if spaced else None
    if name == "priority":
        known = isinstance(value, dict) and (
            value.get("name") in PRIORITIES or value.get("id") in PRIORITIES.values()
        )
        return None if known else "Specify a valid 'id' or 'name' for Priority"
    if name in NUMBER_FIELDS:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if value is None or number else "Operation value must be a number"
    return NOT_SETTABLE.format(name)


def _label_ops(current: list[str], operations: Any) -> tuple[list[str] | None, str | None]:
    labels = list(current)
    if not isinstance(operations, list):
        return None, "Operation value must be an array of operations"
    for op in operations:
        verb, value = next(iter(op.items())) if isinstance(op, dict) and op else ("", None)
        if verb == "set":
            if _field_error("labels", value, "3"):
                return None, _field_error("labels", value, "3")
            labels = [str(v) for v in value or []]
        elif verb in ("add", "remove") and isinstance(value, str) and value and " " not in value:
            if verb == "add" and value not in labels:
                labels.append(value)
            if verb == "remove" and value in labels:
                labels.remove(value)
        else:
            return None, f"Could not apply the operation {op!r} to labels"
    return labels, None


def value_bytes(value: Any) -> int:
    """A property value's size as Jira measures it: bytes of its JSON in UTF-8 (a client
    that escapes non-ASCII as \\uXXXX on the wire is not charged for the escapes)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def comment_properties(members: Any) -> dict[str, Any]:
    """A comment body's `properties` (a list of `{key, value}`) by key, e.g.
    `sd.public.comment` `{"internal": true}`; ValueError with Jira's message if malformed."""
    return _edited_properties(members or [])


def property_error(name: str, size: int) -> str | None:
    """Why Jira refuses to store a property whose JSON value is `size` bytes, or None."""
    if len(name) > 255:
        return "The property key can not be longer than 255 characters."
    if not 0 < size <= PROPERTY_LIMIT:
        return f"The property value must be non-empty JSON of at most {PROPERTY_LIMIT} bytes."
    return None


def _edited_properties(members: Any) -> dict[str, Any]:
    """An edit's `properties` member (a list of `{key, value}`) by key; ValueError with
    Jira's message when a member is malformed."""
    if not isinstance(members, list) or not all(
        isinstance(m, dict) and isinstance(m.get("key"), str) and m["key"] and "value" in m
        for m in members
    ):
        raise ValueError(NOT_PROPERTIES)
    for member in members:
        error = property_error(member["key"], value_bytes(member["value"]))
        if error:
            raise ValueError(error)
    return {member["key"]: member["value"] for member in members}


def comment_error(body: Any, version: str) -> str | None:
    if version == "2":
        return None if isinstance(body, str) and body.strip() else "Comment body can not be empty!"
    if not is_adf(body):
        return NOT_ADF
    return None if body["content"] else "Comment body can not be empty!"


def new_comment(
    store: JiraStore,
    body: Any,
    version: str,
    now: datetime,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    stamp = jira_time(now)
    comment = {
        "id": store.new_id(),
        "author": API_USER,
        "body": adf(body) if version == "2" else body,
        "updateAuthor": API_USER,
        "created": stamp,
        "updated": stamp,
    }
    if properties:
        comment["properties"] = dict(properties)
    return comment


def edit_issue(
    store: JiraStore,
    issue: dict[str, Any],
    body: Any,
    version: str,
    now: datetime,
    quiet: bool = False,
) -> dict[str, str]:
    """Apply a PUT /issue body; returns Jira's per-field errors (nothing applied) if any.
    Raises ValueError with Jira's message when the body is not an edit at all or one of
    its `properties` is malformed. A change mails the watchers unless `quiet`
    (notifyUsers=false); properties alone change nothing a watcher sees."""
    fields = body.get("fields") or {} if isinstance(body, dict) else None
    update = body.get("update") or {} if isinstance(body, dict) else None
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise ValueError(INVALID_PAYLOAD)
    properties = _edited_properties(body.get("properties") or [])
    current = issue.get("fields")
    if not isinstance(current, dict):  # an injected malformed issue
        current = issue["fields"] = {}
    changes, errors, comments = dict(fields), {}, []
    for name, operations in update.items():
        if name == "labels":
            labels, error = _label_ops(current.get("labels") or [], operations)
            changes["labels"] = labels
            errors.update({name: error} if error else {})
        elif name == "comment" and isinstance(operations, list):
            for op in operations:
                text = (op.get("add") or {}).get("body") if isinstance(op, dict) else None
                error = comment_error(text, version)
                errors.update({name: error} if error else {})
                comments.append(text)
        elif (
            name in EDITABLE
            and isinstance(operations, list)
            and operations
            and isinstance(operations[0], dict)
            and "set" in operations[0]
        ):
            changes[name] = operations[0]["set"]
        else:
            errors[name] = NOT_SETTABLE.format(name)
    for name, value in changes.items():
        error = errors.get(name) or _field_error(name, value, version)
        errors.update({name: error} if error else {})
    if errors:
        return errors
    if version == "2" and isinstance(changes.get("description"), str):
        changes["description"] = adf(changes["description"])
    changed = any(current.get(name) != value for name, value in changes.items())
    current.update(changes)
    # Like the properties endpoint: stored, and `updated` does not move for them.
    store.properties.setdefault(str(issue.get("key")), {}).update(properties)
    for text in comments:
        store.comments.setdefault(str(issue.get("key")), []).append(
            new_comment(store, text, version, now)
        )
    if changed or comments:
        current["updated"] = jira_time(now)
        if not quiet:
            store.mail.append((str(issue.get("key")), "issue_updated"))
    return {}
