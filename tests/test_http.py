"""The shared transport: which failures are retried, how long it waits, what it never says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import responses
from builders import ZENDESK, RecordedSleep, sandbox_settings

from connectors.http import ApiClient, ApiError, AuthError, RetryableError, parse_retry_after
from connectors.zendesk.client import ZendeskConnector

SECRET = "zd-Secret-Token-7f3a9c1e5b2d4f6a8c0e"
URL = f"{ZENDESK}/api/v2/tickets/1.json"
ATTEMPTS = 4


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def api(sleep: RecordedSleep) -> ApiClient:
    """The Zendesk connector's client: real credential settings, a secret worth hiding."""
    settings = sandbox_settings(zendesk_api_token=SECRET, http_max_attempts=ATTEMPTS)
    return ZendeskConnector(settings, sleep=sleep).api


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def test_429_waits_at_least_retry_after_seconds(api, sleep, rsps):
    """A 429 retried sooner than Retry-After is refused again and burns the rate budget."""
    rsps.get(URL, status=429, headers={"Retry-After": "2"})
    rsps.get(URL, json={"ticket": {"id": 1}})

    assert api.get_json(URL) == {"ticket": {"id": 1}}

    assert len(rsps.calls) == 2
    assert len(sleep.waits) == 1
    assert sleep.waits[0] >= 2


def test_retry_after_as_http_date_is_honoured(api, sleep, rsps):
    """Retry-After may be an HTTP date (RFC 9110), not only seconds."""
    when = datetime.now(UTC) + timedelta(seconds=90)
    rsps.get(URL, status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    rsps.get(URL, json={})

    api.get_json(URL)

    # The date has one-second resolution and a little time passes before it is read.
    assert len(sleep.waits) == 1
    assert 88 <= sleep.waits[0] <= 90


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Wed, 01 May 2024 10:21:00 GMT", 30.0),
        ("Wed, 01 May 2024 10:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
    ids=["seconds", "zero", "negative", "date", "date-in-past", "unreadable", "absent"],
)
def test_parse_retry_after(header, expected):
    """Both forms of Retry-After are read; nonsense is ignored rather than trusted."""
    now = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize(
    "failure", [500, 502, 503, 504, requests.ConnectionError, requests.Timeout]
)
def test_transient_failures_are_retried_then_succeed(api, sleep, rsps, failure):
    """Server errors and dropped connections are transient: a sync must not die on one."""
    for _ in range(ATTEMPTS - 1):
        if isinstance(failure, int):
            rsps.get(URL, status=failure)
        else:
            rsps.get(URL, body=failure("connection dropped"))
    rsps.get(URL, json={"ok": True})

    assert api.get_json(URL) == {"ok": True}

    assert len(rsps.calls) == ATTEMPTS
    assert len(sleep.waits) == ATTEMPTS - 1
    assert all(wait > 0 for wait in sleep.waits)


def test_exhausted_attempts_raise(api, sleep, rsps):
    """A tool that stays down fails the run after the configured attempts, never loops."""
    rsps.get(URL, status=503)

    with pytest.raises(RetryableError) as raised:
        api.get_json(URL)

    assert raised.value.status == 503
    assert len(rsps.calls) == ATTEMPTS
    assert len(sleep.waits) == ATTEMPTS - 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_fail_at_once_and_say_what_to_fix(api, sleep, rsps, status):
    """Retrying bad credentials only locks the account; the user needs the setting's name."""
    rsps.get(URL, status=status, json={"error": "Couldn't authenticate you"})

    with pytest.raises(AuthError) as raised:
        api.get_json(URL)

    message = str(raised.value)
    assert message.startswith("zendesk:")
    assert "PMSYNC_ZENDESK_EMAIL" in message
    assert "PMSYNC_ZENDESK_API_TOKEN" in message
    assert SECRET not in message
    assert len(rsps.calls) == 1
    assert sleep.waits == []


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_client_errors_are_fatal_and_not_retried(api, sleep, rsps, status):
    """A 400/404 will not change on retry; it must surface, never be silently ignored."""
    rsps.get(URL, status=status, json={"error": "RecordNotFound"})

    with pytest.raises(ApiError) as raised:
        api.get_json(URL)

    assert not isinstance(raised.value, RetryableError | AuthError)
    assert raised.value.status == status
    assert str(status) in str(raised.value)
    assert "RecordNotFound" in str(raised.value)
    assert len(rsps.calls) == 1
    assert sleep.waits == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
@pytest.mark.parametrize(
    "echo",
    [
        f'{{"error": "bad token {SECRET}"}}',
        # The secret straddling the point where the body is cut for the message.
        "x" * 290 + SECRET + "y" * 50,
    ],
    ids=["echoed", "echoed-at-cut"],
)
def test_secret_never_appears_in_an_error_message(api, rsps, status, echo):
    """Servers echo credentials in error bodies; error messages end up in logs and tickets."""
    rsps.get(URL, status=status, body=echo)

    with pytest.raises(ApiError) as raised:
        api.get_json(URL)

    message = str(raised.value)
    assert SECRET not in message
    assert SECRET[:8] not in message  # not even a part of it
    assert SECRET[-8:] not in message


def test_proxy_settings_are_read_once_per_host_and_still_honoured(monkeypatch):
    """The session reads proxies and the CA bundle from the environment once per host (not
    on every call, as requests does); what it reads is what requests would use."""
    import requests

    from connectors.http import EnvironmentOnce

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "jira.internal")
    looked_up = []
    read = requests.utils.get_environ_proxies
    monkeypatch.setattr(
        requests.sessions,
        "get_environ_proxies",
        lambda url, no_proxy=None: looked_up.append(url) or read(url, no_proxy),
    )
    session = EnvironmentOnce()
    plain = requests.Session()
    for url in ("https://x.zendesk.com/a", "https://x.zendesk.com/b", "https://jira.internal/c"):
        ours = session.merge_environment_settings(url, {}, None, None, None)
        theirs = plain.merge_environment_settings(url, {}, None, None, None)
        assert ours == theirs
    assert session.merge_environment_settings("https://x.zendesk.com/d", {}, True, None, None)[
        "stream"
    ]
    ours_hosts = [url for url in looked_up if "/a" in url or "/b" in url or "/d" in url]
    assert ours_hosts.count("https://x.zendesk.com/a") == 2  # ours once, plain's once
    assert "https://x.zendesk.com/d" not in looked_up  # answered from what was read
    proxied = session.merge_environment_settings("https://x.zendesk.com/a", {}, None, None, None)
    assert proxied["proxies"]["https"] == "http://proxy.internal:3128"
    bypassed = session.merge_environment_settings("https://jira.internal/e", {}, None, None, None)
    assert "https" not in bypassed["proxies"]  # NO_PROXY still holds
