"""What Cliniko's reversals of an invoice make of its PayPal copy (store/reversals.py holds them).

Reversed in full while unpaid, the invoice is void: cancelled in PayPal, or never created.
Reversed in part while unpaid, it is parked: PayPal cannot take a negative line, and the
invoice's own lines still say what was charged. Paid, then reversed: its refunds are recorded
in PayPal when the mapping says `invoices.reversals.paid: refund`, else it is parked. Paid and
reversed in full before it ever reached PayPal, it is never created. A reversal withdrawn in
Cliniko after its refund was recorded is parked: deleting a refund is a person's call.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# PayPal statuses of an invoice paid (in part), refunded or not.
PAID_IN_PAYPAL = frozenset(
    {"PAID", "MARKED_AS_PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED", "REFUNDED",
     "MARKED_AS_REFUNDED"}
)  # fmt: skip
REFUNDED = frozenset({"PARTIALLY_REFUNDED", "REFUNDED", "MARKED_AS_REFUNDED"})
VOID = "VOID"


@dataclass(frozen=True)
class Reversed:
    """What an invoice's reversals decide: its header, a reason to park it, refunds to record."""

    header: dict[str, Any]
    park: str | None = None
    refunds: tuple[dict[str, Any], ...] = ()
    settled: bool = False  # refunded in PayPal by this sync as reversed: nothing left to do


def decide(
    header: dict[str, Any], reversals: list[dict[str, Any]], paypal_status: str | None
) -> Reversed:
    """Apply the invoice's reversals to its header (`paypal_status`: PayPal's copy's, if any)."""
    invoice_id = header["invoice_id"]
    undone = [r for r in reversals if r.get("withdrawn") and r.get("refund_id")]
    if undone:
        return Reversed(header, park=(
            f"reversal {undone[0]['reversal_id']} of invoice {invoice_id} was withdrawn in "
            f"Cliniko after refund {undone[0]['refund_id']} was recorded in PayPal: delete that "
            "refund in PayPal by hand if it was not made, then resolve this letter"
        ))
    live = [r for r in reversals if not r.get("withdrawn")]
    if not live:
        return Reversed(header)
    amount = sum((Decimal(r["amount"]) for r in live), Decimal(0))
    in_full = amount >= Decimal(header.get("total") or "0")
    names = ", ".join(r["reversal_id"] for r in live)
    if paypal_status is None:
        paid = header["target_status"] == "PAID"
        if in_full:  # reversed before it ever reached PayPal: nothing to show there
            return Reversed({**header, "target_status": VOID})
    else:
        paid = paypal_status in PAID_IN_PAYPAL
    if not paid:
        if in_full:
            return Reversed({**header, "target_status": VOID})
        return Reversed(header, park=(
            f"invoice {invoice_id} is reversed in part in Cliniko (reversal {names}) while "
            "unpaid: PayPal cannot show a part reversal; change the invoice in Cliniko"
        ))
    if live[-1].get("paid") != "refund":
        return Reversed(header, park=(
            f"invoice {invoice_id} was paid, then reversed in Cliniko (reversal {names}): "
            "record the refund in PayPal by hand, or set the mapping's invoices.reversals.paid "
            "to refund"
        ))
    pending = tuple(r for r in live if not r.get("refund_id"))
    if not pending and paypal_status in REFUNDED:
        return Reversed(header, settled=True)
    return Reversed({**header, "target_status": "PAID"}, refunds=pending)


def refund_body(reversal: dict[str, Any], currency: str) -> dict[str, Any]:
    """PayPal's `refund_detail` for a reversal: its amount, date and method."""
    body = {
        "method": reversal.get("refund_method") or "OTHER",
        "amount": {"currency_code": currency, "value": reversal["amount"]},
    }
    if reversal.get("reversal_date"):
        body["refund_date"] = reversal["reversal_date"]
    return body
