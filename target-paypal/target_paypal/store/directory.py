"""The customer directory and the cross-references Cliniko invoice <-> PayPal invoice.

PayPal has no customer directory, so the store keeps one: each Cliniko patient's staged record
(cut down to its IDs once PayPal holds it, `kept`) and the keyed hash of its email
(`email_key`). An `Xref` is what the store knows of one invoice in PayPal: its PayPal id and
number, the status last seen, the hash last applied, and any conflict that holds it back.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from target_paypal.store.engine import StoreBase
from target_paypal.store.schema import customers, invoices, xrefs
from target_paypal.store.sql import upsert_rows, utc_now


@dataclass(frozen=True)
class Xref:
    """One Cliniko invoice's cross-reference to PayPal, as the xrefs table holds it."""

    invoice_id: str
    paypal_id: str | None
    invoice_number: str | None
    paypal_status: str | None
    applied_hash: str | None
    conflict: str | None
    owner: str | None = None
    account: str | None = None  # the PayPal account it is in; None: the default one


def xref_from_row(row: RowMapping) -> Xref:
    """Make an Xref of an xrefs row (the row's other columns, such as updated_at, dropped)."""
    return Xref(**{k: row[k] for k in Xref.__dataclass_fields__})


def read_xref(conn: Connection, invoice_id: str) -> Xref | None:
    """Return the cross-reference of one Cliniko invoice, or None when it has none yet."""
    row = (
        conn.execute(sa.select(xrefs).where(xrefs.c.invoice_id == invoice_id))
        .mappings()
        .one_or_none()
    )
    return None if row is None else xref_from_row(row)


def write_xref(conn: Connection, xref: Xref) -> None:
    """Insert or replace one cross-reference, stamped with the time it was written."""
    write_xrefs(conn, [xref])


def write_xrefs(conn: Connection, written: Sequence[Xref]) -> None:
    """Insert or replace these cross-references (one executemany), stamped with the time."""
    now = utc_now()
    upsert_rows(conn, xrefs, ("invoice_id",), [{**x.__dict__, "updated_at": now} for x in written])


def others_sharing(
    shared: dict[str, tuple[str, ...]], customer_id: str, limit: int | None = None
) -> list[str]:
    """The other customers with this customer's email (`shared_emails`), the first `limit`."""
    others = (other for other in shared.get(customer_id, ()) if other != customer_id)
    return list(itertools.islice(others, limit))


class CustomerDirectory(StoreBase):
    """The store's part that answers who a customer is and where an invoice is in PayPal."""

    def xrefs_without_email(self, statuses: Sequence[str]) -> list[Xref]:
        """The invoices in PayPal, in these statuses, whose patient has no email.

        PayPal holds them without a recipient email (`customers.missing_email: without_email`).
        A merged patient's invoices go by the patient it was merged into. In Cliniko id order.
        """
        survivor = customers.alias("survivor")
        query = (
            sa.select(xrefs)
            .join(invoices, invoices.c.invoice_id == xrefs.c.invoice_id)
            .join(customers, customers.c.customer_id == invoices.c.customer_id)
            .outerjoin(survivor, survivor.c.customer_id == customers.c.merged_into)
            .where(
                sa.or_(
                    sa.and_(customers.c.merged_into.is_(None), customers.c.email_hash.is_(None)),
                    sa.and_(survivor.c.customer_id.is_not(None), survivor.c.email_hash.is_(None)),
                ),
                xrefs.c.paypal_id.is_not(None),
                xrefs.c.paypal_status.in_(list(statuses)),
            )
            .order_by(xrefs.c.invoice_id)
        )
        with self.begin() as conn:
            return [xref_from_row(row) for row in conn.execute(query).mappings()]

    def shared_emails(self) -> dict[str, tuple[str, ...]]:
        """Map each customer id that shares its email (case-insensitive) to all who share it.

        Compared by the email's keyed hash (`email_key`): the store does not keep emails. The
        customers of one email share one tuple: a plan manager's email shared by thousands of
        patients is held once, not once per patient (`others_sharing`).
        """
        with self.begin() as conn:
            shared = (
                sa.select(customers.c.email_hash)
                .where(customers.c.email_hash.is_not(None))
                .group_by(customers.c.email_hash)
                .having(sa.func.count() > 1)
            )
            rows = conn.execute(
                sa.select(customers.c.email_hash, customers.c.customer_id).where(
                    customers.c.email_hash.in_(shared)
                )
            ).all()
        by_email: dict[str, list[str]] = {}
        for email_hash, customer_id in rows:
            by_email.setdefault(email_hash, []).append(customer_id)
        groups = (tuple(sorted(ids)) for ids in by_email.values())
        return {cid: group for group in groups for cid in group}

    def invoice_headers(self, invoice_ids: set[str]) -> dict[str, dict[str, Any]]:
        """Map each of these invoice ids that is staged to its staged header record."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(invoices.c.invoice_id, invoices.c.record).where(
                    invoices.c.invoice_id.in_(invoice_ids)
                )
            )
            return {invoice_id: record for invoice_id, record in rows}

    def xref(self, invoice_id: str) -> Xref | None:
        """Return the cross-reference of one Cliniko invoice, or None when it has none yet."""
        with self.begin() as conn:
            return read_xref(conn, invoice_id)

    def save_xref(self, xref: Xref) -> None:
        """Insert or replace one cross-reference."""
        with self.begin() as conn:
            write_xref(conn, xref)

    def xrefs(self) -> list[Xref]:
        """Return every cross-reference the store holds."""
        with self.begin() as conn:
            rows = conn.execute(sa.select(xrefs)).mappings().all()
        return [xref_from_row(r) for r in rows]

    def accounts_in_use(self) -> list[str]:
        """The keys of the PayPal accounts other than the default that hold our invoices.

        An account the rules no longer name may still hold invoices (paypal-ops reads it too).
        """
        query = sa.select(xrefs.c.account).where(xrefs.c.account.is_not(None)).distinct()
        with self.begin() as conn:
            return sorted(str(key) for key in conn.execute(query).scalars())
