"""Intercom: conversation search by `updated_at >` (no `>=`), `starting_after` paging,
requesters' companies through contacts, and companies as accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from builders import (
    INTERCOM,
    RUN_START,
    body,
    calls_to,
    freeze_now,
    intercom_company,
    intercom_contact,
    intercom_conversation,
    intercom_page,
    query,
    record_ids,
    script,
    unix,
)
from intercom_fixtures import APP, SEARCH, connector

import connectors.intercom.client
from connectors.base import DuplicatePageToken
from connectors.http import ApiError
from connectors.intercom.client import VERSION

SCROLL = f"{INTERCOM}/companies/scroll"
INBOX = f"{INTERCOM}/a/inbox/{APP}/inbox/conversation"  # a non-Intercom host serves the app

pytestmark = pytest.mark.mocked_site("intercom_mock")


@pytest.fixture(autouse=True)
def run_start(monkeypatch):
    freeze_now(monkeypatch, connectors.intercom.client, RUN_START)


def updated_after(call) -> int:
    (rule,) = body(call)["query"]["value"]
    assert (rule["field"], rule["operator"]) == ("updated_at", ">")
    return rule["value"]


# -- the conversation search -----------------------------------------------------------------


def test_the_search_asks_greater_than_one_second_before_the_cursor(rsps, contacts):
    """Intercom has no `>=`: `> cursor` would skip conversations updated in the cursor's
    own second; `> cursor - 1` (unix seconds, after the lookback) keeps them."""
    script(rsps, "POST", SEARCH, [intercom_page([])])

    list(connector(lookback_minutes=5).conversations("2024-05-01T10:20:30+00:00"))

    (search,) = calls_to(rsps, "/conversations/search")
    assert updated_after(search) == unix("2024-05-01T10:15:30Z") - 1
    sent = body(search)
    assert sent["query"]["operator"] == "AND"
    assert sent["pagination"] == {"per_page": 150}
    assert sent["sort"] == {"field": "updated_at", "order": "ascending"}
    headers = search.request.headers
    assert headers["Intercom-Version"] == VERSION
    assert headers["Authorization"] == "Bearer sandbox"


def test_without_a_cursor_every_conversation_is_searched(rsps, contacts):
    script(rsps, "POST", SEARCH, [intercom_page([])])

    list(connector().conversations(None))

    (search,) = calls_to(rsps, "/conversations/search")
    assert updated_after(search) == 0


# Only an absent `pages.next` ends the search and a repeated one raises:
# test_cursor_pages.py, with the cursor each page carries.


def test_a_conversation_read_twice_in_one_run_is_kept_once(rsps, contacts):
    """`> last - 1` and pages that move while the search runs return a conversation again;
    the same version is dropped, a newer one is kept."""
    script(
        rsps,
        "POST",
        SEARCH,
        [
            intercom_page(
                [intercom_conversation(1, "2024-05-01T10:00:00Z"), intercom_conversation(2)], "p1"
            ),
            intercom_page(
                [
                    intercom_conversation(1, "2024-05-01T10:00:00Z"),
                    intercom_conversation(2, "2024-05-01T11:00:00Z"),
                ]
            ),
        ],
    )

    pages = list(connector().conversations(None))

    assert record_ids(pages) == ["1", "2", "2"]
    assert pages[1].records[0].updated_at == datetime(2024, 5, 1, 11, tzinfo=UTC)


# -- what a conversation becomes -------------------------------------------------------------


def test_a_conversation_becomes_feedback_with_plain_text(rsps, contacts):
    """Linking reads words, not markup; the subject is the title, else the first line."""
    script(
        rsps,
        "POST",
        SEARCH,
        [
            intercom_page(
                [
                    intercom_conversation(
                        1,
                        body="<p>SSO &amp; SCIM, please</p><p>See <b>ANA-12</b></p>",
                        company_id="co1",
                        tags={"type": "tag.list", "tags": [{"id": "1", "name": "enterprise"}]},
                    ),
                    intercom_conversation(2, title="Export to CSV", company_id="co1"),
                ]
            )
        ],
    )

    (page,) = list(connector().conversations(None))

    one, two = page.records
    assert one.body == "SSO & SCIM, please\nSee ANA-12"
    assert one.subject == "SSO & SCIM, please"
    assert one.tags == ("enterprise",)
    assert (one.requester_email, one.account_id, one.status) == ("ann@acme.com", "co1", "open")
    assert one.url == f"{INBOX}/1"
    assert two.subject == "Export to CSV"
    assert [c for c in rsps.calls if "/contacts/" in c.request.url] == [], "nothing to look up"


def test_the_requesters_company_comes_from_their_contact_read_once_per_run(rsps, contacts):
    """A conversation names its contacts, not their company: the requester's contact
    says which companies they belong to. People write more than once; each contact is
    read once per run, and only when the conversation does not already say."""
    contacts.update(
        {
            "c1": intercom_contact("c1", "ann@acme.com", "co1"),
            "c2": intercom_contact("c2", "bob@gmail.com"),
            "lead7": intercom_contact("lead7", "cy@initech.com", "co7"),
        }
    )
    teammate = {"type": "admin", "id": "a1", "email": "agent@us.com"}
    again = intercom_conversation(4, contacts={"contacts": [{"type": "contact", "id": "c1"}]})
    again["source"]["author"]["id"] = "c1"
    script(
        rsps,
        "POST",
        SEARCH,
        [
            intercom_page([intercom_conversation(1), intercom_conversation(2)], "p1"),
            intercom_page(
                [
                    intercom_conversation(3, company_id="co3"),
                    again,
                    # An outbound conversation: the teammate wrote first; the contact asked.
                    intercom_conversation(
                        7,
                        author=teammate,
                        contacts={"contacts": [{"type": "contact", "id": "lead7"}]},
                    ),
                    intercom_conversation(8),  # a contact deleted since: no company
                ]
            ),
        ],
    )

    pages = list(connector().conversations(None))

    assert [(f.id, f.account_id, f.requester_email) for p in pages for f in p.records] == [
        ("1", "co1", "ann@acme.com"),
        ("2", None, "ann@acme.com"),
        ("3", "co3", "ann@acme.com"),
        ("4", "co1", "ann@acme.com"),
        ("7", "co7", "cy@initech.com"),
        ("8", None, "ann@acme.com"),
    ]
    looked_up = [urlsplit(c.request.url).path for c in rsps.calls if "/contacts/" in c.request.url]
    assert looked_up == [
        "/intercom/contacts/c1",
        "/intercom/contacts/c2",
        "/intercom/contacts/lead7",
        "/intercom/contacts/c8",
    ]


def test_a_contact_lookup_that_fails_otherwise_fails_the_run(rsps):
    """Only a deleted contact (404) means "no company"; a refused request is loud."""
    rsps.get(f"{INTERCOM}/contacts/c1", status=400, json={"type": "error.list"})
    script(rsps, "POST", SEARCH, [intercom_page([intercom_conversation(1)])])

    with pytest.raises(ApiError):
        list(connector().conversations(None))


def test_contacts_the_token_may_not_read_switch_off_requester_companies_only(rsps):
    """A token without contact access (403) still pulls every conversation: the ones that
    name no company count for none, and the run says which feature is off and why."""
    rsps.get(f"{INTERCOM}/contacts/c1", status=403, json={"type": "error.list"})
    script(rsps, "POST", SEARCH, [intercom_page([intercom_conversation(1)])])
    pulled = connector()

    (page,) = list(pulled.conversations(None))

    assert [item.id for item in page.records] == ["1"] and page.records[0].account_id is None
    assert "403" in pulled.missing["requester_companies"]


# A malformed conversation goes to dead letters: test_cursor_pages.py.


# -- companies -------------------------------------------------------------------------------


def scroll_page(companies: list[dict], param: str | None) -> dict:
    return {
        "type": "list",
        "data": companies,
        "pages": None,
        "total_count": None,
        "scroll_param": param,
    }


@pytest.mark.parametrize(
    "pages",
    [
        pytest.param([["a", "b"]], id="one-page"),
        pytest.param([], id="none"),
        pytest.param([["a"], ["b", "c"]], id="short-pages"),
    ],
)
def test_companies_scroll_until_data_is_empty_and_the_last_page_names_every_id(rsps, pages):
    """The scroll API reads companies in id order (the paged list moves with activity and
    stops at 10,000); its end is an empty `data`, its scroll_param is sent back as given;
    complete_ids drops companies Intercom no longer has."""
    answers = [
        scroll_page([intercom_company(i, f"Co {i}", f"{i}.com") for i in ids_], f"s{n}")
        for n, ids_ in enumerate(pages, 1)
    ] + [scroll_page([], "end")]
    script(rsps, "GET", SCROLL, answers)

    result = list(connector().companies())

    every = [i for ids_ in pages for i in ids_]
    assert [a.id for page in result for a in page.records] == every
    assert result[-1].complete_ids == set(every)
    assert all(page.complete_ids is None for page in result[:-1])
    sent = [query(c).get("scroll_param") for c in calls_to(rsps, "/companies/scroll")]
    assert sent == [None] + [[f"s{n}"] for n in range(1, len(pages) + 1)]


def test_a_company_website_becomes_the_accounts_domain(rsps):
    """Websites are how an Intercom company meets a CRM account and an email domain."""
    companies = [
        intercom_company("a", "Acme", "https://www.Acme.com/about"),
        intercom_company("b", "Solo", None),
    ]
    script(rsps, "GET", SCROLL, [scroll_page(companies, "s1"), scroll_page([], "s1")])

    first, _ = list(connector().companies())

    assert [(a.name, a.domains) for a in first.records] == [("Acme", ("acme.com",)), ("Solo", ())]


def test_a_scroll_that_only_repeats_companies_raises(rsps):
    """A scroll serving the same companies again would be read forever."""
    same = scroll_page([intercom_company("a", "A", None)], "s1")
    script(rsps, "GET", SCROLL, [same, same])

    with pytest.raises(DuplicatePageToken):
        list(connector().companies())
