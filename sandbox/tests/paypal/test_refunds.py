"""Record refund: a paid invoice's refunds, in part or in full, and the spec's refusals.

Every request and answer is checked against PayPal's spec by the `paypal` client (conftest).
"""

from __future__ import annotations

import pytest

INVOICES = "/v2/invoicing/invoices"
AUD = "AUD"


def spec_issues(spec, status: int) -> set[tuple[str, str]]:
    """The (issue, description) pairs PayPal's spec enumerates for record-refund's `status`."""
    schema = spec["components"]["schemas"][f"invoices.refunds-{status}"]
    return {
        (item["properties"]["issue"]["enum"][0], item["properties"]["description"]["enum"][0])
        for item in schema["properties"]["details"]["items"]["anyOf"]
    }


def issues(response) -> set[tuple[str, str]]:
    return {(d["issue"], d["description"]) for d in response.json()["details"]}


def paid(paypal, invoice_body) -> str:
    """A sent invoice of 110.00 (100.00 + 10 % GST), paid in full outside PayPal."""
    invoice_id = paypal.create(invoice_body())["id"]
    assert paypal.send(invoice_id).status_code == 200
    assert paypal.post(f"{INVOICES}/{invoice_id}/payments", {"method": "CASH"}).status_code == 200
    assert paypal.invoice(invoice_id)["status"] == "MARKED_AS_PAID"
    return invoice_id


def refund(paypal, invoice_id: str, value: str | None = None, **extra):
    body = {"method": "BANK_TRANSFER", "refund_date": "2025-03-20", **extra}
    if value is not None:
        body["amount"] = {"currency_code": AUD, "value": value}
    return paypal.post(f"{INVOICES}/{invoice_id}/refunds", body)


def test_a_refund_in_part_then_the_rest(paypal, invoice_body) -> None:
    invoice_id = paid(paypal, invoice_body)
    first = refund(paypal, invoice_id, "40.00")
    assert first.status_code == 200, first.text
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "PARTIALLY_REFUNDED"
    assert invoice["refunds"]["refund_amount"] == {"currency_code": AUD, "value": "40.00"}
    [recorded] = invoice["refunds"]["transactions"]
    assert recorded["refund_id"] == first.json()["refund_id"]
    assert (recorded["refund_date"], recorded["method"], recorded["type"]) == (
        "2025-03-20", "BANK_TRANSFER", "EXTERNAL")

    rest = refund(paypal, invoice_id)  # no amount: what is paid and not yet refunded
    assert rest.status_code == 200
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "MARKED_AS_REFUNDED"
    assert invoice["refunds"]["refund_amount"]["value"] == "110.00"
    assert [t["amount"]["value"] for t in invoice["refunds"]["transactions"]] == ["40.00", "70.00"]


def test_refunds_cannot_exceed_payments_nor_be_recorded_on_an_unpaid_invoice(
    paypal, invoice_body, spec
) -> None:
    invoice_id = paid(paypal, invoice_body)
    assert refund(paypal, invoice_id, "100.00").status_code == 200
    over = refund(paypal, invoice_id, "10.01")
    assert over.status_code == 422
    assert [d["issue"] for d in over.json()["details"]] == ["INVALID_REFUND_AMOUNT"]
    assert issues(over) <= spec_issues(spec, 422)
    assert paypal.invoice(invoice_id)["status"] == "PARTIALLY_REFUNDED"  # nothing changed

    unpaid = paypal.create(invoice_body(reference="cliniko-invoice-1002"))["id"]
    paypal.send(unpaid)
    refused = refund(paypal, unpaid, "10.00")
    assert refused.status_code == 422
    assert [d["issue"] for d in refused.json()["details"]] == ["CANNOT_PROCESS_REFUNDS"]
    assert issues(refused) <= spec_issues(spec, 422)


@pytest.mark.parametrize(
    ("body", "issue"),
    [
        ({"refund_date": "2025-03-20"}, "MISSING_REQUIRED_PARAMETER"),
        ({"method": "GIFT"}, "INVALID_REFUND_METHOD"),
        ({"method": "CASH", "refund_date": "20/03/2025"}, "INVALID_PARAMETER_SYNTAX"),
        ({"method": "CASH", "amount": {"currency_code": "USD", "value": "1.00"}}, "NOT_SUPPORTED"),
        ({"method": "CASH", "amount": {"currency_code": AUD, "value": "0"}},
         "VALUE_CANNOT_BE_ZERO"),
        ({"method": "CASH", "amount": {"currency_code": AUD, "value": "1.005"}},
         "INVALID_DECIMAL_VALUE"),
    ],
)
def test_a_bad_refund_is_refused_with_the_specs_issue(
    paypal, invoice_body, spec, body, issue
) -> None:
    invoice_id = paid(paypal, invoice_body)
    response = paypal.post(f"{INVOICES}/{invoice_id}/refunds", body)
    assert response.status_code == 400
    assert [d["issue"] for d in response.json()["details"]] == [issue]
    assert issues(response) <= spec_issues(spec, 400), "not the spec's words"
    assert "refunds" not in paypal.invoice(invoice_id)


def test_deleting_a_recorded_refund_makes_the_invoice_paid_again(paypal, invoice_body) -> None:
    invoice_id = paid(paypal, invoice_body)
    refund_id = refund(paypal, invoice_id, "110.00").json()["refund_id"]
    assert paypal.invoice(invoice_id)["status"] == "MARKED_AS_REFUNDED"
    assert paypal.delete(f"{INVOICES}/{invoice_id}/refunds/{refund_id}").status_code == 204
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "MARKED_AS_PAID" and "refunds" not in invoice
    missing = paypal.delete(f"{INVOICES}/{invoice_id}/refunds/{refund_id}")
    assert missing.status_code == 404
