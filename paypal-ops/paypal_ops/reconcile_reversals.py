"""Reconciling an invoice reversed in Cliniko: PayPal must show what the sync makes of it.

As target-paypal's reversals.py decides: reversed in full while unpaid, PayPal's copy is
cancelled (or there never was one); paid, the refunds PayPal shows add up to what Cliniko
reversed (recorded by the sync under `invoices.reversals.paid: refund`, or by hand by a person
who then resolved the sync's letter). One the sync parked for a person (an open letter) is held
back, not a mismatch: the caller leaves those out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from paypal_ops.reconcile_types import Mismatch, Wanted
from target_paypal.reversals import PAID_IN_PAYPAL


def refunded(invoice: dict[str, Any]) -> Decimal:
    """What PayPal shows refunded on the invoice, recorded refunds and PayPal's own."""
    transactions = (invoice.get("refunds") or {}).get("transactions") or []
    return sum(
        (Decimal(str((t.get("amount") or {}).get("value") or 0)) for t in transactions),
        Decimal(0),
    )


def reversal_mismatch(want: Wanted, invoice: dict[str, Any] | None) -> Mismatch | None:
    """What is wrong with PayPal's copy of a reversed invoice, or None when it is as it should."""
    reversed_ = want.reversed_amount or Decimal(0)
    in_full = want.total is not None and reversed_ >= want.total
    cid, number = want.invoice_id, want.number
    if invoice is None:
        if in_full:
            return None  # reversed before it ever reached PayPal
        return Mismatch("missing_in_paypal", cid, None, number, [],
                        "reversed in part in Cliniko, not in PayPal")  # fmt: skip
    status = str(invoice.get("status", ""))
    if status in PAID_IN_PAYPAL:
        shown = refunded(invoice)
        if shown == reversed_:
            return None
        detail = f"refunds {shown:.2f} in PayPal, reversed {reversed_:.2f} in Cliniko"
        return Mismatch("different", cid, invoice["id"], number, ["refunds"], detail)
    if status == "CANCELLED" and in_full:
        return None
    what = "cancelled in PayPal" if status == "CANCELLED" else f"{status} in PayPal"
    how = "in full" if in_full else "in part"
    return Mismatch("different", cid, invoice["id"], number, ["status"],
                    f"{what}, reversed {how} in Cliniko")  # fmt: skip
