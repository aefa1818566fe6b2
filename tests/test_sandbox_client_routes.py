"""Routes that independent connectors call (benchmarks/clients.py), as the vendors document
them: Zendesk's ticket event export and decimal start times, Intercom's workspace lists,
HubSpot's legacy Properties, Companies v2, Deals v1 and Engagements v1 APIs and the
properties of standard objects without records, Salesforce's refresh-token grant with a
connector's own refresh token."""

from typing import Any

import pytest
import requests

from sandbox import salesforce as salesforce_sandbox
from sandbox.server import SandboxServer, start_sandbox

ZENDESK_AUTH = ("demo@example.com/token", "sandbox")
BEARER = {"Authorization": "Bearer sandbox"}


def _get(server: SandboxServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(f"{server.url}{path}", timeout=10, **kwargs)


def _bearer(server: SandboxServer, path: str, **params: Any) -> requests.Response:
    """A GET with the sandbox's bearer token, which HubSpot and Intercom both take."""
    return _get(server, path, headers=BEARER, params=params)


def test_zendesk_exports_take_a_decimal_start_time(server: SandboxServer) -> None:
    """tap-zendesk sends `start_time=946684800.0` (Python's timestamp()) and an ISO time;
    Zendesk reads the leading digits, while a start time without any stays a 400."""
    path = "/zendesk/api/v2/incremental/tickets/cursor.json"
    page = _get(server, path, auth=ZENDESK_AUTH, params={"start_time": "946684800.0"})
    assert page.status_code == 200 and page.json()["tickets"]
    # An ISO time's leading digits are its year: second 2026 of 1970, so everything.
    iso = "/zendesk/api/v2/incremental/organizations.json"
    everything = _get(server, iso, auth=ZENDESK_AUTH, params={"start_time": "2026-01-02T03:04:05Z"})
    assert len(everything.json()["organizations"]) == len(
        server.app.state.sandbox.zendesk.organizations
    )
    wrong = _get(server, path, auth=ZENDESK_AUTH, params={"start_time": "yesterday"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "InvalidPaginationParameter"


def test_zendesk_ticket_events_carry_every_comment_with_comment_events(
    server: SandboxServer,
) -> None:
    state = server.app.state.sandbox
    truth = {(t, c["id"]) for t, comments in state.zendesk.comments.items() for c in comments}
    seen: set[tuple[Any, Any]] = set()
    params: dict[str, Any] = {"start_time": 0, "include": "comment_events", "per_page": 40}
    url = f"{server.url}/zendesk/api/v2/incremental/ticket_events.json"
    for _ in range(50):
        body = requests.get(url, auth=ZENDESK_AUTH, params=params, timeout=10).json()
        for event in body["ticket_events"]:
            assert event["event_type"] == "Audit" and isinstance(event["timestamp"], int)
            for child in event["child_events"]:
                assert child["event_type"] == "Comment" and "body" in child
                seen.add((event["ticket_id"], child["id"]))
        if body["end_of_stream"]:
            break
        url, params = body["next_page"], {}
    assert seen == truth
    bare = _get(
        server,
        "/zendesk/api/v2/incremental/ticket_events",
        auth=ZENDESK_AUTH,
        params={"start_time": 0},
    ).json()
    assert bare["ticket_events"] and all(not e["child_events"] for e in bare["ticket_events"])


def test_intercom_workspace_lists(server: SandboxServer) -> None:
    state = server.app.state.sandbox
    admins = _bearer(server, "/intercom/admins").json()
    assert admins["type"] == "admin.list"
    assert {a["id"] for a in admins["admins"]} == set(state.intercom.admins)
    one = admins["admins"][0]
    assert _bearer(server, f"/intercom/admins/{one['id']}").json() == one
    assert _bearer(server, "/intercom/admins/0").status_code == 404
    teams = _bearer(server, "/intercom/teams").json()
    assert teams == {"type": "team.list", "teams": []}  # the admins' team_ids are empty
    segments = _bearer(server, "/intercom/segments").json()
    assert segments["type"] == "segment.list"
    assert {s["name"] for s in segments["segments"]} >= {"Active", "New"}
    company = _bearer(server, "/intercom/data_attributes", model="company")
    names = {a["name"]: a for a in company.json()["data"]}
    assert names["plan"]["custom"] and names["plan"]["full_name"] == "custom_attributes.plan"
    assert names["name"]["model"] == "company" and not names["name"]["custom"]
    wrong = _bearer(server, "/intercom/data_attributes", model="x")
    assert wrong.status_code == 400 and wrong.json()["type"] == "error.list"
    assert _get(server, "/intercom/admins").status_code == 401


def test_hubspot_properties_of_standard_objects_without_records(server: SandboxServer) -> None:
    contacts = _bearer(server, "/hubspot/crm/v3/properties/contacts").json()
    assert {"email", "hs_object_id"} <= {p["name"] for p in contacts["results"]}
    by_id = _bearer(server, "/hubspot/crm/v3/properties/0-1").json()
    assert by_id == contacts
    for path in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
        assert _bearer(server, f"/hubspot{path}").json() == {"results": []}
    unknown = _bearer(server, "/hubspot/crm/v3/properties/spaceships")
    assert unknown.status_code == 400 and unknown.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/properties/v2/company/properties", "companies"),
        ("/properties/v2/companies/properties", "companies"),
        ("/companies/v2/properties", "companies"),
        ("/properties/v1/deals/properties", "deals"),
        ("/properties/v2/deal/properties", "deals"),
    ],
)
def test_hubspot_legacy_properties_are_an_array(
    server: SandboxServer, path: str, kind: str
) -> None:
    legacy = _bearer(server, f"/hubspot{path}").json()
    v3 = _bearer(server, f"/hubspot/crm/v3/properties/{kind}").json()["results"]
    assert isinstance(legacy, list)
    assert [p["name"] for p in legacy] == [p["name"] for p in v3]
    assert all(
        {"name", "type", "fieldType", "groupName", "readOnlyValue"} <= set(p) for p in legacy
    )


def _all(server: SandboxServer, path: str, key: str, more: str, **params: Any) -> list[dict]:
    found: list[dict] = []
    offset = 0
    for _ in range(50):
        page = _bearer(server, f"/hubspot{path}", **params, offset=offset).json()
        found += page[key]
        if not page[more]:
            return found
        offset = page["offset"]
    raise AssertionError("paging did not end")


def test_hubspot_companies_v2_and_deals_v1_page_through_the_portal(server: SandboxServer) -> None:
    state = server.app.state.sandbox
    companies = _all(
        server,
        "/companies/v2/companies/paged",
        "companies",
        "has-more",
        limit=5,
        properties=["createdate", "hs_lastmodifieddate"],
    )
    assert {str(c["companyId"]) for c in companies} == set(state.hubspot.objects["companies"])
    first = companies[0]
    assert set(first["properties"]) == {"createdate", "hs_lastmodifieddate"}
    stamp = first["properties"]["hs_lastmodifieddate"]
    assert stamp["value"].isdigit() and isinstance(stamp["timestamp"], int)
    detail = _bearer(server, f"/hubspot/companies/v2/companies/{first['companyId']}")
    stored = state.hubspot.objects["companies"][str(first["companyId"])]["properties"]
    assert detail.json()["properties"]["name"]["value"] == stored["name"]
    deals = _all(
        server,
        "/deals/v1/deal/paged",
        "deals",
        "hasMore",
        limit=7,
        includeAllProperties="true",
        includeAssociations="true",
    )
    assert {str(d["dealId"]) for d in deals} == set(state.hubspot.objects["deals"])
    deal = deals[0]
    stored = state.hubspot.objects["deals"][str(deal["dealId"])]
    assert deal["properties"]["amount"]["value"] == stored["properties"]["amount"]
    linked = state.hubspot.associated("deals", str(deal["dealId"]), "companies")
    assert [str(c) for c in deal["associations"]["associatedCompanyIds"]] == linked
    missing = _bearer(server, "/hubspot/deals/v1/deal/1")
    assert missing.status_code == 404


def test_hubspot_engagements_v1_list_the_portals_notes(server: SandboxServer) -> None:
    deal = next(iter(server.app.state.sandbox.hubspot.objects["deals"]))
    made = requests.post(
        f"{server.url}/hubspot/crm/v3/objects/notes",
        headers=BEARER,
        json={
            "properties": {
                "hs_note_body": "Linked to ANA-1",
                "hs_timestamp": "2025-01-01T00:00:00Z",
            },
            "associations": [
                {
                    "to": {"id": deal},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}],
                }
            ],
        },
        timeout=10,
    )
    assert made.status_code == 201
    paged = _bearer(server, "/hubspot/engagements/v1/engagements/paged").json()
    note = next(r for r in paged["results"] if str(r["engagement"]["id"]) == made.json()["id"])
    assert note["engagement"]["type"] == "NOTE" and note["metadata"]["body"] == "Linked to ANA-1"
    assert [str(d) for d in note["associations"]["dealIds"]] == [deal]
    after = _bearer(server, "/hubspot/engagements/v1/engagements/modified/after", after=0).json()
    assert made.json()["id"] in {str(r["engagement"]["id"]) for r in after["results"]}
    later = _bearer(
        server, "/hubspot/engagements/v1/engagements/modified/after", after=after["after"]
    ).json()
    assert later["results"] == [] and not later["hasMore"]


