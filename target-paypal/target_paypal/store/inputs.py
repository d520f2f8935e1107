"""What the applier reads to apply invoices: header, lines, customer, owner, xref, approval.

The customer is the one the invoice's customer was merged into, if it was (Cliniko: a merged
patient's invoices follow the surviving patient's billing details).

The owner and the practitioner's name fill the memo's `{owner}` and `{practitioner}`.

Read for many invoices at once (`read_inputs`), a few statements per batch of ids in one
transaction: read one by one, an invoice cost six statements in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cliniko_paypal_contract import CLINIKO_STREAM
from target_paypal.store.approvals import Approval, read_approvals
from target_paypal.store.directory import Xref, xref_from_row
from target_paypal.store.reversals import reversals_of
from target_paypal.store.schema import (
    appointments,
    customers,
    dead_letters,
    invoice_lines,
    invoices,
    owners,
    practitioners,
    skipped,
    xrefs,
)
from target_paypal.store.sql import id_batches


@dataclass
class InvoiceInputs:
    """What the applier reads for one invoice (`Store.invoice_inputs_many`)."""

    header: dict | None
    lines: list[dict]
    customer: dict | None
    customer_left_out: tuple[str, str] | None = None  # only read when the customer is missing
    owner: str | None = None
    practitioner: str | None = None  # the practitioner's display name
    service_date: str | None = None  # the day of the invoice's appointment
    xref: Xref | None = None
    recipient_in: str | None = None  # a PayPal invoice holding the customer's recipient
    recipient_account: str | None = None  # the PayPal account that invoice is in (None: default)
    approval: Approval | None = None  # its row in the approval queue, if any
    untouched: bool = False  # never handed to a PayPal write (first_writes.py)
    reversals: list[dict] = field(default_factory=list)  # its reversals (store/reversals.py)


def read_inputs(conn: Connection, invoice_ids: Sequence[str]) -> dict[str, InvoiceInputs]:
    """Map each of these invoice ids to what applying it needs, as staged now.

    An invoice whose header is not staged gets its lines only (`header` None).
    """
    ids = list(dict.fromkeys(invoice_ids))
    headers: dict[str, dict] = {}
    untouched: set[str] = set()
    for batch in id_batches(ids):
        query = sa.select(
            invoices.c.invoice_id, invoices.c.record, invoices.c.paypal_touched_at
        ).where(invoices.c.invoice_id.in_(batch))
        for invoice_id, record, touched_at in conn.execute(query):
            headers[invoice_id] = record
            if touched_at is None:
                untouched.add(invoice_id)
    lines: dict[str, list[dict]] = {i: [] for i in ids}
    for batch in id_batches(ids):
        query = sa.select(invoice_lines.c.invoice_id, invoice_lines.c.record).where(
            invoice_lines.c.invoice_id.in_(batch)
        )
        for invoice_id, record in conn.execute(query):
            lines[invoice_id].append(record)
    wanted = list(dict.fromkeys(h["customer_id"] for h in headers.values()))
    found: dict[str, tuple[dict, str | None]] = {}
    for batch in id_batches(wanted):
        query = sa.select(
            customers.c.customer_id, customers.c.record, customers.c.recipient_in
        ).where(customers.c.customer_id.in_(batch))
        found.update((cid, (record, held_in)) for cid, record, held_in in conn.execute(query))
    _add_survivors(conn, found)
    survivor_of = {cid: _survivor(found, cid) for cid in wanted}
    missing = sorted({s for s in survivor_of.values() if s not in found})
    left_out = _left_out(conn, "customers", missing)
    practitioner_ids = {h.get("practitioner_id") for h in headers.values()} - {None, ""}
    owner_of = _owners(conn, sorted(practitioner_ids))  # type: ignore[arg-type]
    xref_of: dict[str, Xref] = {}
    for batch in id_batches(list(headers)):
        rows = conn.execute(sa.select(xrefs).where(xrefs.c.invoice_id.in_(batch))).mappings()
        xref_of.update((row["invoice_id"], xref_from_row(row)) for row in rows)
    approval_of = read_approvals(conn, list(headers))
    reversed_by = reversals_of(conn, list(headers))
    carriers = sorted({held_in for _, held_in in found.values() if held_in})
    account_of = _values_of(conn, xrefs.c.paypal_id, xrefs.c.account, carriers)
    appointment_ids = {h.get("appointment_id") for h in headers.values()} - {None, ""}
    date_of = _values_of(
        conn,
        appointments.c.appointment_id,
        appointments.c.service_date,
        sorted(appointment_ids),  # type: ignore[arg-type]
    )
    inputs = {}
    for invoice_id in ids:
        header = headers.get(invoice_id)
        if header is None:
            inputs[invoice_id] = InvoiceInputs(None, lines[invoice_id], None)
            continue
        survivor = survivor_of[header["customer_id"]]
        customer, recipient_in = found.get(survivor, (None, None))
        owner, practitioner = owner_of.get(header.get("practitioner_id") or "", (None, None))
        inputs[invoice_id] = InvoiceInputs(
            header,
            lines[invoice_id],
            customer,
            customer_left_out=left_out.get(survivor) if customer is None else None,
            owner=owner,
            practitioner=practitioner,
            service_date=date_of.get(header.get("appointment_id") or ""),
            xref=xref_of.get(invoice_id),
            recipient_in=recipient_in,
            recipient_account=account_of.get(recipient_in or ""),
            approval=approval_of.get(invoice_id),
            untouched=invoice_id in untouched,
            reversals=reversed_by.get(invoice_id, []),
        )
    return inputs


def _values_of(
    conn: Connection, key: sa.Column, value: sa.Column, keys: list[str]
) -> dict[str, str | None]:
    """Map each of these keys to its row's `value`, a batch of keys at a time.

    E.g. a staged appointment's day, or the PayPal account an invoice is in.
    """
    found: dict[str, str | None] = {}
    for batch in id_batches(keys):
        rows = conn.execute(sa.select(key, value).where(key.in_(batch)))
        found.update((k, v) for k, v in rows)
    return found


MERGE_HOPS = 5  # a patient merged into one merged later: followed this far


def _add_survivors(conn: Connection, found: dict[str, tuple[dict, str | None]]) -> None:
    """Read the customers that customers in `found` were merged into, into `found`."""
    for _ in range(MERGE_HOPS):
        wanted = {r.get("merged_into") for r, _ in found.values()} - set(found) - {None}
        if not wanted:
            return
        for batch in id_batches(sorted(wanted)):  # type: ignore[arg-type]
            query = sa.select(
                customers.c.customer_id, customers.c.record, customers.c.recipient_in
            ).where(customers.c.customer_id.in_(batch))
            found.update((cid, (record, held_in)) for cid, record, held_in in conn.execute(query))
        if wanted - set(found):
            return  # a survivor not staged (yet): its invoices wait or are left out with it


def _survivor(found: dict[str, tuple[dict, str | None]], customer_id: str) -> str:
    """The customer whose recipient an invoice of `customer_id` goes to (merges followed)."""
    seen = {customer_id}
    while customer_id in found and found[customer_id][0].get("merged_into"):
        customer_id = found[customer_id][0]["merged_into"]
        if customer_id in seen:
            break  # merged in a circle: not Cliniko's way, and never looped over
        seen.add(customer_id)
    return customer_id


def _left_out(conn: Connection, stream: str, record_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Why the mapper left each of these records out: a rule's skip, or its open reject letter."""
    why: dict[str, tuple[str, str]] = {}
    letters = f"rejects:{CLINIKO_STREAM[stream]}"
    for batch in id_batches(record_ids):
        parked = conn.execute(
            sa.select(dead_letters.c.record_id, dead_letters.c.reason).where(
                dead_letters.c.stream == letters,
                dead_letters.c.record_id.in_(batch),
                dead_letters.c.resolved_at.is_(None),
            )
        )
        why.update((record_id, ("park", reason)) for record_id, reason in parked)
        skips = conn.execute(
            sa.select(skipped.c.record_id, skipped.c.reason).where(
                skipped.c.stream == stream, skipped.c.record_id.in_(batch)
            )
        )
        why.update((record_id, ("skip", reason)) for record_id, reason in skips)  # skip first
    return why


OwnerAndName = tuple[str | None, str | None]


def _owners(conn: Connection, practitioner_ids: list[str]) -> dict[str, OwnerAndName]:
    """Map each known practitioner to (the owner name of its user, if any; its name)."""
    found: dict[str, OwnerAndName] = {}
    for batch in id_batches(practitioner_ids):
        rows = conn.execute(
            sa.select(
                practitioners.c.practitioner_id, owners.c.owner, practitioners.c.display_name
            )
            .outerjoin(owners, practitioners.c.user_id == owners.c.user_id)
            .where(practitioners.c.practitioner_id.in_(batch))
        )
        found.update((pid, (owner, name)) for pid, owner, name in rows)
    return found
