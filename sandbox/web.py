"""Plumbing shared by the tool emulators: routes that count requests and check auth."""

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from sandbox.state import SandboxState

Handler = Callable[[Request, "SandboxState"], Awaitable[Response]]
Guard = Callable[[Request], Response | None]


def endpoint(
    tool: str, method: str, path: str, handler: Handler, guard: Guard, *, read: bool = False
) -> Route:
    """A route that is counted, then authenticated. `read` marks POSTs that only query."""
    template = path.replace(":int", "")
    write = method in ("POST", "PUT", "DELETE", "PATCH") and not read

    async def run(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        state.counters.hit(tool, f"{method} {template}", write)
        return guard(request) or await handler(request, state)

    return Route(path, run, methods=[method])


class RouteTable:
    """One tool's routes in the order they are added (the order Starlette tries them), each
    counted and guarded as `endpoint` does."""

    def __init__(self, tool: str, guard: Guard) -> None:
        self.tool, self.guard = tool, guard
        self.routes: list[BaseRoute] = []

    def add(
        self, method: str, path: str, handler: Any, guard: Guard | None = None, read: bool = False
    ) -> None:
        """`guard` stands for the tool's own on this route (an open page, say)."""
        route = endpoint(self.tool, method, path, handler, guard or self.guard, read=read)
        self.routes.append(route)


def any_other_path(handler: Callable[[Request], Awaitable[Response]]) -> Route:
    """The last route of a tool: every path it does not serve, with any method, answers
    through `handler` (the tool's own JSON error), never Starlette's plain-text 404 or 405.
    (HEAD comes with GET.)"""
    return Route("/{path:path}", handler, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


async def read_json(request: Request) -> tuple[bool, Any]:
    """(True, value) for a JSON body, (False, None) when the body is not JSON."""
    raw = await request.body()
    try:
        return True, json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False, None


def _origin(request: Request) -> str:
    """Scheme and host the client used: a reverse proxy's `X-Forwarded-Proto` and
    `X-Forwarded-Host` (first value of a list) and `X-Forwarded-Prefix` when set, so absolute
    URLs in answers (`self`, next pages) reach the sandbox through the proxy, as the vendors'
    own do through theirs."""
    headers = request.headers

    def first(name: str) -> str:
        return headers.get(name, "").split(",")[0].strip()

    scheme = first("x-forwarded-proto") or request.url.scheme
    host = first("x-forwarded-host") or request.url.netloc
    prefix = first("x-forwarded-prefix").rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    return f"{scheme}://{host}{prefix}"


def base_url(request: Request) -> str:
    """Scheme, host and mount path: what the vendor calls its site or instance URL."""
    root = request.scope.get("root_path", "")
    return f"{_origin(request)}{root}"


def site_url(request: Request) -> str:
    """The sandbox's own root, where every tool is mounted: the base URL without the
    mount of the tool that answers (`/jira`, `/zendesk`, ...)."""
    root = request.scope.get("root_path", "").rpartition("/")[0]
    return f"{_origin(request)}{root}"


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Any:
    """The value behind an opaque cursor; raises ValueError when it is not one of ours."""
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(token) from exc


def query_list(request: Request, name: str) -> list[str]:
    """A list parameter given as `a,b` or repeated (`?x=a&x=b`), as clients send both."""
    return [
        part.strip()
        for value in request.query_params.getlist(name)
        for part in value.split(",")
        if part.strip()
    ]
