"""A Cliniko reversal becomes a reversals record for target-paypal, never an invoice."""

from __future__ import annotations

from dataclasses import replace

from map_test_helpers import assert_contract
from test_mapping import RULES, invoice, one


def reversal(**overrides):
    fields = {
        "id": "3005582995244121400",
        "number": 18,
        "original_invoice_id": "3005582995244121309",
        "total_amount": "-110.0",
        "tax_amount": "-10.0",
        "issue_date": "2025-07-20",
        "status": 30,
    }
    return invoice(**{**fields, **overrides})


def test_a_reversal_names_the_invoice_and_the_amount_reversed() -> None:
    stream, r = one("invoices", reversal())
    assert stream == "reversals"
    assert r == {
        "reversal_id": "3005582995244121400",
        "invoice_id": "3005582995244121309",
        "amount": "110.00",
        "reversal_date": "2025-07-20",
        "withdrawn": False,
        "paid": "park",
        "refund_method": "OTHER",
        "updated_at": "2025-07-02T18:51:22Z",
    }
    assert_contract("reversals", r)


def test_the_paid_rule_and_a_withdrawn_reversal_travel_with_it() -> None:
    rules = replace(RULES, reversals_paid="refund", payment_method="BANK_TRANSFER")
    _, r = one("invoices", reversal(archived_at="2025-08-01T00:00:00Z"), rules)
    assert (r["paid"], r["refund_method"], r["withdrawn"]) == ("refund", "BANK_TRANSFER", True)


def test_a_reversal_of_nothing_is_parked() -> None:
    stream, r = one("invoices", reversal(total_amount="0.0"))
    assert stream == "rejects" and "zero" in r["reason"] and r["invoice_id"]


def test_an_invoice_without_an_original_is_an_invoice() -> None:
    assert one("invoices", invoice(original_invoice_id=None))[0] == "invoices"
