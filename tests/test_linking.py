"""Which issue a piece of feedback asks for, who the customer is, and what the demand adds up to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import records
from records import deal_link, feedback_link

from connectors.settings import Settings
from linking.accounts import AccountDirectory, read_account_map
from linking.demand import DemandCalculator, excerpt
from linking.references import cited_keys, deal_links, feedback_links, tag_links
from models import Account, Deal, Feedback, ToolLink
from services.links import evidence_words

FREE_MAIL = Settings.model_fields["free_mail_domains"].default
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
KNOWN = {"ANA-12", "ANA-7", "WEB-3"}


# -- cited keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ANA-12 please", ["ANA-12"]),
        ("please do ANA-12", ["ANA-12"]),
        ("as in ANA-12.", ["ANA-12"]),
        ("(ANA-12)", ["ANA-12"]),
        ("[ANA-12], ANA-12; again ANA-12!", ["ANA-12"]),
        ("see ANA-12's comments", ["ANA-12"]),
        ("WEB-3 and then ANA-12", ["WEB-3", "ANA-12"]),
        ("line one\nANA-12\nline three", ["ANA-12"]),
        ("XANA-12 is another project", []),
        ("ANA-123 is another issue", []),
        ("ANA-12a or ANA-12-b", []),
        ("ana-12 in lower case", []),
        ("ANA-99 does not exist", []),
        ("FOO-1 is not a project we read", []),
        ("files in UTF-8, ISO-9001 audit, COVID-19 policy", []),
        ("", []),
    ],
)
def test_cited_keys(text, expected):
    """A key counts only where it stands alone and names an existing issue; UTF-8 and
    COVID-19 have the shape of a key, XANA-12 and ANA-123 contain one."""
    assert cited_keys(text, KNOWN) == expected


def test_cited_keys_of_a_project_named_like_a_standard():
    """If a project really is called ISO, ISO-9001 is an issue when it exists."""
    assert cited_keys("per ISO-9001 and UTF-8", {"ISO-9001"}) == ["ISO-9001"]


# -- accounts --------------------------------------------------------------------------------


def account(source: str, account_id: str, name: str, *domains: str) -> Account:
    return records.account(account_id, source=source, name=name, domains=domains, updated_at=NOW)


def ticket(
    ticket_id: str,
    email: str | None = None,
    org: str | None = None,
    name: str | None = None,
    created: datetime | None = None,
) -> Feedback:
    return records.feedback(
        ticket_id,
        subject=f"Ticket {ticket_id}",
        requester_email=email,
        requester_name=name,
        account_id=org,
        created_at=created,
        updated_at=NOW,
    )


def deal(
    deal_id: str,
    amount: str | None,
    *companies: str,
    won: bool = False,
    lost: bool = False,
    closed_days_ago: int | None = None,
    names: tuple[str, ...] = (),
) -> Deal:
    return records.deal(
        deal_id,
        amount=Decimal(amount) if amount is not None else None,
        stage="closedwon" if won else "closedlost" if lost else "qualifiedtobuy",
        # What HubSpot's connector gives a deal without its stage's probability: the
        # default pipeline's (connectors.hubspot.records), 40% for qualifiedtobuy.
        probability=1.0 if won else 0.0 if lost else 0.4,
        is_closed=won or lost,
        is_won=won,
        close_date=NOW - timedelta(days=closed_days_ago) if closed_days_ago is not None else None,
        account_ids=companies,
        issue_keys=names,
        updated_at=NOW,
    )


@pytest.fixture
def directory() -> AccountDirectory:
    return AccountDirectory(
        [
            account("zendesk", "1", "Acme (support)", "acme.com"),
            account("hubspot", "100", "Acme Inc", "ACME.com", "acme.io"),
            account("hubspot", "200", "Globex", "globex.com"),
            account("zendesk", "2", "Initech", "initech.com"),
            account("hubspot", "300", "Initech LLC", "initech.com"),
            account("zendesk", "3", "No Domain Ltd"),
            account("zendesk", "4", "Gmail Group", "gmail.com"),
        ],
        FREE_MAIL,
    )


def test_the_same_domain_in_zendesk_and_hubspot_is_one_customer(directory):
    """Acme's tickets and Acme's deals must add up on one row, not two."""
    support = directory.for_feedback(ticket("1", "ann@acme.com", org="1"))
    (sales,) = directory.for_deal(deal("9", "10", "100"))

    assert support == sales
    assert support.key == "domain:acme.com"


def test_a_free_mail_requester_without_an_organisation_is_their_own_customer(directory):
    """gmail.com is not a company: two gmail users are two customers, not one."""
    carol = directory.for_feedback(ticket("1", "Carol@Gmail.com", name="Carol"))
    dave = directory.for_feedback(ticket("2", "dave@gmail.com"))

    assert carol.key == "person:carol@gmail.com"
    assert carol.name == "Carol"
    assert dave.key == "person:dave@gmail.com"


def test_a_company_email_without_an_organisation_matches_the_company(directory):
    """The requester's domain is the company's even when support never set the org."""
    assert directory.for_feedback(ticket("1", "bob@acme.io")).key == "domain:acme.com"
    assert directory.for_feedback(ticket("2", "eve@globex.com")).key == "domain:globex.com"


def test_a_company_email_of_an_unknown_company_is_that_domain(directory):
    customer = directory.for_feedback(ticket("1", "zed@umbrella.example"))

    assert (customer.key, customer.name) == ("domain:umbrella.example", "umbrella.example")


def test_the_organisation_wins_over_the_email(directory):
    """A reseller's staff filing for a customer's org count for that org."""
    assert directory.for_feedback(ticket("1", "ann@gmail.com", org="2")).key == "domain:initech.com"


def test_an_organisation_without_a_company_domain_is_keyed_by_its_name(directory):
    """Free-mail domains on an org never merge customers; a domainless org is its name."""
    assert directory.for_feedback(ticket("1", org="3")).key == "name:no domain"
    assert directory.for_feedback(ticket("2", org="4")).key == "name:gmail group"
    assert directory.for_feedback(ticket("3", "x@gmail.com")).key == "person:x@gmail.com"


def test_close_names_join_and_different_names_do_not():
    """ "Northwind Traders Inc" in one tool and "Northwind Traders" in another are one
    customer even without a domain; "Northwind Health" is another."""
    found = AccountDirectory(
        [
            account("zendesk", "1", "Northwind Traders Inc"),
            account("salesforce", "0015", "Northwind Traders"),
            account("intercom", "9", "Northwind Health"),
        ],
        FREE_MAIL,
    )
    assert found.by_record[("zendesk", "1")] == found.by_record[("salesforce", "0015")]
    assert found.by_record[("intercom", "9")] != found.by_record[("zendesk", "1")]


def test_names_that_differ_in_a_number_are_two_customers():
    """ "Orion Logistics 2" and "Orion Logistics 3" score 94 on token-sort ratio, yet they
    are two companies; "Orion Logistics 2 Ltd" is the first of them."""
    found = AccountDirectory(
        [
            account("zendesk", "1", "Orion Logistics 2"),
            account("hubspot", "2", "Orion Logistics 3"),
            account("salesforce", "3", "Orion Logistics 2 Ltd"),
        ],
        FREE_MAIL,
    )
    assert found.by_record[("zendesk", "1")] != found.by_record[("hubspot", "2")]
    assert found.by_record[("zendesk", "1")] == found.by_record[("salesforce", "3")]


def test_a_crm_id_kept_in_a_support_tool_joins_the_two():
    """A Zendesk org whose external id is the Salesforce account id is that account."""
    org = account("zendesk", "1", "Blue Ocean").model_copy(update={"external_ids": ("0017",)})
    found = AccountDirectory([org, account("salesforce", "0017", "BlueOcean Shipping")], FREE_MAIL)
    assert found.by_record[("zendesk", "1")] == found.by_record[("salesforce", "0017")]


def test_the_manual_mapping_wins(tmp_path):
    """An admin's mapping file joins accounts no signal could, and names the customer."""
    mapping = tmp_path / "accounts.csv"
    mapping.write_text("source,id,account\nzendesk,1,umbrella.com\nhubspot,7,umbrella.com\n")
    found = AccountDirectory(
        [account("zendesk", "1", "Umbrella EMEA"), account("hubspot", "7", "Umbrella Corp US")],
        FREE_MAIL,
        read_account_map(mapping),
    )
    assert found.by_record[("zendesk", "1")].key == "domain:umbrella.com"
    assert found.by_record[("hubspot", "7")].key == "domain:umbrella.com"


