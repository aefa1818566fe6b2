"""The Freshdesk agent pages that pmsync links to, as plain HTML so the demo's links open:
a ticket (`/a/tickets/<id>`) and a company (`/a/companies/<id>`). No auth, as if the viewer
were a logged-in agent. A deleted ticket still opens (Freshdesk shows it from the trash)."""

from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import freshdesk_tenant
from sandbox.agent_html import agent_page, agent_style, company_html
from sandbox.state import SandboxState

STYLE = agent_style(
    "#12344d",
    "#f5f7f9",
    "#12344d",
    "#647a8e",
    ".note { border-top: 1px solid #ebeff3; padding: 8px 0; background: #fef1e1; }\n",
)
STATUS_NAMES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}  # as agents see them


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    header = "Acme Analytics · Support"
    return HTMLResponse(agent_page(title, " : Freshdesk", header, content, STYLE), status)


def _number(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def ticket_html(ticket: dict[str, Any], requester: dict[str, Any], notes: list[Any]) -> str:
    code: Any = ticket.get("status")  # a number, or whatever a malformed ticket holds
    status = STATUS_NAMES.get(code, str(code))
    who = requester.get("name") or requester.get("email") or requester.get("mobile") or "Unknown"
    parts = [
        f'<h1 id="subject">{escape(str(ticket.get("subject") or "(no subject)"))}</h1>',
        f'<p class="meta">#{escape(str(ticket.get("id")))} · {escape(status)} · '
        f"{escape(str(who))}{' · in trash' if ticket.get('deleted') else ''}</p>",
        # Trusted HTML: descriptions are Freshdesk's own sanitised markup.
        f'<section class="description">{ticket.get("description") or ""}</section>',
    ]
    for note in notes:
        parts.append(
            f'<article class="note" id="note-{escape(str(note.get("id")))}">'
            f"{note.get('body') or ''}</article>"
        )
    return "".join(parts)


async def ticket(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    wanted = _number(request.path_params["id"])
    with state.lock:
        freshdesk_tenant.apply(state.freshdesk, state.tenant)
        found = state.freshdesk.tickets.get(wanted)
        if found is None:
            return _page("Ticket not found", "<p>This ticket could not be found.</p>", 404)
        requester = state.freshdesk.contacts.get(found.get("requester_id")) or {}
        content = ticket_html(found, requester, list(state.freshdesk.conversations.get(wanted, [])))
        title = str(found.get("subject") or found["id"])
    return _page(title, content)


async def company(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    with state.lock:
        found = state.freshdesk.companies.get(_number(request.path_params["id"]))
    if found is None:
        return _page("Company not found", "<p>This company could not be found.</p>", 404)
    name = str(found.get("name", ""))
    domains = ", ".join(found.get("domains") or ()) or "No domains"
    return _page(name, company_html(name, f"Domains: {escape(domains)}"))


def routes() -> list[BaseRoute]:
    return [
        Route("/a/tickets/{id}", ticket, methods=["GET"]),
        Route("/a/companies/{id}", company, methods=["GET"]),
    ]
