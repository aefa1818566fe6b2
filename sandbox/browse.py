"""`/jira/browse/KEY`: a plain HTML issue view like Jira's, for people and browser tests.
Fields show under their names ("Customer Requests: 13"); the description and comments are
their ADF rendered to HTML. No auth, as if the viewer were logged in."""

from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from sandbox.adf_html import render, safe_url
from sandbox.jira_data import NUMBER_FIELDS, OTHER_CUSTOM_FIELDS, render_remote_link
from sandbox.state import SandboxState
from sandbox.web import site_url

STYLE = """
body { font: 14px/1.5 -apple-system, "Segoe UI", Roboto, sans-serif; color: #172b4d;
       margin: 0; background: #fafbfc; }
header.bar { background: #0747a6; color: #fff; padding: 10px 24px; }
main { max-width: 960px; margin: 0 auto; padding: 16px 24px; background: #fff; }
h1 { font-size: 24px; margin: 4px 0 16px; }
.key { color: #5e6c84; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 24px; margin-bottom: 16px; }
.field .name { color: #5e6c84; }
.lozenge { background: #dfe1e6; border-radius: 3px; padding: 0 4px; font-size: 12px;
           font-weight: 600; text-transform: uppercase; }
.label { background: #ebecf0; border-radius: 3px; padding: 0 4px; margin-right: 4px; }
table.adf-table { border-collapse: collapse; margin: 8px 0; }
table.adf-table th, table.adf-table td { border: 1px solid #c1c7d0; padding: 4px 8px;
                                         text-align: left; }
table.adf-table th { background: #f4f5f7; }
table.adf-table p { margin: 0; }
header.bar .key { color: #fff; font-weight: 600; }
.comment { border-top: 1px solid #ebecf0; padding: 8px 0; }
.comment header { color: #5e6c84; font-size: 12px; }
.panel { background: #deebff; padding: 8px; border-radius: 3px; }
"""


def _name(value: Any, key: str = "name") -> str:
    return str(value.get(key, "")) if isinstance(value, dict) else ""


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _field(label: str, value_html: str, css: str = "") -> str:
    return (
        f'<div class="field {css}"><span class="name">{escape(label)}:</span> '
        f'<span class="value">{value_html}</span></div>'
    )


def _details(fields: dict[str, Any]) -> str:
    person = fields.get("assignee")
    rows = [
        _field("Status", f'<span class="lozenge">{escape(_name(fields.get("status")))}</span>'),
        _field("Priority", escape(_name(fields.get("priority")))),
        _field("Assignee", escape(_name(person, "displayName")) if person else "Unassigned"),
        _field(
            "Labels",
            "".join(
                f'<span class="label">{escape(str(x))}</span>' for x in fields.get("labels") or []
            )
            or "None",
            "labels",
        ),
        _field("Components", escape(", ".join(_name(c) for c in fields.get("components") or []))),
        _field(
            "Fix versions",
            escape(", ".join(_name(v) for v in fields.get("fixVersions") or []) or "None"),
        ),
        _field("Created", escape(str(fields.get("created", "")))),
        _field("Updated", escape(str(fields.get("updated", "")))),
    ]
    names = {**NUMBER_FIELDS, **{k: v[0] for k, v in OTHER_CUSTOM_FIELDS.items()}}
    for field_id, name in names.items():
        value = fields.get(field_id)
        if value not in (None, "", []):  # Jira hides empty fields
            shown = _number(value) if field_id in NUMBER_FIELDS else str(value)
            rows.append(_field(name, escape(shown), "custom"))
    return f'<section class="fields">{"".join(rows)}</section>'


def page(issue: dict[str, Any], comments: list[dict[str, Any]], links: list[dict[str, Any]]) -> str:
    stored = issue.get("fields")
    fields: dict[str, Any] = stored if isinstance(stored, dict) else {}
    description = render(fields.get("description"))
    key, summary = escape(str(issue.get("key"))), escape(str(fields.get("summary", "")))
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>[{key}] {summary} - Jira</title><style>{STYLE}</style></head><body>",
        f'<header class="bar">Acme Analytics / <span class="key">{key}</span></header><main>',
        f'<p class="key">{key}</p><h1 id="summary">{summary}</h1>',
        _details(fields),
        f'<section class="description"><h2>Description</h2>{description}</section>',
        f'<section class="comments"><h2>Comments ({len(comments)})</h2>',
    ]
    for c in comments:
        author = escape(_name(c.get("author"), "displayName"))
        parts.append(
            f'<article class="comment" id="comment-{escape(str(c.get("id")))}">'
            f"<header>{author} · {escape(str(c.get('created', '')))}</header>"
            f'<div class="body">{render(c.get("body"))}</div></article>'
        )
    parts.append("</section>")
    if links:
        items = []
        for link in links:
            found = link.get("object")
            target: dict[str, Any] = found if isinstance(found, dict) else {}
            title, url = escape(str(target.get("title", ""))), safe_url(target.get("url"))
            items.append(
                f'<li><a href="{escape(url)}">{title}</a></li>' if url else f"<li>{title}</li>"
            )
        parts.append(
            f'<section class="links"><h2>Web links</h2><ul>{"".join(items)}</ul></section>'
        )
    parts.append("</main></body></html>")
    return "".join(parts)


async def browse(request: Request, state: SandboxState) -> Response:
    with state.lock:
        issue = state.jira.find(request.path_params["key"])
        if issue is None:
            return HTMLResponse(
                "<!doctype html><title>Issue not found</title><p>Issue does not exist or you "
                "do not have permission to see it.</p>",
                404,
            )
        key, site = str(issue.get("key")), site_url(request)
        body = page(
            issue,
            list(state.jira.comments.get(key, [])),
            [render_remote_link(x, site) for x in state.jira.remote_links.get(key, [])],
        )
    return HTMLResponse(body)
