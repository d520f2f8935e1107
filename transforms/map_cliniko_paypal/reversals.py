"""Cliniko reversals: never an invoice in PayPal, but what becomes of the invoice reversed.

An invoice whose `original_invoice` is set reverses that one, in whole or in part. It becomes
a `reversals` record, and target-paypal
cancels the original (unpaid, reversed in full), records a refund against it or parks it
(paid: `invoices.reversals.paid`), or parks it (unpaid, reversed in part).

UNCONFIRMED: how Cliniko shows the reversed amount. Here it is the reversing invoice's
`total_amount`, whatever its sign (its lines negate the original's).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from map_cliniko_paypal.rules import Rules
from map_cliniko_paypal.values import Reject, date_in_zone, decimal_of, gone, money, required


def is_reversal(record: dict[str, Any]) -> bool:
    """Whether a Cliniko invoice reverses another."""
    return bool(record.get("original_invoice_id"))


def map_reversal(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """A reversing invoice as a reversals record: what it reverses, how much, and when."""
    total = required(record, "total_amount")
    amount = abs(decimal_of(total, "total_amount"))
    if amount == Decimal(0):
        raise Reject("total_amount is zero: a reversal of nothing")
    return {
        "reversal_id": str(required(record, "id")),
        "invoice_id": str(record["original_invoice_id"]),
        "amount": money(str(amount), "total_amount"),
        "reversal_date": date_in_zone(record.get("issue_date"), rules.time_zone, "issue_date"),
        "withdrawn": gone(record),
        "paid": rules.reversals_paid,
        "refund_method": rules.payment_method,
        "updated_at": record.get("updated_at"),
    }
