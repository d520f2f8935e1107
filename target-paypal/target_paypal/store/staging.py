"""Staging: the Cliniko records the target receives, kept until their invoices are applied.

Staging a record marks dirty every invoice it may change in PayPal (its own, those of a
customer or owner it changes); the applier reads dirty invoices back with `invoice_inputs`.
Records a rule leaves out on purpose are kept as skips, not as dead letters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_paypal.store.dead_letters import supersede_rejects
from target_paypal.store.email_key import EmailKey
from target_paypal.store.inputs import InvoiceInputs, read_inputs
from target_paypal.store.kept import is_kept, same_content
from target_paypal.store.parking import Letter, park_letters
from target_paypal.store.reversals import reversal_ids
from target_paypal.store.runs import OUTCOME_KEY, outcome_row
from target_paypal.store.schema import (
    appointments,
    customers,
    invoice_lines,
    invoices,
    outcomes,
    owners,
    practitioners,
    skipped,
)
from target_paypal.store.sql import (
    IDS_PER_STATEMENT,
    id_batches,
    upsert_by_key,
    upsert_row,
    upsert_rows,
    utc_now,
)

__all__ = ["InvoiceInputs", "LeftOut", "Staging"]


@dataclass(frozen=True)
class LeftOut:
    """A record the mapper left out: skipped by a rule, or parked.

    Parked, `parked_as` is its letter's stream ("rejects:<Cliniko stream>") and `record` the
    reject, kept with the letter.
    """

    stream: str  # the target stream it belongs to ("customers", "invoices", ...)
    record_id: str
    reason: str
    parked_as: str | None = None
    record: dict[str, Any] | None = None

    @property
    def outcome(self) -> str:
        """Its outcome in the run."""
        return "skipped" if self.parked_as is None else "parked"


class Staging(EmailKey):
    """The store's part that stages records, tracks dirty invoices, and reads them back.

    Each batch of records is staged with a few statements: their rows as stored read in one
    SELECT per batch of ids, the new or changed ones upserted in one executemany, the invoices
    they make dirty marked in one UPDATE per batch of ids.
    """

    def stage_customers(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert customers, marking dirty the invoices whose recipient may change.

        Invoices become dirty for a customer that is new or changed, for every customer merged
        into it, and for every customer sharing its old or new email (the shared-email rule may
        now apply). A customer cut down to its IDs (`kept`) that comes again unchanged stays cut
        down.
        """
        records = _last_per_key(records, "customer_id")
        hashes = {r["customer_id"]: self.hash_email(r.get("email")) for r in records}
        with self.begin() as conn:
            ids = [r["customer_id"] for r in records]
            supersede_rejects(conn, "customers", "patients", ids)
            old: dict[str, tuple[dict, str | None]] = {}
            for batch in id_batches(ids):
                query = sa.select(
                    customers.c.customer_id, customers.c.record, customers.c.email_hash
                ).where(customers.c.customer_id.in_(batch))
                old.update((cid, (record, email)) for cid, record, email in conn.execute(query))
            changed = [
                r for r in records if not same_content(old.get(r["customer_id"], (None,))[0], r)
            ]
            now = utc_now()
            rows = [
                {
                    "customer_id": r["customer_id"],
                    "email_hash": hashes[r["customer_id"]],
                    "record": r,
                    "staged_at": now,
                    "recipient_in": None,
                    "stripped_at": None,
                    "merged_into": r.get("merged_into"),
                }
                for r in changed
            ]
            upsert_rows(conn, customers, ("customer_id",), rows)
            changed_ids = [r["customer_id"] for r in changed]
            emails = {old.get(cid, (None, None))[1] for cid in changed_ids}
            emails |= {hashes[cid] for cid in changed_ids}
            for batch in id_batches(changed_ids):
                _mark_dirty(conn, invoices.c.customer_id.in_(batch))
                merged = sa.select(customers.c.customer_id).where(
                    customers.c.merged_into.in_(batch)
                )
                _mark_dirty(conn, invoices.c.customer_id.in_(merged))  # theirs follow this one
            for batch in id_batches(sorted(e for e in emails if e)):
                sharing = sa.select(customers.c.customer_id).where(
                    customers.c.email_hash.in_(batch)
                )
                _mark_dirty(conn, invoices.c.customer_id.in_(sharing))

    def stage_invoices(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert invoice headers, each marked dirty (one cut down and unchanged is left be)."""
        records = _last_per_key(records, "invoice_id")
        with self.begin() as conn:
            ids = [r["invoice_id"] for r in records]
            supersede_rejects(conn, "invoices", "invoices", ids)
            old = _kept_records(conn, invoices.c.invoice_id, invoices.c.record, ids)
            now = utc_now()
            rows = [
                {
                    "invoice_id": r["invoice_id"],
                    "customer_id": r["customer_id"],
                    "practitioner_id": r.get("practitioner_id"),
                    "appointment_id": r.get("appointment_id"),
                    "record": r,
                    "dirty": True,
                    "staged_at": now,
                    "stripped_at": None,
                }
                for r in records
                if not same_content(old.get(r["invoice_id"]), r)
            ]
            upsert_rows(conn, invoices, ("invoice_id",), rows)

    def stage_lines(self, records: list[dict[str, Any]]) -> None:
        """Upsert invoice lines, marking their invoices dirty (unless cut down and unchanged)."""
        records = _last_per_key(records, "line_id")
        with self.begin() as conn:
            not_lines = reversal_ids(conn, (r["invoice_id"] for r in records))
            records = [r for r in records if r["invoice_id"] not in not_lines]
            line_ids = [r["line_id"] for r in records]
            supersede_rejects(conn, "invoice_lines", "invoice_items", line_ids)
            old = _kept_records(conn, invoice_lines.c.line_id, invoice_lines.c.record, line_ids)
            changed = [r for r in records if not same_content(old.get(r["line_id"]), r)]
            rows = [
                {"line_id": r["line_id"], "invoice_id": r["invoice_id"], "record": r}
                for r in changed
            ]
            upsert_rows(conn, invoice_lines, ("line_id",), rows)
            touched = sorted({r["invoice_id"] for r in changed})
            for batch in id_batches(touched):
                conn.execute(
                    invoices.update()
                    .where(invoices.c.invoice_id.in_(batch))
                    .values(dirty=True, stripped_at=None)
                )

    def stage_practitioners(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert practitioners (user link, name); invoices whose owner or name changes: dirty."""
        named = ("user_id", "display_name")
        self._stage_reference(practitioners, "practitioner_id", named, records)

    def stage_appointments(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert appointments' dates; invoices for one new or changed become dirty.

        New too: an invoice applied before its appointment arrived showed no date of service.
        """
        records = _last_per_key(records, "appointment_id")
        with self.begin() as conn:
            ids = [r["appointment_id"] for r in records]
            old: dict[str, str | None] = {}
            for batch in id_batches(ids):
                query = sa.select(appointments.c.appointment_id, appointments.c.service_date)
                rows = conn.execute(query.where(appointments.c.appointment_id.in_(batch)))
                old.update((key, day) for key, day in rows)
            changed = [
                {"appointment_id": r["appointment_id"], "service_date": r.get("service_date")}
                for r in records
                if r["appointment_id"] not in old
                or old[r["appointment_id"]] != r.get("service_date")
            ]
            upsert_rows(conn, appointments, ("appointment_id",), changed)
            for batch in id_batches([r["appointment_id"] for r in changed]):
                _mark_dirty(conn, invoices.c.appointment_id.in_(batch))

    def stage_owners(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert user -> owner names; invoices whose owner that changes become dirty."""
        self._stage_reference(owners, "user_id", ("owner",), records)

    def _stage_reference(
        self, table: sa.Table, key: str, values: tuple[str, ...], records: Iterable[dict[str, Any]]
    ) -> None:
        """Upsert a practitioner or owner; the invoices whose memo it changes become dirty."""
        with self.begin() as conn:
            for record in records:
                old = conn.execute(
                    sa.select(*(table.c[v] for v in values)).where(table.c[key] == record[key])
                ).one_or_none()
                new = tuple(record.get(v) for v in values)
                row = {key: record[key], **dict(zip(values, new, strict=True))}
                upsert_by_key(conn, table, key, row)
                if old is not None and tuple(old) != new:
                    practitioner_ids = (
                        [record[key]]
                        if table is practitioners
                        else sa.select(practitioners.c.practitioner_id).where(
                            practitioners.c.user_id == record[key]
                        )
                    )
                    conn.execute(
                        invoices.update()
                        .where(invoices.c.practitioner_id.in_(practitioner_ids))
                        .values(dirty=True)
                    )

    def stage_left_out(self, run_id: int | None, records: Sequence[LeftOut]) -> None:
        """Keep what the mapper left out (its rejects), in one transaction for the batch.

        A rule's skip is kept as such (`skip`), a parked record as an open letter with the
        reject; either way its outcome in the run is noted (`RunHistory.note_outcome`).
        """
        with self.begin() as conn:
            now = utc_now()
            skips = [
                {"stream": r.stream, "record_id": r.record_id, "reason": r.reason[:500], "at": now}
                for r in records
                if r.parked_as is None
            ]
            upsert_rows(conn, skipped, ("stream", "record_id"), skips)
            letters: dict[str, list[Letter]] = {}
            for r in records:
                if r.parked_as is not None:
                    letters.setdefault(r.parked_as, []).append(
                        Letter(r.record_id, r.reason, r.record)
                    )
            for stream, parked in letters.items():
                park_letters(conn, stream, parked)
            if run_id is not None:
                noted = [
                    outcome_row(run_id, r.stream, r.record_id, r.outcome, r.reason) for r in records
                ]
                upsert_rows(conn, outcomes, OUTCOME_KEY, noted)

    def skip(self, stream: str, record_id: str, reason: str) -> None:
        """Keep a record a rule leaves out on purpose (not an error: nothing to replay)."""
        with self.begin() as conn:
            upsert_row(
                conn,
                skipped,
                {"stream": stream, "record_id": record_id},
                {"reason": reason[:500], "at": utc_now()},
            )

    def skipped_ids(self, stream: str) -> set[str]:
        """Return the records a rule skipped: left out by the mapper, or last outcome skipped."""
        with self.begin() as conn:
            rules = set(
                conn.execute(sa.select(skipped.c.record_id).where(skipped.c.stream == stream))
                .scalars()
                .all()
            )
            latest: dict[str, str] = {}
            rows = conn.execute(
                sa.select(outcomes.c.record_id, outcomes.c.outcome)
                .where(outcomes.c.stream == stream)
                .order_by(outcomes.c.run_id)
            )
            for record_id, outcome in rows:
                latest[record_id] = outcome
        return rules | {r for r, outcome in latest.items() if outcome == "skipped"}

    def dirty_invoice_ids(self, among: Sequence[str] | None = None) -> list[str]:
        """Return the ids of the invoices to compose and apply, in id order.

        `among`: only these (a batch of ids per statement), not every dirty invoice.
        """
        query = sa.select(invoices.c.invoice_id).where(invoices.c.dirty.is_(True))
        if among is None:
            with self.begin() as conn:
                return list(conn.execute(query.order_by(invoices.c.invoice_id)).scalars())
        found: list[str] = []
        ids = list(among)
        with self.begin() as conn:
            for start in range(0, len(ids), IDS_PER_STATEMENT):
                chunk = ids[start : start + IDS_PER_STATEMENT]
                found += conn.execute(query.where(invoices.c.invoice_id.in_(chunk))).scalars()
        return sorted(found)

    def dirty_invoice_page(self, after: str, size: int) -> list[str]:
        """The next `size` ids of dirty invoices after `after`, in id order.

        A page at a time: a run's applier never holds every id at once.
        """
        with self.begin() as conn:
            query = sa.select(invoices.c.invoice_id).where(
                invoices.c.dirty.is_(True), invoices.c.invoice_id > after
            )
            return list(conn.execute(query.order_by(invoices.c.invoice_id).limit(size)).scalars())

    def count_dirty(self) -> int:
        """How many invoices are dirty (to apply)."""
        with self.begin() as conn:
            query = sa.select(sa.func.count()).where(invoices.c.dirty.is_(True))
            return int(conn.execute(query.select_from(invoices)).scalar_one())

    def mark_dirty(self, invoice_ids: Iterable[str]) -> None:
        """Mark invoices to be applied again (one statement per batch of ids)."""
        ids = list(invoice_ids)
        with self.begin() as conn:
            for start in range(0, len(ids), IDS_PER_STATEMENT):
                chunk = ids[start : start + IDS_PER_STATEMENT]
                conn.execute(
                    invoices.update().where(invoices.c.invoice_id.in_(chunk)).values(dirty=True)
                )

    def invoice_inputs(self, invoice_id: str) -> InvoiceInputs:
        """Read everything applying one invoice needs, in one transaction."""
        return self.invoice_inputs_many([invoice_id])[invoice_id]

    def invoice_inputs_many(self, invoice_ids: Sequence[str]) -> dict[str, InvoiceInputs]:
        """Read everything applying these invoices needs, in one transaction (`inputs`).

        A few statements per batch of ids: one by one, each invoice took six statements in a
        transaction of its own.
        """
        with self.begin() as conn:
            return read_inputs(conn, invoice_ids)


def _last_per_key(records: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The records of a batch, the last one of each key only (staged one by one, it won)."""
    return list({r[key]: r for r in records}.values())


def _kept_records(
    conn: Connection, key: sa.Column, record: sa.Column, ids: Sequence[str]
) -> dict[str, dict]:
    """The records of these ids cut down to their IDs (`kept`), by id: one SELECT a batch."""
    found: dict[str, dict] = {}
    for batch in id_batches(ids):
        rows = conn.execute(sa.select(key, record).where(key.in_(batch)))
        found.update((record_id, old) for record_id, old in rows if is_kept(old))
    return found


def _mark_dirty(conn: Connection, which: sa.ColumnElement[bool]) -> None:
    conn.execute(invoices.update().where(which).values(dirty=True))
