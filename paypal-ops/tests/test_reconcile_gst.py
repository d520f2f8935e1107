"""GST by month, and by ABN when the clinic's businesses have ABNs of their own (the mapping's
invoicers.by_business): each ABN files its own GST, so each is reconciled apart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from paypal_ops.reconcile import Wanted, reconcile
from paypal_ops.reconcile_files import write

NORTH, SOUTH, DEFAULT = "12 345 678 901", "98 765 432 109", "51 824 753 556"


def want(invoice_id: str, date: str, tax: str, abn: str = "") -> Wanted:
    return Wanted(invoice_id, f"CLK-{invoice_id}", "SENT", date, Decimal("110.00"),
                  Decimal(tax), "c1", abn)  # fmt: skip


def in_paypal(invoice_id: str, date: str, tax: str, abn: str) -> dict:
    return {
        "id": f"INV2-{invoice_id}",
        "status": "UNPAID",
        "detail": {"reference": invoice_id, "invoice_number": f"CLK-{invoice_id}",
                   "invoice_date": date},
        "invoicer": {"email_address": "accounts@clinic.example", "tax_id": abn},
        "amount": {"value": "110.00", "breakdown": {"tax_total": {"value": tax}}},
        "primary_recipients": [{"billing_info": {"email_address": "pat@example.com"}}],
    }  # fmt: skip


def test_gst_is_reconciled_by_abn_and_an_invoice_under_the_wrong_abn_shows(tmp_path) -> None:
    wanted = {
        "1": want("1", "2026-10-03", "10.00", NORTH),
        "2": want("2", "2026-10-04", "5.00", SOUTH),
        "3": want("3", "2026-10-05", "1.00"),  # a business with the default invoicer
        "4": want("4", "2026-11-01", "2.00", NORTH),
    }
    paypal = [
        in_paypal("1", "2026-10-03", "10.00", NORTH),
        in_paypal("2", "2026-10-04", "5.00", SOUTH),
        in_paypal("3", "2026-10-05", "1.00", DEFAULT),  # any ABN not the mapping's: default
        in_paypal("4", "2026-11-01", "2.00", SOUTH),  # shown under the other business's ABN
    ]
    emails = {"c1": "pat@example.com"}
    result = reconcile(wanted, emails, paypal, None, "CLK-", "Australia/Sydney",
                       frozenset({NORTH, SOUTH}))  # fmt: skip
    rows = {(r["month"], r["abn"]): (r["cliniko"], r["paypal"], r["difference"])
            for r in result.gst_by_month}  # fmt: skip
    assert rows == {
        ("2026-10", ""): ("1.00", "1.00", "0.00"),
        ("2026-10", NORTH): ("10.00", "10.00", "0.00"),
        ("2026-10", SOUTH): ("5.00", "5.00", "0.00"),
        ("2026-11", NORTH): ("2.00", "0.00", "2.00"),
        ("2026-11", SOUTH): ("0.00", "2.00", "-2.00"),
    }

    page = write(result, tmp_path / "out")["html"].read_text()
    assert "<th>ABN</th>" in page and "default invoicer" in page and NORTH in page


def test_one_abn_keeps_one_row_a_month(tmp_path: Path) -> None:
    wanted = {"1": want("1", "2026-10-03", "10.00"), "2": want("2", "2026-10-09", "3.00")}
    paypal = [in_paypal("1", "2026-10-03", "10.00", DEFAULT),
              in_paypal("2", "2026-10-09", "3.00", DEFAULT)]  # fmt: skip
    result = reconcile(wanted, {"c1": "pat@example.com"}, paypal, None, "CLK-", "Australia/Sydney")
    assert result.gst_by_month == [
        {"month": "2026-10", "cliniko": "13.00", "paypal": "13.00", "difference": "0.00"}
    ]
    page = write(result, tmp_path / "out")["html"].read_text()
    assert "<th>ABN</th>" not in page