def test_a_malformed_mapping_file_names_the_line(tmp_path):
    mapping = tmp_path / "accounts.csv"
    mapping.write_text("zendesk,1\n")
    with pytest.raises(ValueError, match="accounts.csv:1"):
        read_account_map(mapping)


def test_a_requester_with_no_email_and_no_org_is_still_someone(directory):
    assert directory.for_feedback(ticket("9")).key == "zendesk:requester:9"


def test_a_deal_with_two_companies_of_one_customer_counts_that_customer_once(directory):
    assert [c.key for c in directory.for_deal(deal("9", "10", "100", "300", "100", "404"))] == [
        "domain:acme.com",
        "domain:initech.com",
    ]


# -- demand ----------------------------------------------------------------------------------


@pytest.fixture
def world(directory):
    """Four requests for ANA-12 from three customers, and the deals around them."""
    tickets = [
        ticket("t1", "ann@acme.com", org="1", created=NOW - timedelta(days=3)),  # Acme
        ticket("t2", "bob@acme.com", created=NOW - timedelta(days=1)),  # Acme, no org
        ticket("t3", "carol@gmail.com", name="Carol", created=NOW - timedelta(days=2)),  # Carol
        ticket("t4", "ian@initech.com", org="2", created=NOW - timedelta(days=4)),  # Initech
        ticket("t5", "gil@globex.com"),  # Globex, but asks for another issue
    ]
    deals = [
        deal("d1", "50000", "100", won=True, closed_days_ago=30),  # Acme revenue
        deal("d2", "70000", "100", won=True, closed_days_ago=400),  # too old
        deal("d3", "20000", "100"),  # Acme open
        deal("d4", "40000", "200", names=("ANA-12",)),  # Globex open, names the issue
        deal("d5", "10000", "100", names=("ANA-12",)),  # Acme open AND names it
        deal("d6", "99000", "200", won=True, closed_days_ago=10, names=("ANA-12",)),  # not ours
        deal("d7", "5000", "100", lost=True, closed_days_ago=5),  # lost
        deal("d8", "30000", "100", "300", won=True, closed_days_ago=365),  # Acme + Initech
        deal("d9", None, "100"),  # open, amount unknown
        deal("d10", "8000", "200"),  # Globex open, not naming the issue
    ]
    links = [
        feedback_link("t1", "ANA-12"),
        feedback_link("t1", "ANA-12"),  # cited twice: one request
        feedback_link("t2", "ANA-12"),
        feedback_link("t3", "ANA-12"),
        feedback_link("t4", "ANA-12"),
        feedback_link("t5", "ANA-7"),
        deal_link("d4", "ANA-12"),
        deal_link("d5", "ANA-12"),
        deal_link("d6", "ANA-12"),
        feedback_link("gone", "ANA-12"),  # a ticket no longer in the store
    ]
    calculator = DemandCalculator(tickets, deals, directory, now=NOW, revenue_window_days=365)
    return calculator, [link for link in links if link.issue_key == "ANA-12"]


