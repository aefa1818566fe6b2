"""What real Zendesk accounts hold beside the tidy seeded world (the `messy` tenant): end
users without an email (phone and social requesters), tickets by email from people in no
organization, null subjects and descriptions, null custom field values, non-ASCII and very
long text, the nulls recorded answers show on users (`details`, `notes`, `alias`, `photo`),
and legacy Jira link rows whose `issue_key` is null.

The extra tickets cite no issue and belong to no organization, so the demand every issue
shows is the seeded world's: they test that odd records flow, not what they count for."""

from datetime import datetime, timedelta
from typing import Any

from sandbox.timefmt import zendesk_time
from sandbox.zendesk_data import ZendeskStore, comment, ticket_record, user_record

FIRST_USER, FIRST_TICKET = 381_700_000_001, 990_001
LONG_PARAGRAPH = (
    "Nous utilisons l'outil chaque matin pour préparer la réunion d'équipe, et depuis la "
    "dernière mise à jour la page met presque une minute à s'afficher. 日本のチームも同じ"
    "問題を報告しています。 Ärger über Wartezeiten, Überstunden für alle. "
)
PEOPLE: tuple[tuple[str, str | None, str | None], ...] = (
    # (name, email, phone): a phone-only end user has no email at all.
    ("Zoë Ångström-Ødegaard", None, "+4520123456"),
    ("李小龍", "xiaolong.li@gmail.com", None),
    ("Jürgen Weiß", "j.weiss@gmx.com", None),
)


def _user(uid: int, name: str, email: str | None, phone: str | None, at: datetime) -> dict:
    return user_record(
        uid,
        name,
        email,
        "end-user",
        at,
        time_zone="Copenhagen",
        iana_time_zone="Europe/Copenhagen",
        phone=phone,
        locale="da",
        locale_id=1000,
        verified=email is not None,
        alias=None,
        details=None,
        notes=None,
    )


def _ticket(tid: int, requester: int, channel: str, at: datetime, **fields: Any) -> dict:
    return ticket_record(tid, requester, channel, at, at, **fields)


def add_messy(store: ZendeskStore, now: datetime) -> None:
    """Add the edge cases to a store built from the world (its records otherwise kept)."""
    for user in store.users.values():
        user.update(details=None, notes=None, alias=None, photo=None)
    at = now - timedelta(days=3)
    ids = [FIRST_USER + i for i in range(len(PEOPLE))]
    for uid, (name, email, phone) in zip(ids, PEOPLE, strict=True):
        store.users[uid] = _user(uid, name, email, phone, at)
    phone_only, by_email, german = ids
    rechnung = "Hallo,\n\ndie Rechnung für März enthält zweimal die Umsatzsteuer. Grüße, Jürgen"
    tickets = [
        # A voice ticket from a requester with no email: no subject, no description.
        _ticket(FIRST_TICKET, phone_only, "voice", at, subject=None, raw_subject=None,
                description=None),
        # By email, from someone in no organization.
        _ticket(FIRST_TICKET + 1, by_email, "email", at + timedelta(hours=1),
                subject="导出报表时出现乱码 😕", raw_subject="导出报表时出现乱码 😕",
                description="您好，导出的 CSV 文件中中文全部变成了问号。谢谢！"),
        _ticket(FIRST_TICKET + 2, german, "email", at + timedelta(hours=2),
                subject="Rechnung März – Frage zur Umsatzsteuer",
                raw_subject="Rechnung März – Frage zur Umsatzsteuer", description=rechnung),
        # Long text: some 30,000 characters in one description.
        _ticket(FIRST_TICKET + 3, phone_only, "web", at + timedelta(hours=3),
                subject="Très lent / とても遅い", raw_subject="Très lent / とても遅い",
                description=LONG_PARAGRAPH * 150),
    ]  # fmt: skip
    for ticket in tickets:
        store.tickets[ticket["id"]] = ticket
        if ticket["description"]:
            created = datetime.fromtimestamp(ticket["generated_timestamp"], now.tzinfo)
            store.comments[ticket["id"]] = [
                comment(store.new_id(), ticket["requester_id"], ticket["description"], True,
                        created, ticket["via"]["channel"])
            ]  # fmt: skip
    # Legacy link rows, older than any other (lower ids), that name no issue key.
    first = min((link["id"] for link in store.jira_links), default=9001)
    linked = [t for t in store.tickets.values() if t.get("status") != "deleted"][:3]
    for n, ticket in enumerate(linked, start=1):
        stamp = zendesk_time(now - timedelta(days=900 + n))
        store.jira_links.append(
            {
                "id": first - 10 * n,
                "ticket_id": ticket["id"],
                "issue_id": str(10_000 + n),
                "issue_key": None,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
