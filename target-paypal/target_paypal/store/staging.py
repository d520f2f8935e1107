"""Staging: the Cliniko records the target receives, kept until their invoices are applied.

Staging a record marks dirty every invoice it may change in PayPal (its own, those of a
customer or owner it changes); the applier reads dirty invoices back with `invoice_inputs`.
Records a rule leaves out on purpose are kept as skips, not as dead letters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cliniko_paypal_contract import CLINIKO_STREAM
from target_paypal.store.approvals import Approval, read_approval
from target_paypal.store.dead_letters import supersede_rejects
from target_paypal.store.directory import Xref, read_xref
from target_paypal.store.email_key import EmailKey
from target_paypal.store.kept import is_kept, same_content
from target_paypal.store.schema import (
    customers,
    dead_letters,
    invoice_lines,
    invoices,
    outcomes,
    owners,
    practitioners,
    skipped,
)
from target_paypal.store.sql import IDS_PER_STATEMENT, upsert_by_key, upsert_row, utc_now


@dataclass
class InvoiceInputs:
    """What the applier reads for one invoice (`Store.invoice_inputs`)."""

    header: dict | None
    lines: list[dict]
    customer: dict | None
    customer_left_out: tuple[str, str] | None = None  # only read when the customer is missing
    owner: str | None = None
    xref: Xref | None = None
    recipient_in: str | None = None  # a PayPal invoice holding the customer's recipient
    approval: Approval | None = None  # its row in the approval queue, if any


class Staging(EmailKey):
    """The store's part that stages records, tracks dirty invoices, and reads them back."""

    def stage_customers(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert customers, marking dirty the invoices whose recipient may change.

        Invoices become dirty for a customer that is new or changed, and for every customer
        sharing its old or new email (the shared-email rule may now apply). A customer cut
        down to its IDs (`kept`) that comes again unchanged stays cut down.
        """
        records = list(records)
        hashes = {r["customer_id"]: self.hash_email(r.get("email")) for r in records}
        with self.begin() as conn:
            supersede_rejects(conn, "customers", "patients", [r["customer_id"] for r in records])
            for record in records:
                customer_id = record["customer_id"]
                old = conn.execute(
                    sa.select(customers.c.record, customers.c.email_hash).where(
                        customers.c.customer_id == customer_id
                    )
                ).one_or_none()
                if old is not None and same_content(old.record, record):
                    continue
                upsert_by_key(
                    conn,
                    customers,
                    "customer_id",
                    {
                        "customer_id": customer_id,
                        "email_hash": hashes[customer_id],
                        "record": record,
                        "staged_at": utc_now(),
                        "recipient_in": None,
                        "stripped_at": None,
                    },
                )
                emails = {h for h in (old and old.email_hash, hashes[customer_id]) if h}
                owners_of = sa.select(customers.c.customer_id).where(
                    customers.c.email_hash.in_(emails)
                )
                conn.execute(
                    invoices.update()
                    .where(
                        sa.or_(
                            invoices.c.customer_id == customer_id,
                            invoices.c.customer_id.in_(owners_of),
                        )
                    )
                    .values(dirty=True)
                )

    def stage_invoices(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert invoice headers, each marked dirty (one cut down and unchanged is left be)."""
        records = list(records)
        with self.begin() as conn:
            supersede_rejects(conn, "invoices", "invoices", [r["invoice_id"] for r in records])
            for record in records:
                old = conn.execute(
                    sa.select(invoices.c.record).where(
                        invoices.c.invoice_id == record["invoice_id"]
                    )
                ).scalar_one_or_none()
                if is_kept(old) and same_content(old, record):
                    continue
                upsert_by_key(
                    conn,
                    invoices,
                    "invoice_id",
                    {
                        "invoice_id": record["invoice_id"],
                        "customer_id": record["customer_id"],
                        "practitioner_id": record.get("practitioner_id"),
                        "record": record,
                        "dirty": True,
                        "staged_at": utc_now(),
                        "stripped_at": None,
                    },
                )

    def stage_lines(self, records: list[dict[str, Any]]) -> None:
        """Upsert invoice lines, marking their invoices dirty (unless cut down and unchanged)."""
        with self.begin() as conn:
            line_ids = [r["line_id"] for r in records]
            supersede_rejects(conn, "invoice_lines", "invoice_items", line_ids)
            touched = set()
            for record in records:
                old = conn.execute(
                    sa.select(invoice_lines.c.record).where(
                        invoice_lines.c.line_id == record["line_id"]
                    )
                ).scalar_one_or_none()
                if is_kept(old) and same_content(old, record):
                    continue
                upsert_by_key(
                    conn,
                    invoice_lines,
                    "line_id",
                    {
                        "line_id": record["line_id"],
                        "invoice_id": record["invoice_id"],
                        "record": record,
                    },
                )
                touched.add(record["invoice_id"])
            conn.execute(
                invoices.update()
                .where(invoices.c.invoice_id.in_(touched))
                .values(dirty=True, stripped_at=None)
            )

    def stage_practitioners(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert practitioner -> user links; invoices whose owner that changes become dirty."""
        self._stage_reference(practitioners, "practitioner_id", "user_id", records)

    def stage_owners(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert user -> owner names; invoices whose owner that changes become dirty."""
        self._stage_reference(owners, "user_id", "owner", records)

    def _stage_reference(
        self, table: sa.Table, key: str, value: str, records: Iterable[dict[str, Any]]
    ) -> None:
        """Upsert a practitioner or owner; the invoices whose owner it changes become dirty."""
        with self.begin() as conn:
            for record in records:
                old = conn.execute(
                    sa.select(table.c[value]).where(table.c[key] == record[key])
                ).one_or_none()
                upsert_by_key(conn, table, key, {key: record[key], value: record.get(value)})
                if old is not None and old[0] != record.get(value):
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

    def dirty_invoice_ids(self) -> list[str]:
        """Return the ids of the invoices to compose and apply, in id order."""
        with self.begin() as conn:
            query = sa.select(invoices.c.invoice_id).where(invoices.c.dirty.is_(True))
            return list(conn.execute(query.order_by(invoices.c.invoice_id)).scalars())

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
        """Read everything applying one invoice needs, in one transaction.

        The applier's workers would otherwise open four per invoice (staged invoice, left-out
        patient, owner, xref).
        """
        with self.begin() as conn:
            header, items, customer, recipient_in = _staged_invoice(conn, invoice_id)
            inputs = InvoiceInputs(header, items, customer, recipient_in=recipient_in)
            if header is None:
                return inputs
            if customer is None:
                inputs.customer_left_out = _left_out(conn, "customers", header["customer_id"])
            inputs.owner = _owner_of(conn, header.get("practitioner_id"))
            inputs.xref = read_xref(conn, invoice_id)
            inputs.approval = read_approval(conn, invoice_id)
        return inputs


def _staged_invoice(
    conn: Connection, invoice_id: str
) -> tuple[dict | None, list[dict], dict | None, str | None]:
    """Return the header, lines and customer of one invoice, as staged, and its recipient_in.

    `recipient_in`: a PayPal invoice holding the customer's recipient (`kept`).
    """
    header = conn.execute(
        sa.select(invoices.c.record).where(invoices.c.invoice_id == invoice_id)
    ).scalar_one_or_none()
    items = list(
        conn.execute(
            sa.select(invoice_lines.c.record).where(invoice_lines.c.invoice_id == invoice_id)
        ).scalars()
    )
    customer = recipient_in = None
    if header is not None:
        row = conn.execute(
            sa.select(customers.c.record, customers.c.recipient_in).where(
                customers.c.customer_id == header["customer_id"]
            )
        ).one_or_none()
        if row is not None:
            customer, recipient_in = row
    return header, items, customer, recipient_in


def _left_out(conn: Connection, stream: str, record_id: str) -> tuple[str, str] | None:
    """Return why the mapper left a record out: a rule's skip, or its open reject letter."""
    reason = conn.execute(
        sa.select(skipped.c.reason).where(
            skipped.c.stream == stream, skipped.c.record_id == record_id
        )
    ).scalar_one_or_none()
    if reason is not None:
        return "skip", reason
    reason = conn.execute(
        sa.select(dead_letters.c.reason).where(
            dead_letters.c.stream == f"rejects:{CLINIKO_STREAM[stream]}",
            dead_letters.c.record_id == record_id,
            dead_letters.c.resolved_at.is_(None),
        )
    ).scalar_one_or_none()
    return ("park", reason) if reason is not None else None


def _owner_of(conn: Connection, practitioner_id: str | None) -> str | None:
    """Return the owner name of a practitioner's user, or None when it has none."""
    if not practitioner_id:
        return None
    return conn.execute(  # type: ignore[no-any-return]
        sa.select(owners.c.owner)
        .join(practitioners, practitioners.c.user_id == owners.c.user_id)
        .where(practitioners.c.practitioner_id == practitioner_id)
    ).scalar_one_or_none()