def test_demand_adds_up_each_request_customer_and_deal_once(world):
    """The numbers on the Jira ticket, computed by hand:

    requests 4 (t1..t4; t1 cited twice counts once, a vanished ticket not at all);
    customers 3 (Acme from t1+t2, Carol, Initech);
    revenue 80,000 = d1 50,000 + d8 30,000 (d8 closed 365 days ago is still in the
      window and belongs to Acme and Initech but counts once; d2 is too old; d6 is won
      by Globex, who did not ask);
    open pipeline 70,000 = Acme's open d3 20,000 + d5 10,000 + d9 (no amount) 0, plus
      Globex's d4 40,000 that names the issue; d5 both Acme's and naming counts once;
      d10 is Globex's but neither names the issue nor belongs to a requester.
    """
    calculator, links = world

    summary = calculator.summary("ANA-12", links)

    assert summary.requests == 4
    assert summary.customers == 3
    assert summary.revenue == Decimal("80000")
    assert summary.open_pipeline == Decimal("70000")
    assert summary.deal_ids == sorted(f"hubspot:{d}" for d in ("d1", "d8", "d3", "d5", "d9", "d4"))
    # Open deals sit in qualifiedtobuy, which HubSpot's default pipeline weighs at 40%.
    assert summary.weighted_pipeline == Decimal("28000")
    assert summary.headline == (
        "4 requests from 3 customers, $80k revenue, $70k open pipeline ($28k weighted)"
    )


def test_top_customers_show_each_customers_share(world):
    """Per customer a shared deal counts for each owner; the rows sort by revenue."""
    calculator, links = world

    summary = calculator.summary("ANA-12", links)

    assert [(c.account, c.requests, c.revenue, c.open_pipeline) for c in summary.top_customers] == [
        ("domain:acme.com", 2, Decimal("80000"), Decimal("30000")),
        ("domain:initech.com", 1, Decimal("30000"), Decimal("0")),
        ("person:carol@gmail.com", 1, Decimal("0"), Decimal("0")),
    ]


