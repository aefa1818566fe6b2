"""Links between records and issues, what linking last read, and people's decisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from models import Link, RecordKind
from store.base import Repository, by_source, chunks, now, upsert
from store.schema import issue_signatures, link_decisions, links, record_signatures, records


class Links(Repository):
    def replace(
        self,
        owners: Iterable[tuple[str, str]],
        new: Iterable[Link],
        signatures: Mapping[tuple[str, str], str] | None = None,
        *,
        conn: Connection | None = None,
    ) -> set[str]:
        """Make `new` the links of these (source, record_id) owners, in one transaction,
        and `signatures` what linking read of them (`flows.pipeline.record_signature`);
        an owner without one (gone from the store) loses its signature with its links.
        Returns the issues whose links moved."""
        rows = [link.model_dump() for link in new]
        signatures = signatures or {}
        with self._begin(conn) as conn:
            before: set[tuple[Any, ...]] = set()
            for source, ids in by_source(owners):
                owned = (links.c.source == source) & links.c.record_id.in_(ids)
                before.update(tuple(row) for row in conn.execute(select(links).where(owned)))
                conn.execute(delete(links).where(owned))
                unsigned = [i for i in ids if (source, i) not in signatures]
                if unsigned:
                    c = record_signatures.c
                    gone = (c.source == source) & c.record_id.in_(unsigned)
                    conn.execute(delete(record_signatures).where(gone))
            if rows:
                conn.execute(links.insert(), rows)
            upsert(
                conn,
                record_signatures,
                ["source", "record_id"],
                [
                    {"source": source, "record_id": record_id, "signature": signature}
                    for (source, record_id), signature in sorted(signatures.items())
                ],
            )
        after = {tuple(row[c.name] for c in links.columns) for row in rows}
        key = list(links.columns).index(links.c.issue_key)
        return {row[key] for row in before ^ after}

    def drop_orphans(self, *, conn: Connection | None = None) -> set[str]:
        """Drop the links (and signatures) of records no longer stored; returns the issues
        they pointed at. What a relink of every record, which replaces links a chunk of
        records at a time (each chunk its own transaction, so a webhook's write waits for a
        chunk, not the whole relink), does last."""
        stored = (
            select(records.c.record_id)
            .where(
                records.c.kind == links.c.kind,
                records.c.source == links.c.source,
                records.c.record_id == links.c.record_id,
            )
            .exists()
        )
        signed = (
            select(records.c.record_id)
            .where(
                records.c.source == record_signatures.c.source,
                # The kinds named, so each row is found through the primary key, not by
                # scanning its source's records.
                records.c.kind.in_((RecordKind.FEEDBACK, RecordKind.DEAL)),
                records.c.record_id == record_signatures.c.record_id,
            )
            .exists()
        )
        with self._begin(conn) as conn:
            orphans = select(links.c.issue_key).where(~stored).distinct()
            keys = set(conn.execute(orphans).scalars())
            conn.execute(delete(links).where(~stored))
            conn.execute(delete(record_signatures).where(~signed))
        return keys

    def all(self, issue_key: str | None = None, *, suggested: bool | None = None) -> list[Link]:
        """Links, optionally of one issue; `suggested` True/False keeps only/no suggestions."""
        query = select(links).order_by(links.c.issue_key, links.c.source, links.c.record_id)
        if issue_key:
            query = query.where(links.c.issue_key == issue_key)
        if suggested is not None:
            query = query.where((links.c.status == "suggested") == suggested)
        with self.engine.connect() as conn:
            return [Link.model_validate(row._asdict()) for row in conn.execute(query)]

    def of_issues(self, issue_keys: Iterable[str], *, suggested: bool | None = None) -> list[Link]:
        """The links to any of these issues, one issue's in the order `all` gives them
        (a summary's ties, two requests of one minute, keep it); `suggested` as in `all`."""
        found: list[Link] = []
        with self.engine.connect() as conn:
            for chunk in chunks(sorted(set(issue_keys))):
                query = (
                    select(links)
                    .where(links.c.issue_key.in_(chunk))
                    .order_by(links.c.issue_key, links.c.source, links.c.record_id)
                )
                if suggested is not None:
                    query = query.where((links.c.status == "suggested") == suggested)
                found += [Link.model_validate(row._asdict()) for row in conn.execute(query)]
        return found

    def of_owners(self, owners: Iterable[tuple[str, str]]) -> list[Link]:
        """Every link of these (source, record_id) feedback items and deals."""
        found: list[Link] = []
        with self.engine.connect() as conn:
            for source, ids in by_source(owners):
                owned = (links.c.source == source) & links.c.record_id.in_(ids)
                rows = conn.execute(select(links).where(owned))
                found += [Link.model_validate(row._asdict()) for row in rows]
        return found

    def linked_issue_keys(self) -> set[str]:
        """The issues with links that count in demand."""
        query = select(links.c.issue_key).where(links.c.status != "suggested").distinct()
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def count(self) -> int:
        """The links that count in demand (suggestions do not)."""
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(links).where(links.c.status != "suggested")
            return int(conn.execute(query).scalar_one())

    def requesters(self) -> list[tuple[str, str, str, str | None, str | None, str | None]]:
        """(issue_key, source, record_id, account_id, requester_email, requester_name) of
        every feedback link that counts: who asked for what, read from the payloads without
        loading the items."""
        payload = records.c.payload
        query = select(
            links.c.issue_key,
            links.c.source,
            links.c.record_id,
            payload["account_id"].as_string(),
            payload["requester_email"].as_string(),
            payload["requester_name"].as_string(),
        ).join_from(
            links,
            records,
            (records.c.kind == RecordKind.FEEDBACK)
            & (records.c.source == links.c.source)
            & (records.c.record_id == links.c.record_id),
        )
        query = query.where(links.c.kind == RecordKind.FEEDBACK, links.c.status != "suggested")
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(query)]

    # -- what linking last read ---------------------------------------------------------------

    def record_signatures(self, owners: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """What linking last read of these (source, record_id) feedback items and deals."""
        found = {}
        c = record_signatures.c
        with self.engine.connect() as conn:
            for source, ids in by_source(owners):
                query = select(c.record_id, c.signature).where(
                    c.source == source, c.record_id.in_(ids)
                )
                found.update({(source, rid): sig for rid, sig in conn.execute(query)})
        return found

    def issue_signatures(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {row.issue_key: row.signature for row in conn.execute(select(issue_signatures))}

    def save_issue_signatures(self, signatures: dict[str, str]) -> None:
        """Replace what linking last saw of the issues. Only the rows that differ are
        written: a sync sees a few issues change among thousands."""
        with self.engine.begin() as conn:
            before = {
                row.issue_key: row.signature for row in conn.execute(select(issue_signatures))
            }
            for chunk in chunks(sorted(set(before) - set(signatures))):
                conn.execute(
                    delete(issue_signatures).where(issue_signatures.c.issue_key.in_(chunk))
                )
            rows = [
                {"issue_key": key, "signature": value}
                for key, value in sorted(signatures.items())
                if before.get(key) != value
            ]
            upsert(conn, issue_signatures, ["issue_key"], rows)

    # -- people's decisions -------------------------------------------------------------------

    def decide(self, source: str, record_id: str, issue_key: str, decision: str) -> None:
        """Record a person's confirm or reject (or a proposal's suggestion); a later decision
        on the pair replaces it."""
        assert decision in ("confirmed", "rejected", "suggested")
        row = {
            "source": source,
            "record_id": record_id,
            "issue_key": issue_key,
            "decision": decision,
            "decided_at": now(),
        }
        with self.engine.begin() as conn:
            upsert(conn, link_decisions, ["source", "record_id", "issue_key"], [row])

    def decided_since(self, since: datetime | None) -> set[tuple[str, str]]:
        """The records a person confirmed or rejected a link of since `since` (all: None)."""
        query = select(link_decisions.c.source, link_decisions.c.record_id)
        if since is not None:
            query = query.where(link_decisions.c.decided_at >= since)
        with self.engine.connect() as conn:
            return {(row.source, row.record_id) for row in conn.execute(query)}

    def decisions(self) -> dict[tuple[str, str, str], str]:
        with self.engine.connect() as conn:
            return {
                (row.source, row.record_id, row.issue_key): row.decision
                for row in conn.execute(select(link_decisions))
            }