def test_hubspot_engagements_need_the_notes_scopes() -> None:
    with start_sandbox(seed=7, tenant="minimal") as running:
        refused = requests.get(
            f"{running.url}/hubspot/engagements/v1/engagements/paged", headers=BEARER, timeout=10
        )
    assert refused.status_code == 403 and refused.json()["category"] == "MISSING_SCOPES"


def test_salesforce_takes_a_connectors_own_refresh_token_with_the_client_secret(
    server: SandboxServer,
) -> None:
    url = f"{server.url}/salesforce/services/oauth2/token"
    client = {"client_id": "demo@example.com", "client_secret": "sandbox"}
    own = requests.post(
        url, data={"grant_type": "refresh_token", "refresh_token": "5Aep8own", **client}, timeout=10
    )
    assert own.status_code == 200 and own.json()["token_type"] == "Bearer"
    auth = {"Authorization": f"Bearer {own.json()['access_token']}"}
    limits = requests.get(f"{server.url}/salesforce/services/data/v60.0/limits", headers=auth)
    assert limits.status_code == 200
    empty = requests.post(
        url, data={"grant_type": "refresh_token", "refresh_token": "", **client}, timeout=10
    )
    assert empty.status_code == 400 and empty.json()["error"] == "invalid_grant"
    wrong_secret = requests.post(
        url,
        data={**client, "grant_type": "refresh_token", "refresh_token": "x", "client_secret": "no"},
        timeout=10,
    )
    assert wrong_secret.status_code == 400 and wrong_secret.json()["error"] == "invalid_client"
    assert salesforce_sandbox.REFRESH_TOKEN  # still the one taken without a secret


def test_intercom_scroll_keeps_its_param_and_closes_after_the_empty_page(
    server: SandboxServer,
) -> None:
    """Intercom's scroll returns the same scroll_param on every page; the empty page ends
    the scroll, after which the param is unknown (404), so a client repeating it stops."""
    url = f"{server.url}/intercom/companies/scroll"
    first = requests.get(url, headers=BEARER, timeout=10).json()
    param, seen = first["scroll_param"], [c["id"] for c in first["data"]]
    for _ in range(20):
        body = requests.get(url, headers=BEARER, params={"scroll_param": param}, timeout=10)
        assert body.json()["scroll_param"] == param
        if not body.json()["data"]:
            break
        seen += [c["id"] for c in body.json()["data"]]
    assert sorted(seen) == sorted(server.app.state.sandbox.intercom.companies)
    closed = requests.get(url, headers=BEARER, params={"scroll_param": param}, timeout=10)
    assert closed.status_code == 404 and closed.json()["type"] == "error.list"