def test_feedback_refs_list_the_newest_requests_first(world):
    calculator, links = world

    summary = calculator.summary("ANA-12", links)

    assert [ref.record_id for ref in summary.feedback] == ["t2", "t3", "t1", "t4"]


@pytest.mark.parametrize(
    ("closed_days_ago", "counts"),
    [(0, True), (364, True), (365, True), (366, False)],
)
def test_the_revenue_window_includes_its_first_day(directory, closed_days_ago, counts):
    calculator = DemandCalculator(
        [ticket("t1", "ann@acme.com")],
        [deal("d1", "1000", "100", won=True, closed_days_ago=closed_days_ago)],
        directory,
        now=NOW,
        revenue_window_days=365,
    )

    summary = calculator.summary("ANA-12", [feedback_link("t1", "ANA-12")])

    assert summary.revenue == (Decimal("1000") if counts else Decimal("0"))


def test_an_issue_nobody_asked_for_has_no_demand_but_its_named_open_deals(world):
    """A deal that names the issue is pipeline even before any ticket asks for it."""
    calculator, _ = world

    summary = calculator.summary("ANA-12", [deal_link("d4", "ANA-12"), deal_link("d6", "ANA-12")])

    assert (summary.requests, summary.customers, summary.revenue, summary.open_pipeline) == (
        0,
        0,
        Decimal(0),
        Decimal("40000"),
    )


def test_a_mapped_tag_links_to_the_one_issue_with_that_label():
    """A tag naming an area with one open issue is a link; with several, suggestions only
    (they count nowhere until a person confirms one)."""
    item = ticket("1").model_copy(update={"tags": ("PDF-Export", "urgent")})
    targets = {"pdf-export": {"reporting"}}
    [link] = tag_links(item, targets, {"reporting": {"ANA-3"}})
    assert (link.issue_key, link.method, link.status) == ("ANA-3", "tag", "auto")
    both = tag_links(item, targets, {"reporting": {"ANA-3", "ANA-9"}})
    assert [(link.issue_key, link.status) for link in both] == [
        ("ANA-3", "suggested"),
        ("ANA-9", "suggested"),
    ]
    assert not any(link.counts for link in both)
    assert tag_links(item, {}, {"reporting": {"ANA-3"}}) == []


def test_a_quote_starts_where_the_request_names_the_issue():
    """A long ticket that names the issue late is quoted from that sentence, not cut off
    before it."""
    text = "Hi team, " + "we run weekly reports for finance. " * 6 + "Please ship ANA-11 soon."
    assert excerpt(text, focus="ANA-11") == "…Please ship ANA-11 soon."
    assert excerpt("Hello, short request", focus="ANA-11") == "short request"


def remote(link_id: str, source: str, record_id: str, key: str) -> ToolLink:
    """A Jira remote link on issue `key` pointing at a record of `source`."""
    return records.tool_link(
        link_id,
        record_id,
        key,
        source="jira",
        url=f"https://jira.example/rest/api/3/issue/{key}/remotelink/{link_id}",
        record_source=source,
        updated_at=NOW,
    )


def test_a_remote_link_on_an_issue_links_the_ticket_or_deal_it_points_at():
    """A tool's Jira app may keep its link on the Jira side: the ticket or deal the remote
    link points at asks for that issue, as explicitly as a cited key; a remote link to an
    issue that does not exist links nothing."""
    item = ticket("7")
    words = evidence_words()  # the registry's: linking names no tool
    links = feedback_links(item, [remote("501", "zendesk", "7", "ANA-12")], {"ANA-12"}, words=words)
    assert [(k.issue_key, k.method, k.evidence) for k in links] == [
        ("ANA-12", "tool_link", "Jira remote link 501")
    ]
    sale = deal("d1", "100", "c1", names=("ANA-3",))
    found = deal_links(
        sale,
        {"ANA-3", "ANA-12"},
        [remote("502", "hubspot", "d1", "ANA-12"), remote("503", "hubspot", "d1", "ANA-99")],
        words=words,
    )
    assert {(k.issue_key, k.method, k.kind) for k in found} == {
        ("ANA-3", "deal_field", "deal"),
        ("ANA-12", "tool_link", "deal"),
    }
    assert remote("502", "hubspot", "d1", "ANA-12").target == ("hubspot", "d1")
