"""Reconciliation: Cliniko (read in full through tap-cliniko) against PayPal and the store.

Cliniko's records go through the same mapping rules as the sync (reconcile_sources), so "what
PayPal should show" is the sync's own definition; PayPal is listed in full (our invoices: a
`detail.reference` or our invoice-number prefix). Reported, invoice by invoice and by IDs only:
missing in PayPal, in PayPal but not in Cliniko, duplicates, differences (amount, tax, status,
date, recipient), conflicts, and invoices paid in PayPal that are still open in Cliniko (a to-do
for the front desk: Cliniko has no payments API). Invoices the sync holds back on purpose (parked
or skipped, a draft waiting in the approval queue, one rejected there) are listed apart and are
not mismatches. An invoice reversed in Cliniko is checked as the sync leaves it: cancelled, or
its refunds adding up to what was reversed (reconcile_reversals). GST by month in the clinic's
zone, Cliniko against PayPal.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from paypal_ops.reconcile_reversals import reversal_mismatch
from paypal_ops.reconcile_types import Mismatch, Wanted
from target_paypal.client import OPEN, PAID
from target_paypal.store import Store

__all__ = ["Mismatch", "Reconciliation", "Wanted", "reconcile"]

# Each kind of mismatch, in the order reported, with its title (the report files, the
# sync-health page, the alert and the command's own line all use these words).
KIND_TITLES = {
    "missing_in_paypal": "Missing in PayPal",
    "not_in_cliniko": "In PayPal, not in Cliniko",
    "duplicate_in_paypal": "More than one copy in PayPal",
    "different": "Different in PayPal",
    "conflict": "Conflict (paid or cancelled by hand in PayPal)",
    "paid_in_paypal_open_in_cliniko": "Paid in PayPal, still open in Cliniko",
}
KINDS = tuple(KIND_TITLES)

# Held back on purpose (`held` in the report), apart from mismatches.
HELD_BY_RULES = "parked or skipped by the sync's rules"
REVERSED = "reversed in Cliniko (cancelled, refunded or parked by the sync)"
# The approval queue (paypal-ops approvals): a draft waiting for a person, one approved that the
# next run sends, one rejected (its draft deleted by the next run, and kept out).
APPROVAL_HELD = {
    "waiting": "held for approval",
    "approved": "approved, sent by the next run",
    "rejected": "rejected in the approval queue",
}


def kind_words(kind: str) -> str:
    """A kind's title as words inside a line ("missing in PayPal")."""
    title = KIND_TITLES.get(kind, kind)
    return title[:1].lower() + title[1:]


# What PayPal may show for each wanted status (sent invoices move on by themselves).
ACCEPTED = {
    "DRAFT": {"DRAFT"},
    "SENT": OPEN,
    "PAID": PAID,
    "VOID": {"CANCELLED"},
}


class ReconcileError(RuntimeError):
    """Reconciliation could not read one side: nothing is reported (exit status 2)."""


def ours(invoice: dict[str, Any], prefix: str) -> bool:
    """Whether the sync wrote this PayPal invoice: it has a reference, or our number prefix."""
    detail = invoice.get("detail") or {}
    return bool(detail.get("reference")) or (
        bool(prefix) and str(detail.get("invoice_number", "")).startswith(prefix)
    )


def _money(block: Any) -> Decimal | None:
    value = (block or {}).get("value")
    return Decimal(str(value)) if value not in (None, "") else None


def _tax(invoice: dict[str, Any]) -> Decimal | None:
    return _money(((invoice.get("amount") or {}).get("breakdown") or {}).get("tax_total"))


def _recipient(invoice: dict[str, Any]) -> str:
    recipients = invoice.get("primary_recipients") or [{}]
    return str(((recipients[0] or {}).get("billing_info") or {}).get("email_address", "")).lower()


def differences(want: Wanted, invoice: dict[str, Any], email: str | None) -> list[str]:
    """The fields where PayPal's copy is not what Cliniko says (names only, no values)."""
    found = []
    status = invoice.get("status", "")
    if want.total is not None and _money(invoice.get("amount")) != want.total:
        found.append("amount")
    if want.tax is not None and (_tax(invoice) or Decimal(0)) != want.tax:
        found.append("tax")
    if status not in ACCEPTED.get(want.status, set()):
        found.append("status")
    if (invoice.get("detail") or {}).get("invoice_date") != want.date:
        found.append("date")
    if email is not None and status not in PAID | {"CANCELLED"} and _recipient(invoice) != email:
        found.append("recipient")
    return found


