"""Intercom, what a person reads and what leaves: subjects of emailed conversations, the
customer of a conversation a teammate started, links into the inbox (`GET /me`), and
conversations deleted in Intercom."""

from __future__ import annotations

import pytest
import test_connectors_intercom as base
from builders import INTERCOM, intercom_contact, intercom_conversation, intercom_page, script

import connectors.intercom.client
from connectors.http import ApiError

pytestmark = pytest.mark.mocked_site("intercom_mock")  # the mocked API, with `/me`
# The base suite's fixture and helpers: the run start.
run_start = base.run_start
INBOX, RUN_START, SEARCH, connector = base.INBOX, base.RUN_START, base.SEARCH, base.connector

# -- what a person reads: subjects, customers and links ------------------------------------


@pytest.mark.parametrize(
    ("title", "subject", "expected"),
    [
        (None, "<p>Export planifié &amp; CSV</p>", "Export planifié & CSV"),
        ("", "Re: SSO", "Re: SSO"),
        ("Set by a teammate", "Re: SSO", "Set by a teammate"),
        (None, "", "Bonjour,"),  # a chat: nothing better than its first line
    ],
)
def test_an_emailed_conversations_subject_is_its_email_subject(
    rsps, contacts, title, subject, expected
):
    """Intercom leaves `title` null on an emailed conversation; its subject (HTML) is in
    `source.subject`. The first line ("Bonjour,") is the subject only when nothing else is."""
    raw = intercom_conversation(
        1, body="<p>Bonjour,</p><p>Pourriez-vous ajouter le SSO ?</p>", company_id="co1"
    )
    raw["title"] = title
    raw["source"].update(type="email", subject=subject)
    script(rsps, "POST", SEARCH, [intercom_page([raw])])

    (page,) = list(connector().conversations(None))

    assert page.records[0].subject == expected
    assert page.records[0].body == "Bonjour,\nPourriez-vous ajouter le SSO ?"


@pytest.mark.parametrize("teammate", ["admin", "bot"])
def test_a_conversation_a_teammate_started_counts_for_its_contact(rsps, contacts, teammate):
    """An admin's outbound message or an Operator bot's: the customer is the contact."""
    contacts["c1"] = intercom_contact("c1", "ann@acme.com", "co9")
    author = {
        "type": teammate,
        "id": "991267591",
        "name": "Ciaran Lee",
        "email": "ciaran@vendor.io",
    }
    script(rsps, "POST", SEARCH, [intercom_page([intercom_conversation(1, author=author)])])

    (page,) = list(connector().conversations(None))

    (item,) = page.records
    assert (item.requester_email, item.account_id) == ("ann@acme.com", "co9")


@pytest.mark.parametrize(
    ("api", "app"),
    [
        ("https://api.intercom.io", "https://app.intercom.com"),
        ("https://api.eu.intercom.io/", "https://app.eu.intercom.com"),
        ("https://api.au.intercom.io", "https://app.au.intercom.com"),
        ("https://proxy.internal/intercom", "https://proxy.internal/intercom"),
    ],
)
def test_the_inbox_is_on_intercoms_app_for_its_regional_api(api, app):
    assert connectors.intercom.client.app_url(api) == app
    assert (
        connectors.intercom.client.inbox_url(app, "ab12")
        == f"{app}/a/inbox/ab12/inbox/conversation"
    )


def test_me_is_read_once_per_pull_and_every_page_links_into_the_inbox(rsps, contacts):
    pages = [
        intercom_page([intercom_conversation(1, company_id="co1")], starting_after="a"),
        intercom_page([intercom_conversation(2, company_id="co1")]),
    ]
    script(rsps, "POST", SEARCH, pages)
    reader = connector()

    urls = [r.url for page in reader.conversations(None) for r in page.records]

    assert urls == [f"{INBOX}/1", f"{INBOX}/2"]
    assert len([c for c in rsps.calls if c.request.url == f"{INTERCOM}/me"]) == 1


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refused_me_leaves_links_empty_and_the_pull_goes_on(rsps, contacts, status):
    rsps.replace("GET", f"{INTERCOM}/me", status=status, json={"type": "error.list", "errors": []})
    script(rsps, "POST", SEARCH, [intercom_page([intercom_conversation(1, company_id="co1")])])
    reader = connector()

    (page,) = list(reader.conversations(None))

    assert [(r.id, r.url) for r in page.records] == [("1", "")]
    assert str(status) in reader.missing["inbox_urls"]


# -- deletions --------------------------------------------------------------------------------


def test_a_full_pull_names_every_conversation_so_deleted_ones_leave_the_store(rsps, contacts):
    """Intercom lists no deleted conversations: a full read is the only listing of what
    still exists. Its last page names every id served (a malformed one too: it exists)."""
    bad = intercom_conversation(3, company_id="co1")
    bad["updated_at"] = "yesterday"
    pages = [
        intercom_page([intercom_conversation(1, company_id="co1")], starting_after="a"),
        intercom_page([intercom_conversation(2, company_id="co1"), bad]),
    ]
    script(rsps, "POST", SEARCH, pages)

    read = list(connector().pull(lambda stream: None, full=True, listings=False))

    assert read[-1].complete_ids == {"1", "2", "3"} and read[-1].records == []
    assert [p.complete_ids for p in read[:-1]] == [None, None]


@pytest.mark.parametrize("bounds", [{}, {"since": RUN_START}, {"until": RUN_START}])
def test_incremental_and_windowed_pulls_never_claim_to_be_complete(rsps, contacts, bounds):
    """A read from a cursor or inside a window misses conversations by design: it must not
    remove them."""
    script(rsps, "POST", SEARCH, [intercom_page([intercom_conversation(1, company_id="co1")])])
    full = bool(bounds)

    read = list(connector().pull(lambda stream: None, full=full, listings=False, **bounds))

    assert all(page.complete_ids is None for page in read)


@pytest.mark.parametrize(
    "answer", [{"type": "error.list", "errors": [{"code": "server_error"}]}, ["not", "a", "page"]]
)
def test_a_200_without_conversations_fails_the_pull_and_removes_nothing(rsps, contacts, answer):
    """A 200 can carry an error body: read as an empty last page it would end a full read
    and remove every stored conversation. It fails the pull instead, with what came back."""
    # An error body is retried like a 5xx (connectors.http.NotAnAnswer), then fails.
    script(rsps, "POST", SEARCH, [intercom_page([intercom_conversation(1)], "a")] + [answer] * 10)
    read = []

    with pytest.raises(ApiError, match="without `conversations`|answered 200 with an error"):
        read.extend(connector().pull(lambda stream: None, full=True, listings=False))

    assert all(page.complete_ids is None for page in read)


def test_a_scroll_answer_without_data_fails_instead_of_closing_the_listing(rsps):
    rsps.get(f"{INTERCOM}/companies/scroll", json={"type": "error.list", "errors": []})

    with pytest.raises(ApiError, match="without `data`|answered 200 with an error"):
        list(connector().companies())
