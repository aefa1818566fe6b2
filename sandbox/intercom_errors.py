"""Intercom's error body: `{"type": "error.list", "request_id", "errors": [{code, message}]}`."""

import uuid

from starlette.responses import Response

from sandbox.web import json_response


def error(status: int, code: str, message: str) -> Response:
    return json_response(
        {
            "type": "error.list",
            "request_id": str(uuid.uuid4()),
            "errors": [{"code": code, "message": message}],
        },
        status,
    )


def not_found() -> Response:
    return error(404, "not_found", "Resource Not Found")