@dataclass
class Reconciliation:
    """A reconciliation's result, as reconcile.json holds it (IDs, counts and field names only)."""

    generated_at: str
    time_zone: str
    ok: bool
    counts: dict[str, int]
    items: list[dict[str, Any]]
    held: dict[str, int]
    gst_by_month: list[dict[str, str]]


def reconcile(
    wanted: dict[str, Wanted],
    emails: dict[str, str],
    paypal: list[dict[str, Any]],
    store: Store | None,
    prefix: str,
    time_zone: str,
    abns: frozenset[str] = frozenset(),
) -> Reconciliation:
    """Compare what PayPal should show with what it shows, invoice by invoice.

    `abns`: the ABNs the mapping gives businesses of their own; GST by month is then by ABN too.
    """
    mine = [i for i in paypal if ours(i, prefix)]
    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for copy in mine:
        by_reference[str((copy.get("detail") or {}).get("reference") or "")].append(copy)
    held_ids = _held_by_the_sync(store)
    reversed_ids = {k for k, w in wanted.items() if w.status == "REVERSED"}
    queue = _approval_states(store)
    rejected = {i for i, state in queue.items() if state == "rejected"}
    xrefs = store.xrefs() if store else []
    conflicts = {x.invoice_id: x for x in xrefs if x.conflict}
    known = {x.invoice_id: x.paypal_id for x in xrefs}
    items: list[Mismatch] = []
    held: dict[str, int] = defaultdict(int)
    for invoice_id, want in sorted(wanted.items()):
        copies = [c for c in by_reference.get(invoice_id, []) if c.get("status") != "CANCELLED"]
        copies = copies or by_reference.get(invoice_id, [])
        invoice = _our_copy(copies, known.get(invoice_id))
        if invoice_id in rejected and want.status not in ("HELD", "VOID"):
            held[APPROVAL_HELD["rejected"]] += 1  # its draft deleted, or deleted next run
            continue
        if want.status == "REVERSED":
            problem = None if invoice_id in held_ids else reversal_mismatch(want, invoice)
            if problem is None:
                held[REVERSED] += 1  # cancelled, refunded or parked for a person, as it should
            else:
                items.append(problem)
            continue
        if want.status == "HELD" or (invoice_id in held_ids and not copies):
            held[HELD_BY_RULES] += 1
            continue
        if invoice_id in conflicts:
            x = conflicts[invoice_id]
            items.append(
                Mismatch(
                    "conflict", invoice_id, x.paypal_id, x.invoice_number, [], x.conflict or ""
                )
            )
            continue
        if invoice is None:
            if want.status != "VOID":
                items.append(
                    Mismatch(
                        "missing_in_paypal", invoice_id, None, want.number, [], "not in PayPal"
                    )
                )
            continue
        live = [c for c in copies if c.get("status") != "CANCELLED"]
        if len(live) > 1:
            ids = ", ".join(sorted(c["id"] for c in live))
            items.append(
                Mismatch(
                    "duplicate_in_paypal", invoice_id, ids, want.number, [], f"{len(live)} copies"
                )
            )
        status = invoice.get("status", "")
        waits = queue.get(invoice_id)
        if waits is not None and _held_as_draft(waits, want, status):
            fields = differences(want, invoice, emails.get(want.customer_id))
            fields = [f for f in fields if f != "status"]
            if not fields:
                held[APPROVAL_HELD[waits]] += 1
                continue
            items.append(
                Mismatch(
                    "different", invoice_id, invoice["id"], want.number, fields, _differs_in(fields)
                )
            )
            continue
        if status in PAID and want.status in ("SENT", "DRAFT"):
            items.append(
                Mismatch(
                    "paid_in_paypal_open_in_cliniko",
                    invoice_id,
                    invoice["id"],
                    want.number,
                    ["status"],
                    "paid in PayPal: record the payment in Cliniko",
                )
            )
            continue
        fields = differences(want, invoice, emails.get(want.customer_id))
        if fields:
            items.append(
                Mismatch(
                    "different", invoice_id, invoice["id"], want.number, fields, _differs_in(fields)
                )
            )
    for reference, copies in sorted(by_reference.items()):
        if reference not in wanted:
            for invoice in copies:
                if invoice.get("status") == "CANCELLED":
                    continue
                number = (invoice.get("detail") or {}).get("invoice_number")
                items.append(
                    Mismatch(
                        "not_in_cliniko",
                        reference or None,
                        invoice["id"],
                        number,
                        [],
                        "in PayPal, no such Cliniko invoice"
                        if reference
                        else "in PayPal with our number prefix but no reference",
                    )
                )
    counts = {kind: sum(1 for i in items if i.kind == kind) for kind in KINDS}
    return Reconciliation(
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        time_zone=time_zone,
        ok=not items,
        counts=counts,
        items=[asdict(i) for i in items],
        held=dict(held),
        gst_by_month=gst_by_month(
            {k: w for k, w in wanted.items() if k not in held_ids | rejected | reversed_ids},
            [
                i
                for i in mine
                if (i.get("detail") or {}).get("reference") not in rejected | reversed_ids
            ],
            abns,
        ),
    )


