"""The Intercom app's pages that pmsync links to, served beside the API as plain HTML so
the quote links in the demo open: a conversation in the inbox
(`/a/inbox/<app id_code>/inbox/conversation/<id>`) and a company
(`/a/apps/<app id_code>/companies/<id>`). No auth, as if the viewer were logged in."""

import re
from html import escape, unescape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import intercom_tenant
from sandbox.agent_html import agent_page, agent_style, company_html
from sandbox.intercom_data import APP_ID
from sandbox.state import SandboxState

TAGS = re.compile(r"<[^>]+>")

STYLE = agent_style(
    "#1a1a1a",
    "#f5f5f5",
    "#1f8ded",
    "#737373",
    ".part { border-top: 1px solid #e6e6e6; padding: 8px 0; }\n"
    ".part.note { background: #fef7e0; }\n",
)


def _page(title: str, content: str) -> HTMLResponse:
    return HTMLResponse(agent_page(title, " | Intercom", "Acme Analytics · Inbox", content, STYLE))


def _missing(what: str) -> HTMLResponse:
    page = _page(f"{what} not found", f"<p>This {escape(what.lower())} could not be found.</p>")
    page.status_code = 404
    return page


def _who(author: Any) -> str:
    if not isinstance(author, dict):
        return "Unknown"
    name = (
        author.get("name")
        or author.get("email")
        or f"{author.get('type', 'contact')} {author.get('id')}"
    )
    return f'{escape(str(name))} <span class="meta">({escape(str(author.get("type", "")))})</span>'


def conversation_html(conversation: dict[str, Any], parts: list[dict[str, Any]]) -> str:
    source = conversation.get("source") or {}
    # Trusted HTML: bodies are Intercom's own sanitised markup, as its inbox shows them.
    title = (
        conversation.get("title")
        or source.get("subject")
        or f"Conversation {conversation.get('id')}"
    )
    items = [
        f'<h1 id="subject">{title}</h1>',
        f'<p class="meta">#{escape(str(conversation.get("id")))} · '
        f"{escape(str(conversation.get('state', '')))}</p>",
        f'<article class="part" id="source"><header>{_who(source.get("author"))}</header>'
        f'<div class="body">{source.get("body") or ""}</div></article>',
    ]
    for part in parts:
        kind = "note" if part.get("part_type") == "note" else "comment"
        items.append(
            f'<article class="part {kind}" id="part-{escape(str(part.get("id")))}">'
            f"<header>{_who(part.get('author'))}</header>"
            f'<div class="body">{part.get("body") or ""}</div></article>'
        )
    return "".join(items)


async def inbox_conversation(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    if request.path_params["app"] != APP_ID:
        return _missing("Workspace")
    with state.lock:
        intercom_tenant.apply(state.intercom, state.tenant)
        found = state.intercom.conversations.get(request.path_params["id"])
        if found is None:
            return _missing("Conversation")
        content = conversation_html(found, list(state.intercom.parts.get(str(found["id"]), [])))
        title = str(found.get("title") or (found.get("source") or {}).get("subject") or found["id"])
    return _page(unescape(TAGS.sub("", title)), content)


async def company(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    if request.path_params["app"] != APP_ID:
        return _missing("Workspace")
    with state.lock:
        found = state.intercom.companies.get(request.path_params["id"])
    if found is None:
        return _missing("Company")
    name = str(found.get("name", ""))
    website = found.get("website")
    shown = escape(str(website)) if website else "No website"
    people = escape(str(found.get("user_count", 0)))
    return _page(name, company_html(name, f"Website: {shown} · {people} people"))


def routes() -> list[BaseRoute]:
    return [
        Route("/a/inbox/{app}/inbox/conversation/{id}", inbox_conversation, methods=["GET"]),
        Route("/a/apps/{app}/companies/{id}", company, methods=["GET"]),
    ]
