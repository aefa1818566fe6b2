"""`hints(tool, payload)`: which records a stored delivery says changed, in the vendors'
own payload shapes; and never an exception, whatever a payload holds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import registry
from webhooks import Hint, hints

CASES: list[tuple[str, str, Any, list[Hint]]] = [
    (
        "jira issue updated",
        "jira",
        {
            "webhookEvent": "jira:issue_updated",
            "issue": {"id": "10002", "key": "ANA-1", "fields": {}},
            "changelog": {"items": [{"field": "status"}]},
        },
        [Hint("jira", "issue", "10002")],
    ),
    (
        "jira comment on an issue known by key only",
        "jira",
        {"webhookEvent": "comment_created", "issue": {"key": "ANA-7"}, "comment": {"id": "1"}},
        [Hint("jira", "issue", "ANA-7")],
    ),
    (
        "jira issue link: both ends",
        "jira",
        {
            "webhookEvent": "issuelink_created",
            "issueLink": {"sourceIssueId": 1, "destinationIssueId": 2},
        },
        [Hint("jira", "issue", "1"), Hint("jira", "issue", "2")],
    ),
    (
        "zendesk event webhook",
        "zendesk",
        {
            "type": "zen:event-type:ticket.status_changed",
            "subject": "zen:ticket:35436",
            "detail": {"id": "35436"},
        },
        [Hint("zendesk", "ticket", "35436")],
    ),
    (
        "zendesk organization event",
        "zendesk",
        {"type": "zen:event-type:organization.created", "subject": "zen:organization:7"},
        [Hint("zendesk", "organization", "7")],
    ),
    (
        "zendesk trigger with a ticket object",
        "zendesk",
        {"ticket": {"id": "35436", "title": "SSO please"}},
        [Hint("zendesk", "ticket", "35436")],
    ),
    (
        "zendesk trigger with ticket_id",
        "zendesk",
        {"ticket_id": 35436},
        [Hint("zendesk", "ticket", "35436")],
    ),
    (
        "hubspot deal property change (one stored event)",
        "hubspot",
        {"eventId": 1, "subscriptionType": "deal.propertyChange", "objectId": 5001},
        [Hint("hubspot", "deal", "5001")],
    ),
    (
        "hubspot whole batch, company and contact",
        "hubspot",
        [
            {"eventId": 1, "subscriptionType": "company.creation", "objectId": 77},
            {"eventId": 2, "subscriptionType": "contact.propertyChange", "objectId": 12},
            {"eventId": 3, "subscriptionType": "deal.deletion", "objectId": 5001},
        ],
        [
            Hint("hubspot", "company", "77"),
            Hint("hubspot", "contact", "12"),
            Hint("hubspot", "deal", "5001"),
        ],
    ),
    (
        "hubspot association change: both ends",
        "hubspot",
        {
            "subscriptionType": "deal.associationChange",
            "associationType": "DEAL_TO_COMPANY",
            "fromObjectId": 5001,
            "toObjectId": 77,
        },
        [Hint("hubspot", "deal", "5001"), Hint("hubspot", "company", "77")],
    ),
    (
        "hubspot merge: survivor and merged",
        "hubspot",
        {
            "subscriptionType": "deal.merge",
            "objectId": 1,
            "primaryObjectId": 1,
            "mergedObjectIds": [2, 3],
        },
        [Hint("hubspot", "deal", "1"), Hint("hubspot", "deal", "2"), Hint("hubspot", "deal", "3")],
    ),
    (
        "hubspot generic object event",
        "hubspot",
        {"subscriptionType": "object.propertyChange", "objectTypeId": "0-3", "objectId": 9},
        [Hint("hubspot", "deal", "9")],
    ),
    (
        "hubspot object pmsync does not read",
        "hubspot",
        {"subscriptionType": "ticket.creation", "objectId": 9},
        [],
    ),
    (
        "intercom conversation",
        "intercom",
        {
            "type": "notification_event",
            "id": "notif_1",
            "topic": "conversation.user.replied",
            "data": {"item": {"type": "conversation", "id": "1911149811"}},
        },
        [Hint("intercom", "conversation", "1911149811")],
    ),
    (
        "intercom contact in an older API version",
        "intercom",
        {"topic": "user.created", "data": {"item": {"type": "user", "id": "abc"}}},
        [Hint("intercom", "contact", "abc")],
    ),
    (
        "freshdesk classic webhook",
        "freshdesk",
        {"freshdesk_webhook": {"ticket_id": 42, "ticket_status": "Open"}},
        [Hint("freshdesk", "ticket", "42")],
    ),
    (
        "freshdesk custom body",
        "freshdesk",
        {"ticket_id": "42", "delivery_id": "x"},
        [Hint("freshdesk", "ticket", "42")],
    ),
    (
        "salesforce sObject",
        "salesforce",
        {
            "attributes": {"type": "Opportunity"},
            "Id": "0065g00000AbCdEAAV",
            "StageName": "Closed Won",
        },
        [Hint("salesforce", "opportunity", "0065g00000AbCdEAAV")],
    ),
    (
        "salesforce trigger records",
        "salesforce",
        {
            "new": [
                {"attributes": {"type": "Account"}, "Id": "0015g00000XyZ"},
                {"attributes": {"type": "Case"}, "Id": "5005g00000Q"},
            ]
        },
        [Hint("salesforce", "account", "0015g00000XyZ")],
    ),
    (
        "salesforce change data capture",
        "salesforce",
        {
            "payload": {
                "ChangeEventHeader": {
                    "entityName": "Opportunity",
                    "recordIds": ["0065g1", "0065g2"],
                }
            }
        },
        [Hint("salesforce", "opportunity", "0065g1"), Hint("salesforce", "opportunity", "0065g2")],
    ),
    (
        "salesforce bare record id, typed by prefix",
        "salesforce",
        {"recordId": "0065g00000AbCdE"},
        [Hint("salesforce", "opportunity", "0065g00000AbCdE")],
    ),
    ("unknown tool", "github", {"issue": {"id": 1}}, []),
]


@pytest.mark.parametrize(
    ("tool", "payload", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hints_in_vendor_payloads(tool: str, payload: Any, expected: list[Hint]) -> None:
    assert hints(tool, payload) == expected


# The tools that send webhooks (their vendor's `webhook`).
WEBHOOK_TOOLS = sorted(v.name for v in registry.vendors() if v.webhook)

ODD = [
    None,
    "zen:ticket:1",
    12,
    [],
    [None, 1, "x"],
    {"issue": "ANA-1"},
    {"issue": {"id": {"nested": 1}}},
    {"issue": {"id": True}},
    {"issue": {"id": "   "}},
    {"subject": ["zen:ticket:1"]},
    {"data": {"item": None}},
    {"data": {"item": {"type": ["conversation"], "id": 1}}},
    {"subscriptionType": None, "objectId": 1},
    {"subscriptionType": "deal.associationChange", "associationType": 5},
    {"mergedObjectIds": "1,2", "subscriptionType": "deal.merge"},
    {"ChangeEventHeader": {"recordIds": "006x"}},
    {"records": {"Id": "006x"}},
]


@pytest.mark.parametrize("tool", WEBHOOK_TOOLS)
@pytest.mark.parametrize("payload", ODD, ids=range(len(ODD)))
def test_odd_payloads_give_no_hint(tool: str, payload: Any) -> None:
    """A payload that does not have the expected shape gives no hint, never an error: the
    dispatcher must not die on one odd event (the scheduled sync catches what it missed)."""
    assert hints(tool, payload) == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "issue",
                    "id",
                    "key",
                    "issueLink",
                    "subject",
                    "ticket",
                    "ticket_id",
                    "data",
                    "item",
                    "type",
                    "subscriptionType",
                    "objectId",
                    "associationType",
                    "mergedObjectIds",
                    "freshdesk_webhook",
                    "attributes",
                    "Id",
                    "records",
                    "ChangeEventHeader",
                    "recordIds",
                    "entityName",
                    "payload",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(tool=st.sampled_from(WEBHOOK_TOOLS), payload=JSON)
def test_hints_never_raise(tool: str, payload: Any) -> None:
    """Whatever JSON a valid envelope carries, `hints` returns well-formed hints."""
    for hint in hints(tool, payload):
        assert hint.tool == tool
        assert isinstance(hint.kind, str) and hint.kind
        assert isinstance(hint.record_id, str) and hint.record_id.strip() == hint.record_id
