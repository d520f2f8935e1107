"""What the store keeps of a staged record once its invoice is closed in PayPal.

A staged record keeps its full content (names, email, address, phone, item names, notes) only
while a later run may need it to write PayPal again. Once its invoice is closed in PayPal
(paid, marked paid, cancelled, refunded, deleted, or void and never sent: `CLOSED`), not dirty,
not parked and not rejected in the approval queue (a change in Cliniko brings that one back),
`strip_closed` cuts the header and its lines down to IDs, amounts and statuses (`kept_invoice`,
`kept_line`): what a later run reads to decide (a void, a conflict, the plan's totals). PayPal
cannot be changed on a closed invoice, so nothing else is needed.

A customer keeps its record while any of its invoices may still be written (open, waiting,
parked or not yet applied), and until PayPal holds its current recipient on one of its invoices
(`customers.recipient_in`, set when an invoice is created or brought in line with it; not one
deleted since). Then it
is cut down to its id and rule (`kept_customer`); a later invoice of theirs takes the recipient
back from that PayPal invoice (see apply.py). A changed record arrives in full again and is kept
until applied; the same record sent again (a full refresh) does not bring the content back.

Each cut-down record holds `KEPT` (so compose can tell it has no content) and the hash of the
full record it was made from (`content_of`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa

from target_paypal.client import CLOSED_BY_HAND
from target_paypal.store.engine import StoreBase, plain_number
from target_paypal.store.schema import (
    approvals,
    customers,
    dead_letters,
    invoice_lines,
    invoices,
    xrefs,
)
from target_paypal.store.sql import IDS_PER_STATEMENT, utc_now

KEPT = "_kept"  # a cut-down record: {"_kept": "ids", "_content": <hash of the full record>, ...}
# Closed in PayPal, or void in Cliniko and never there: PayPal cannot be written again.
CLOSED = CLOSED_BY_HAND | {"DELETED", "NONE"}
INVOICE_FIELDS = (
    "invoice_id", "customer_id", "practitioner_id", "invoice_number", "invoice_date",
    "currency_code", "tax_inclusive", "target_status", "line_count", "payment_date",
    "payment_method", "total", "tax_total", "updated_at",
)  # fmt: skip
LINE_FIELDS = (
    "line_id", "invoice_id", "position", "quantity", "unit_amount", "tax_name", "tax_percent",
    "discount_percent", "discount_amount", "item_date", "deleted", "updated_at",
)  # fmt: skip
# The custom fields the templates name stay too: a later invoice of theirs still needs them.
CUSTOMER_FIELDS = ("customer_id", "merged_into", "shared_email", "custom_fields", "updated_at")


def is_kept(record: dict[str, Any] | None) -> bool:
    """Whether a staged record was cut down to its IDs (its content is gone)."""
    return bool(record) and KEPT in record  # type: ignore[operator]


def recipient_cut(header: dict, lines: list[dict], customer: dict) -> bool:
    """Whether composing this invoice needs a cut-down customer's recipient back from PayPal.

    Not for a void, nor for an invoice itself cut down (which is never composed).
    """
    closed = is_kept(header) or any(is_kept(line) for line in lines)
    return is_kept(customer) and header.get("target_status") != "VOID" and not closed


def content_of(record: dict[str, Any]) -> str:
    """The hash of a record's full content (a cut-down record carries its original's)."""
    if is_kept(record):
        return str(record.get("_content"))
    # As the store writes it (a Decimal as the number it is), keys sorted.
    text = json.dumps(record, sort_keys=True, default=plain_number)
    return hashlib.sha256(text.encode()).hexdigest()


def _cut(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    if is_kept(record):
        return record
    kept = {k: record[k] for k in fields if k in record}
    return {**kept, KEPT: "ids", "_content": content_of(record)}


def kept_invoice(record: dict[str, Any]) -> dict[str, Any]:
    """An invoice header cut down to IDs, amounts, dates and statuses (no note or memo)."""
    return _cut(record, INVOICE_FIELDS)


def kept_line(record: dict[str, Any]) -> dict[str, Any]:
    """A line cut down to IDs and amounts (no name or description; `excluded` as a flag)."""
    return {**_cut(record, LINE_FIELDS), "excluded": bool(record.get("excluded"))}


def kept_customer(record: dict[str, Any]) -> dict[str, Any]:
    """A customer cut down to its id and shared-email rule (the hash stays in its column)."""
    return _cut(record, CUSTOMER_FIELDS)


class KeptRecords(StoreBase):
    """The store's part that cuts applied records down to what a later run needs."""

    def carried(self, customer_id: str, paypal_id: str) -> None:
        """PayPal invoice `paypal_id` now holds this customer's current recipient."""
        with self.begin() as conn:
            conn.execute(
                customers.update()
                .where(customers.c.customer_id == customer_id)
                .values(recipient_in=paypal_id)
            )

    def strip_closed(self) -> int:
        """Cut down closed invoices, their lines and customers done with; return the count."""
        with self.begin() as conn:
            open_letters = sa.select(dead_letters.c.record_id).where(
                dead_letters.c.stream == "invoices", dead_letters.c.resolved_at.is_(None)
            )
            # Rejected in the approval queue: its draft is gone, but a change in Cliniko brings
            # it back (its lines may not come again), so it keeps its content.
            rejected = sa.select(approvals.c.invoice_id).where(approvals.c.state == "rejected")
            ids = list(
                conn.execute(
                    sa.select(invoices.c.invoice_id)
                    .join(xrefs, xrefs.c.invoice_id == invoices.c.invoice_id)
                    .where(
                        invoices.c.stripped_at.is_(None),
                        invoices.c.dirty.is_(False),
                        xrefs.c.paypal_status.in_(CLOSED),
                        invoices.c.invoice_id.not_in(open_letters),
                        invoices.c.invoice_id.not_in(rejected),
                    )
                ).scalars()
            )
        for start in range(0, len(ids), IDS_PER_STATEMENT):
            self._strip_invoices(ids[start : start + IDS_PER_STATEMENT])
        return len(ids) + self._strip_customers()

    def _strip_invoices(self, ids: list[str]) -> None:
        now = utc_now()
        with self.begin() as conn:
            headers = conn.execute(
                sa.select(invoices.c.invoice_id, invoices.c.record).where(
                    invoices.c.invoice_id.in_(ids)
                )
            ).all()
            cut = [{"b_id": i, "b_record": kept_invoice(r), "b_at": now} for i, r in headers]
            if cut:
                conn.execute(CUT_INVOICE, cut)
            lines = conn.execute(
                sa.select(invoice_lines.c.line_id, invoice_lines.c.record).where(
                    invoice_lines.c.invoice_id.in_(ids)
                )
            ).all()
            cut = [{"b_id": i, "b_record": kept_line(r)} for i, r in lines if not is_kept(r)]
            if cut:
                conn.execute(CUT_LINE, cut)

    def _strip_customers(self) -> int:
        """Customers whose invoices are all cut down and whose recipient PayPal holds.

        Their records are read a batch at a time, as invoices' are: all at once, the decoded
        records of 50,000 customers were target-paypal's peak memory (62 MB, by memray).
        """
        with self.begin() as conn:
            ids = list(conn.execute(sa.select(customers.c.customer_id).where(*DONE_WITH)).scalars())
        cut = 0
        for start in range(0, len(ids), IDS_PER_STATEMENT):
            cut += self._strip_customer_batch(ids[start : start + IDS_PER_STATEMENT])
        return cut

    def _strip_customer_batch(self, ids: list[str]) -> int:
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(customers.c.customer_id, customers.c.record).where(
                    customers.c.customer_id.in_(ids), *DONE_WITH  # still done with
                )
            ).all()
            now = utc_now()
            cut = [{"b_id": i, "b_record": kept_customer(r), "b_at": now} for i, r in rows]
            if cut:
                conn.execute(CUT_CUSTOMER, cut)
        return len(cut)


