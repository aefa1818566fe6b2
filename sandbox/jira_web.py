"""What every Jira route shares: its error body, the API version asked for, the 404 of an
issue that is not there."""

import re

from starlette.requests import Request
from starlette.responses import Response

from sandbox.web import json_response

NO_ISSUE = "Issue does not exist or you do not have permission to see it."


def error(
    status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None
) -> Response:
    return json_response({"errorMessages": messages or [], "errors": errors or {}}, status)


def api_version(request: Request) -> str:
    match = re.search(r"/rest/api/(\d)/", request.url.path)
    return match.group(1) if match else "3"
