"""Single-record reads: what a webhook named, read back from the tool's own API.

A webhook is only a hint. Whatever its body says, the record pmsync keeps is the one the
tool serves now, built by the same `*_from_raw` builders as a pull, through the same
`ApiClient` (time-outs, retries, redaction). `None` means the tool says the record is
gone: a 404, or the tool's own deleted mark (Zendesk's `deleted` status, Freshdesk's
trash and spam, HubSpot's `archived`, Salesforce's recycle bin).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import quote

from connectors.freshdesk import client as freshdesk
from connectors.http import ApiError
from connectors.hubspot import client as hubspot
from connectors.hubspot.features import company_currency
from connectors.intercom import client as intercom
from connectors.jira import client as jira
from connectors.salesforce import client as salesforce
from connectors.zendesk import client as zendesk
from models import Record, Settings, ToolLink

# (tool, kind as webhooks name it) -> the kind the store keeps it as.
KINDS: dict[tuple[str, str], str] = {
    ("jira", "issue"): "issue",
    ("zendesk", "ticket"): "feedback",
    ("zendesk", "organization"): "account",
    ("intercom", "conversation"): "feedback",
    ("intercom", "company"): "account",
    ("freshdesk", "ticket"): "feedback",
    ("freshdesk", "company"): "account",
    ("hubspot", "deal"): "deal",
    ("hubspot", "company"): "account",
    ("salesforce", "opportunity"): "deal",
    ("salesforce", "account"): "account",
}


class InvalidRecord(ValueError):
    """The tool served the record, but it does not validate: it belongs in the dead letters."""

    def __init__(self, raw: Any, build: Callable[[Any], Record], error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.raw = raw
        self.build = build  # to file it the way a pull does (connectors.base.convert)
        self.error = error


def _path_id(record_id: str) -> str:
    return quote(str(record_id), safe="")


class Lookup:
    """One connector per tool, made on first use and kept: a run that re-reads many records
    of one tool pays for its session (and Salesforce's token) once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connectors: dict[str, Any] = {}

    def _connector(self, tool: str) -> Any:
        if tool not in self._connectors:
            made: dict[str, Callable[[Settings], Any]] = {
                "jira": jira.JiraConnector,
                "zendesk": zendesk.ZendeskConnector,
                "intercom": intercom.IntercomConnector,
                "freshdesk": freshdesk.FreshdeskConnector,
                "hubspot": hubspot.HubSpotConnector,
                "salesforce": salesforce.SalesforceConnector,
            }
            self._connectors[tool] = made[tool](self.settings)
        return self._connectors[tool]

    def fetch(self, tool: str, kind: str, record_id: str) -> Record | None:
        """The record as the tool serves it now, or None when the tool says it is gone.
        Raises InvalidRecord when the tool serves something that does not validate."""
        if (tool, kind) not in KINDS:
            raise ValueError(f"no single-record read for {tool} {kind}")
        read = getattr(self, f"_{tool}_{kind}")
        try:
            found: tuple[Any, Callable[[Any], Record]] | None = read(
                self._connector(tool), record_id
            )
        except ApiError as error:
            if error.status in (404, 410):
                return None
            raise
        if found is None:
            return None
        raw, build = found
        try:
            return build(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidRecord(raw, build, error) from None

    # -- Jira --------------------------------------------------------------------------------

    def _jira_issue(self, connector: jira.JiraConnector, issue_id: str) -> Any:
        raw = connector.api.get_json(
            f"/rest/api/3/issue/{_path_id(issue_id)}", params={"fields": ",".join(jira.FIELDS)}
        )
        project = raw.get("key", "").split("-")[0]
        if project not in self.settings.jira_projects:
            return None  # moved out of the projects pmsync follows
        return raw, partial(jira.issue_from_raw, site=connector.site)

    # -- support tools ---------------------------------------------------------------------

    def _zendesk_ticket(self, connector: zendesk.ZendeskConnector, ticket_id: str) -> Any:
        body = connector.api.get_json(
            f"/api/v2/tickets/{_path_id(ticket_id)}.json", params={"include": "users"}
        )
        raw = body["ticket"]
        if raw.get("status") == "deleted":
            return None
        users = {user.get("id"): user for user in body.get("users") or ()}
        requester = raw.get("requester_id")
        if requester is not None and requester not in users:
            try:
                user = connector.api.get_json(f"/api/v2/users/{_path_id(requester)}.json")
                users[requester] = user.get("user") or {}
            except ApiError as error:
                if error.status != 404:
                    raise  # a deleted requester leaves the ticket without an email
        return raw, partial(zendesk.ticket_from_raw, site=connector.site, users=users)

    def _zendesk_organization(self, connector: zendesk.ZendeskConnector, org_id: str) -> Any:
        body = connector.api.get_json(f"/api/v2/organizations/{_path_id(org_id)}.json")
        return body["organization"], partial(zendesk.organization_from_raw, site=connector.site)

    def zendesk_links(self, ticket_id: str) -> list[ToolLink] | None:
        """The Jira links Zendesk's Jira app keeps for one ticket (they change without the
        ticket's own fields changing); None when Zendesk refuses the listing (an agent's
        token), which says nothing about which links the ticket has."""
        connector: zendesk.ZendeskConnector = self._connector("zendesk")
        return connector.ticket_links(ticket_id)

    def _intercom_conversation(
        self, connector: intercom.IntercomConnector, conversation_id: str
    ) -> Any:
        raw = connector.api.get_json(f"/conversations/{_path_id(conversation_id)}")
        contacts = connector._contacts_of([raw])
        inbox = connector.inbox()
        return raw, partial(intercom.conversation_from_raw, inbox=inbox, contacts=contacts)

    def _intercom_company(self, connector: intercom.IntercomConnector, company_id: str) -> Any:
        raw = connector.api.get_json(f"/companies/{_path_id(company_id)}")
        return raw, partial(intercom.company_from_raw, pages=connector.company_pages())

    def _freshdesk_ticket(self, connector: freshdesk.FreshdeskConnector, ticket_id: str) -> Any:
        raw = connector.api.get_json(
            f"/api/v2/tickets/{_path_id(ticket_id)}", params={"include": "requester"}
        )
        if raw.get("deleted") or raw.get("spam"):
            return None
        return raw, partial(freshdesk.ticket_from_raw, site=connector.site)

    def _freshdesk_company(self, connector: freshdesk.FreshdeskConnector, company_id: str) -> Any:
        raw = connector.api.get_json(f"/api/v2/companies/{_path_id(company_id)}")
        return raw, partial(freshdesk.company_from_raw, site=connector.site)

    # -- CRMs --------------------------------------------------------------------------------

    def _hubspot_deal(self, connector: hubspot.HubSpotConnector, deal_id: str) -> Any:
        path = f"/crm/v3/objects/deals/{_path_id(deal_id)}"
        raw = connector.api.get_json(path, params={"properties": ",".join(hubspot.DEAL_PROPERTIES)})
        if raw.get("archived"):
            return None
        answer = connector.api.get_json(
            f"/crm/v4/objects/deals/{_path_id(deal_id)}/associations/companies"
        )
        companies = {str(raw["id"]): tuple(str(r["toObjectId"]) for r in answer.get("results", []))}
        if connector.home_currency is None:  # the amount's currency, read once per connector
            connector.home_currency = company_currency(connector.api)
        build = partial(
            hubspot.deal_from_raw,
            site=connector.site,
            companies=companies,
            home_currency=connector.home_currency,
        )
        return raw, build

    def _hubspot_company(self, connector: hubspot.HubSpotConnector, company_id: str) -> Any:
        raw = connector.api.get_json(
            f"/crm/v3/objects/companies/{_path_id(company_id)}",
            params={"properties": ",".join(hubspot.COMPANY_PROPERTIES)},
        )
        if raw.get("archived"):
            return None
        return raw, partial(hubspot.company_from_raw, site=connector.site)

    def _salesforce(
        self, connector: salesforce.SalesforceConnector, sobject: str, sf_id: str
    ) -> Any:
        if not salesforce.RECORD_ID.match(sf_id):
            return None  # not an id Salesforce could have made: nothing to read
        raw = connector.get(f"{salesforce.API}/sobjects/{sobject}/{sf_id}")
        if raw.get("IsDeleted"):
            return None
        return raw

    def _salesforce_opportunity(self, connector: salesforce.SalesforceConnector, sf_id: str) -> Any:
        # Queried as a pull reads it: only fields the org has, the amount converted.
        raw = connector.read_opportunity(sf_id)
        if raw is None:
            return None
        return raw, connector.build_opportunity

    def _salesforce_account(self, connector: salesforce.SalesforceConnector, sf_id: str) -> Any:
        raw = self._salesforce(connector, "Account", sf_id)
        if raw is None:
            return None
        return raw, partial(salesforce.account_from_raw, site=connector.site)


def fetch(settings: Settings, tool: str, kind: str, record_id: str) -> Record | None:
    """One record as its tool serves it now; None when the tool says it is gone."""
    return Lookup(settings).fetch(tool, kind, record_id)
