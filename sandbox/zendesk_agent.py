"""The Zendesk agent pages a person opens in the browser: `/agent/tickets/{id}` and
`/agent/organizations/{id}` under the account's URL, as plain HTML. pmsync's quote links
point here (https://<subdomain>.zendesk.com/agent/tickets/<id> on Zendesk). No auth, as if
the viewer were a logged-in agent."""

from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from sandbox.agent_html import agent_page, agent_style
from sandbox.state import SandboxState

STYLE = agent_style(
    "#2f3941",
    "#f8f9f9",
    "#03363d",
    "#68737d",
    ".comment { border-top: 1px solid #e9ebed; padding: 8px 0; white-space: pre-wrap; }\n"
    ".comment.internal { background: #fff6e5; }\n"
    ".tag { background: #e9ebed; border-radius: 3px; padding: 0 4px; margin-right: 4px; }\n",
    width=960,
)


def _page(title: str, body: str) -> str:
    return agent_page(title, "", "Zendesk Support", body, STYLE)


def _missing(what: str) -> Response:
    return HTMLResponse(_page(f"{what} not found", f"<p>{escape(what)} not found.</p>"), 404)


def _name(record: dict[str, Any] | None, fallback: str) -> str:
    name = record.get("name") if isinstance(record, dict) else None
    return str(name) if name else fallback


async def ticket_page(request: Request, state: SandboxState) -> Response:
    """A ticket as an agent sees it: subject, requester, organisation, status, tags and
    the conversation (internal notes marked)."""
    with state.lock:
        ticket = state.zendesk.tickets.get(request.path_params["id"])
        if ticket is None or ticket.get("status") == "deleted":
            return _missing("Ticket")
        requester = state.zendesk.users.get(ticket.get("requester_id"))
        organization = state.zendesk.organizations.get(ticket.get("organization_id"))
        comments = list(state.zendesk.comments.get(ticket.get("id"), []))
    tid = escape(str(ticket.get("id")))
    subject = str(ticket.get("subject") or "(no subject)")
    who = _name(requester, "Unknown requester")
    email = requester.get("email") if isinstance(requester, dict) else None
    tags = "".join(f'<span class="tag">{escape(str(t))}</span>' for t in ticket.get("tags") or [])
    parts = [
        f'<p class="meta">Ticket #{tid}</p><h1 id="subject">{escape(subject)}</h1>',
        f'<p class="meta">Requester: <span id="requester">{escape(who)}</span>'
        + (f" &lt;{escape(str(email))}&gt;" if email else "")
        + f' · Organization: <span id="organization">{escape(_name(organization, "None"))}'
        + f'</span> · Status: <span id="status">{escape(str(ticket.get("status")))}</span></p>',
        f'<p class="tags">{tags}</p>',
    ]
    if not comments and ticket.get("description"):
        parts.append(f'<div class="comment">{escape(str(ticket["description"]))}</div>')
    for c in comments:
        css = "comment" if c.get("public", True) else "comment internal"
        parts.append(
            f'<article class="{css}" id="comment-{escape(str(c.get("id")))}">'
            f'<span class="meta">{escape(str(c.get("created_at", "")))}</span>\n'
            f"{escape(str(c.get('body') or ''))}</article>"
        )
    return HTMLResponse(_page(f"{subject} – Ticket #{tid}", "".join(parts)))


async def organization_page(request: Request, state: SandboxState) -> Response:
    """An organisation with its domains and its tickets, linked to their pages."""
    with state.lock:
        organization = state.zendesk.organizations.get(request.path_params["id"])
        if organization is None:
            return _missing("Organization")
        tickets = [
            t
            for t in state.zendesk.tickets.values()
            if t.get("organization_id") == organization.get("id") and t.get("status") != "deleted"
        ]
    name = _name(organization, "Organization")
    domains = ", ".join(str(d) for d in organization.get("domain_names") or []) or "None"
    items = "".join(
        f'<li><a href="../tickets/{escape(str(t.get("id")))}">'
        f"#{escape(str(t.get('id')))} {escape(str(t.get('subject') or '(no subject)'))}</a></li>"
        for t in sorted(tickets, key=lambda t: str(t.get("id")))
    )
    body = (
        f'<h1 id="name">{escape(name)}</h1><p class="meta">Domains: {escape(domains)}</p>'
        f"<h2>Tickets ({len(tickets)})</h2><ul>{items}</ul>"
    )
    return HTMLResponse(_page(f"{name} – Organization", body))