def _differs_in(fields: list[str]) -> str:
    return "differs in " + ", ".join(fields)


def _our_copy(copies: list[dict[str, Any]], paypal_id: str | None) -> dict[str, Any] | None:
    """The copy the store cross-references (a hand-made one is the duplicate), else the first."""
    return next((c for c in copies if c["id"] == paypal_id), copies[0] if copies else None)


def _held_by_the_sync(store: Store | None) -> set[str]:
    """Invoices the sync parked or skipped on purpose (dead letters and rule skips)."""
    if store is None:
        return set()
    held = {
        str(d["record_id"])
        for d in store.open_dead_letters()
        if d["stream"] in ("invoices", "rejects:invoices")
    }
    return held | store.skipped_ids("invoices")


def _approval_states(store: Store | None) -> dict[str, str]:
    """Each invoice in the approval queue and its state (waiting, approved, rejected)."""
    if store is None:
        return {}
    return {a.invoice_id: a.state for a in store.approval_queue(tuple(APPROVAL_HELD))}


def _held_as_draft(state: str, want: Wanted, status: str) -> bool:
    """Whether PayPal's status is the approval queue's doing, not a mismatch.

    Waiting: a draft, or one sent before a rule held it again (left as sent until approved).
    Approved: still a draft until the next run sends it.
    """
    if want.status not in ("SENT", "PAID"):
        return False
    if state == "waiting":
        return status == "DRAFT" or status in OPEN
    return state == "approved" and status == "DRAFT"


def gst_by_month(
    wanted: dict[str, Wanted], paypal: list[dict[str, Any]], abns: frozenset[str] = frozenset()
) -> list[dict[str, str]]:
    """GST by calendar month of the invoice date, Cliniko against PayPal; by ABN too if `abns`.

    The invoice date is a date in the clinic's zone on both sides. Cliniko's side is the tax on
    what should be in PayPal (not void, not held back by the sync's rules: the caller leaves
    those out); PayPal's is the tax on our invoices that are not cancelled. A clinic whose
    businesses have ABNs of their own (`abns`) files GST for each: Cliniko's side goes by the
    ABN the mapping gives the invoice, PayPal's by the ABN the invoice shows (any other is the
    default invoicer's, ""), so an invoice shown under the wrong ABN shows as a difference.
    """
    cliniko: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for want in wanted.values():
        if want.status in ("DRAFT", "SENT", "PAID") and want.tax is not None:
            cliniko[want.date[:7], want.abn if abns else ""] += want.tax
    theirs: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for invoice in paypal:
        if invoice.get("status") == "CANCELLED":
            continue
        month = str((invoice.get("detail") or {}).get("invoice_date", ""))[:7]
        shown = str((invoice.get("invoicer") or {}).get("tax_id") or "")
        theirs[month, shown if shown in abns else ""] += _tax(invoice) or Decimal(0)
    cents = Decimal("0.01")
    return [
        {
            "month": month,
            **({"abn": abn} if abns else {}),
            "cliniko": str(cliniko[month, abn].quantize(cents)),
            "paypal": str(theirs[month, abn].quantize(cents)),
            "difference": str((cliniko[month, abn] - theirs[month, abn]).quantize(cents)),
        }
        for month, abn in sorted(set(cliniko) | set(theirs))
    ]
