"""Invoices reversed in Cliniko are reconciled as the sync leaves them: cancelled while unpaid,
refunded to the cent once paid; anything else is a mismatch a person sees."""

from __future__ import annotations

from decimal import Decimal

from paypal_ops.reconcile import REVERSED, Wanted, reconcile


def reversed_invoice(invoice_id: str, reversed_amount: str) -> Wanted:
    return Wanted(invoice_id, f"CLK-{invoice_id}", "REVERSED", "2026-10-03", Decimal("110.00"),
                  Decimal("10.00"), "c1", reversed_amount=Decimal(reversed_amount))  # fmt: skip


def in_paypal(invoice_id: str, status: str, *refunds: str) -> dict:
    return {
        "id": f"INV2-{invoice_id}",
        "status": status,
        "detail": {"reference": invoice_id, "invoice_number": f"CLK-{invoice_id}",
                   "invoice_date": "2026-10-03"},
        "amount": {"value": "110.00", "breakdown": {"tax_total": {"value": "10.00"}}},
        "refunds": {"transactions": [{"amount": {"currency_code": "AUD", "value": v}}
                                     for v in refunds]},
    }  # fmt: skip


def test_reversed_invoices_are_checked_as_the_sync_leaves_them() -> None:
    wanted = {
        "1": reversed_invoice("1", "110.00"),  # unpaid, in full: cancelled
        "2": reversed_invoice("2", "110.00"),  # unpaid, in full, but still open in PayPal
        "3": reversed_invoice("3", "40.00"),  # paid, in part: refunded 40.00
        "4": reversed_invoice("4", "40.00"),  # paid, in part, refund not recorded
        "5": reversed_invoice("5", "110.00"),  # reversed in full before it reached PayPal
        "6": reversed_invoice("6", "70.00"),  # paid, reversed twice (40 + 30), one refund
    }
    paypal = [
        in_paypal("1", "CANCELLED"),
        in_paypal("2", "UNPAID"),
        in_paypal("3", "PARTIALLY_REFUNDED", "40.00"),
        in_paypal("4", "MARKED_AS_PAID"),
        in_paypal("6", "PARTIALLY_REFUNDED", "40.00"),
    ]
    result = reconcile(wanted, {}, paypal, None, "CLK-", "Australia/Sydney")
    found = {i["cliniko_invoice_id"]: (i["kind"], i["fields"], i["detail"]) for i in result.items}
    assert found == {
        "2": ("different", ["status"], "UNPAID in PayPal, reversed in full in Cliniko"),
        "4": ("different", ["refunds"], "refunds 0.00 in PayPal, reversed 40.00 in Cliniko"),
        "6": ("different", ["refunds"], "refunds 40.00 in PayPal, reversed 70.00 in Cliniko"),
    }
    assert result.held == {REVERSED: 3}  # 1, 3 and 5: as they should be
    assert result.gst_by_month == []  # reversed invoices are left out of GST on both sides


def test_a_part_reversal_cancelled_in_paypal_or_missing_is_a_mismatch() -> None:
    wanted = {"7": reversed_invoice("7", "40.00"), "8": reversed_invoice("8", "40.00")}
    result = reconcile(wanted, {}, [in_paypal("7", "CANCELLED")], None, "CLK-", "Australia/Sydney")
    found = {i["cliniko_invoice_id"]: (i["kind"], i["detail"]) for i in result.items}
    assert found == {
        "7": ("different", "cancelled in PayPal, reversed in part in Cliniko"),
        "8": ("missing_in_paypal", "reversed in part in Cliniko, not in PayPal"),
    }