_THEIRS = invoices.c.customer_id == customers.c.customer_id
# A customer done with: not cut down yet, every invoice of theirs cut down, and their recipient
# held by a PayPal invoice that can still be read (not a draft deleted since).
DONE_WITH = (
    customers.c.stripped_at.is_(None),
    customers.c.recipient_in.in_(
        sa.select(xrefs.c.paypal_id).where(xrefs.c.paypal_status.not_in(("DELETED", "NONE")))
    ),
    sa.exists().where(_THEIRS),
    ~sa.exists().where(_THEIRS, invoices.c.stripped_at.is_(None)),
)


# The updates that cut records down, one executemany for a batch (`b_id` the row's key).
CUT_INVOICE = (
    invoices.update()
    .where(invoices.c.invoice_id == sa.bindparam("b_id"))
    .values(
        record=sa.bindparam("b_record", type_=invoices.c.record.type),
        stripped_at=sa.bindparam("b_at", type_=invoices.c.stripped_at.type),
    )
)
CUT_LINE = (
    invoice_lines.update()
    .where(invoice_lines.c.line_id == sa.bindparam("b_id"))
    .values(record=sa.bindparam("b_record", type_=invoice_lines.c.record.type))
)
CUT_CUSTOMER = (
    customers.update()
    .where(customers.c.customer_id == sa.bindparam("b_id"))
    .values(
        record=sa.bindparam("b_record", type_=customers.c.record.type),
        stripped_at=sa.bindparam("b_at", type_=customers.c.stripped_at.type),
    )
)


def same_content(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether `new` is what `old` was (before it was cut down, if it was)."""
    if old is None:
        return False
    return old == new or (is_kept(old) and content_of(old) == content_of(new))
