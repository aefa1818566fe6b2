"""A comment or note must land once even when the connection drops after the server
wrote it: before each retry, the client looks for what the failed attempt left."""

from __future__ import annotations

import requests
import responses

from connectors.http import ApiClient, Calls

URL = "https://jira.example/rest/api/3/issue/ANA-1/comment"


def client() -> tuple[ApiClient, list[float]]:
    waits: list[float] = []
    return ApiClient(
        "jira", "https://jira.example", credential_settings="X", calls=Calls(sleep=waits.append)
    ), waits


@responses.activate
def test_a_dropped_write_that_landed_is_found_not_repeated() -> None:
    """The server wrote the comment, then the connection dropped: no second POST."""
    responses.add(responses.POST, URL, body=requests.ConnectionError("reset by peer"))
    api, _ = client()
    found = api.write_once(
        "POST",
        URL,
        created=lambda r: r.json()["id"],
        find_existing=lambda: "10001",
        json={"body": {}},
    )
    assert found == "10001"
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1


@responses.activate
def test_a_write_that_did_not_land_is_retried_after_the_wait() -> None:
    """A 503 that wrote nothing: look, find nothing, wait Retry-After, post again."""
    responses.add(responses.POST, URL, status=503, headers={"Retry-After": "3"})
    responses.add(responses.POST, URL, json={"id": "10002"}, status=201)
    api, waits = client()
    created = api.write_once(
        "POST", URL, created=lambda r: r.json()["id"], find_existing=lambda: None, json={"body": {}}
    )
    assert created == "10002" and waits and waits[0] >= 3
