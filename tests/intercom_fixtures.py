"""What the Intercom connector tests share: a mocked workspace that answers `GET /me`, the
contacts it knows, the conversation search's URL, and a connector."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import responses
from builders import INTERCOM, RecordedSleep, sandbox_settings

from connectors.intercom.client import IntercomConnector

APP = "abc1def2"  # the workspace's id_code, as `GET /me` names it
SEARCH = f"{INTERCOM}/conversations/search"


@pytest.fixture
def intercom_mock():
    """Mocked HTTP that answers `GET /me` (the inbox links need the workspace's id_code).
    The Intercom test modules take it as their `rsps`."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        me = {"type": "admin", "id": "1", "app": {"type": "app", "id_code": APP}}
        mock.add("GET", f"{INTERCOM}/me", json=me)
        yield mock


@pytest.fixture
def contacts(rsps) -> dict[str, dict]:
    """`GET /contacts/{id}` answers for the contacts named here, 404 for any other."""
    table: dict[str, dict] = {}

    def reply(request):
        wanted = urlsplit(request.url).path.rsplit("/", 1)[-1]
        if wanted not in table:
            error = {"type": "error.list", "errors": [{"code": "not_found"}]}
            return 404, {"Content-Type": "application/json"}, json.dumps(error)
        return 200, {"Content-Type": "application/json"}, json.dumps(table[wanted])

    rsps.add_callback("GET", re.compile(rf"{re.escape(INTERCOM)}/contacts/[^/]+"), callback=reply)
    return table


def connector(**settings) -> IntercomConnector:
    return IntercomConnector(sandbox_settings(**settings), sleep=RecordedSleep())
