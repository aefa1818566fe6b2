"""Salesforce's SOQL selection, shared by the REST query (sandbox.salesforce) and Bulk API
2.0 query jobs (sandbox.salesforce_bulk): the ids a query selects, in its order, and the
records as its columns show them."""

from datetime import date
from typing import Any

from starlette.responses import Response

from sandbox import malformed, soql
from sandbox import salesforce_meta as meta
from sandbox.state import SandboxState
from sandbox.timefmt import parse_time
from sandbox.web import json_response


def errors(status: int, message: str, code: str, **extra: Any) -> Response:
    return json_response([{"message": message, "errorCode": code, **extra}], status)


def _value(record: dict[str, Any], name: str, kind: str) -> Any:
    """A field as SOQL compares it; unreadable (injected) values compare as null."""
    value = record.get(name)
    if value is None:
        return None
    if kind == "datetime":
        return parse_time(value)
    if kind == "date":
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return None
    if kind in ("double", "currency", "percent"):
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    return value if kind == "boolean" else str(value)


def render(
    state: SandboxState,
    record: dict[str, Any],
    sobject: str,
    columns: list[soql.Column],
    version: str,
) -> dict[str, Any]:
    rid = record.get("Id")
    seen = meta.view(record, sobject, state.tenant)
    shown = {
        "attributes": {
            "type": sobject,
            "url": f"/services/data/{version}/sobjects/{sobject}/{rid}",
        },
        **{
            c.key: meta.converted(seen, c.field, state.tenant) if c.convert else seen.get(c.field)
            for c in columns
        },
    }
    if sobject != "Opportunity" or record.get("IsDeleted"):
        return shown
    return malformed.serve(state, "salesforce", "opportunity", rid, shown)


def records_of(state: SandboxState, sobject: str) -> dict[str, dict[str, Any]]:
    if sobject == "CurrencyType":
        return meta.currency_types(state.tenant)
    return state.salesforce.records[sobject]


def select(
    state: SandboxState, text: str, include_deleted: bool
) -> tuple[soql.Query, list[str]] | Response:
    """The ids a SOQL query selects, in its order (`queryAll` sees deleted rows), or
    Salesforce's 400 for a query it refuses."""
    if not text.strip():
        return errors(400, "A query string has to be specified", "MALFORMED_QUERY")
    schema = meta.schema_for(state.tenant)
    try:
        query = soql.parse(text, schema)
    except soql.SoqlError as exc:
        return errors(400, str(exc), exc.code)
    if any(c.convert for c in query.columns) and not state.tenant.multi_currency:
        return errors(
            400,
            "convertCurrency() requires that the org has multiple currencies enabled",
            "MALFORMED_QUERY",
        )
    types = schema[query.sobject]

    def read(record: dict[str, Any], name: str) -> Any:
        return _value(record, name, types[name])

    with state.lock:
        # Compared as this org shows them (an amount in the deal's own currency).
        views = {
            key: meta.view(r, query.sobject, state.tenant)
            for key, r in records_of(state, query.sobject).items()
        }
        rows = [
            r
            for r in views.values()
            # `query` never sees deleted rows; `queryAll` sees them with IsDeleted = true.
            if (include_deleted or not r.get("IsDeleted")) and soql.evaluate(query.where, r, read)
        ]
    rows.sort(key=lambda r: str(r.get("Id")))
    for name, ascending in reversed(query.order):  # nulls first ascending, last descending
        rows.sort(
            key=lambda r, n=name: (read(r, n) is not None, read(r, n) or 0),  # type: ignore[misc]
            reverse=not ascending,
        )
    return query, [str(r.get("Id")) for r in rows[: query.limit]]


def rendered(
    state: SandboxState, query: soql.Query, ids: list[str], version: str
) -> list[dict[str, Any]]:
    """The selected records as the query's columns show them (`attributes` first)."""
    records = records_of(state, query.sobject)
    return [
        render(state, records[i], query.sobject, query.columns, version)
        for i in ids
        if i in records
    ]
