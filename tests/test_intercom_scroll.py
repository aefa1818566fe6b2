"""Intercom's companies scroll keeps its position on Intercom's side: a page lost on the
way cannot be asked for again, and a closed or expired scroll answers 404. A broken scroll
is read again from its start, so no company is missed and none is taken for deleted."""

from __future__ import annotations

import pytest
import requests
import responses
from builders import INTERCOM, RecordedSleep, intercom_company, sandbox_settings

from connectors.http import ApiError
from connectors.intercom.client import SCROLL_RESTARTS, IntercomConnector

SCROLL = f"{INTERCOM}/companies/scroll"


def page(*ids: str) -> dict:
    data = [intercom_company(i, f"Company {i}", None) for i in ids]
    return {"type": "list", "data": data, "scroll_param": "s1"}


def read(rsps: responses.RequestsMock, *answers: object) -> list:
    me = {"type": "admin", "id": "1", "app": {"type": "app", "id_code": "abc123"}}
    rsps.add("GET", f"{INTERCOM}/me", json=me)
    for answer in answers:
        if isinstance(answer, Exception):
            rsps.add("GET", SCROLL, body=answer)
        elif isinstance(answer, int):
            rsps.add("GET", SCROLL, status=answer, json={"type": "error.list", "errors": []})
        else:
            rsps.add("GET", SCROLL, json=answer)
    connector = IntercomConnector(sandbox_settings(), sleep=RecordedSleep())
    return list(connector.companies())


@pytest.mark.parametrize(
    "broken",
    [requests.ConnectionError("dropped"), 404, 500],
    ids=["dropped-connection", "scroll-expired", "server-error"],
)
def test_a_broken_scroll_is_read_again_from_its_start(broken: object) -> None:
    with responses.RequestsMock() as rsps:
        pages = read(rsps, page("1", "2"), broken, page("1", "2"), page("3"), page())
    closing = pages[-1]
    assert closing.complete_ids == {"1", "2", "3"}
    assert [r.id for p in pages for r in p.records] == ["1", "2", "1", "2", "3"]


def test_a_scroll_that_keeps_breaking_fails_and_closes_nothing() -> None:
    answers: list[object] = []
    for _ in range(SCROLL_RESTARTS + 1):
        answers += [page("1"), 404]
    with responses.RequestsMock() as rsps, pytest.raises(ApiError):
        read(rsps, *answers)
