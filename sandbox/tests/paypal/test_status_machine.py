"""Send, cancel, remind, record payment and delete, in every status (notes §3.3)."""

from __future__ import annotations

import pytest

from clinic_sandbox.paypal import InvoicingRules, PayPalState

INVOICES = "/v2/invoicing/invoices"
STATUSES = ["DRAFT", "SCHEDULED", "UNPAID", "PARTIALLY_PAID", "MARKED_AS_PAID", "PAID",
            "CANCELLED"]


def _in_status(paypal, state: PayPalState, invoice_body, status: str) -> str:
    """An invoice brought to `status` through the API (and the patient, for PAID)."""
    date = "2025-04-01" if status == "SCHEDULED" else "2025-03-01"
    invoice_id = paypal.create(invoice_body(invoice_date=date))["id"]
    if status == "DRAFT":
        return invoice_id
    paypal.send(invoice_id)
    if status == "PARTIALLY_PAID":
        _pay(paypal, invoice_id, "10.00")
    elif status == "MARKED_AS_PAID":
        _pay(paypal, invoice_id)
    elif status == "PAID":
        state.mark_paid(invoice_id)
    elif status == "CANCELLED":
        paypal.post(f"{INVOICES}/{invoice_id}/cancel", {})
    assert state.invoice(invoice_id)["status"] == status
    return invoice_id


def _pay(paypal, invoice_id, value=None):
    body = {"method": "BANK_TRANSFER", "payment_date": "2025-03-02"}
    if value:
        body["amount"] = {"currency_code": "AUD", "value": value}
    return paypal.post(f"{INVOICES}/{invoice_id}/payments", body)


def _issue(response):
    return response.json()["details"][0]["issue"]


def test_send_makes_a_draft_payable(paypal, invoice_body, state):
    invoice_id = paypal.create(invoice_body())["id"]
    response = paypal.send(invoice_id)
    assert response.status_code == 200
    assert response.json()["rel"] == "payer-view"
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "UNPAID"
    assert invoice["detail"]["metadata"]["first_sent_time"] == "2025-03-01T00:00:00Z"
    assert {link["rel"] for link in invoice["links"]} >= {"cancel", "record-payment"}


def test_send_with_a_future_date_schedules_with_202(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body(invoice_date="2025-03-02"))["id"]
    response = paypal.send(invoice_id)
    assert response.status_code == 202
    assert paypal.invoice(invoice_id)["status"] == "SCHEDULED"


def test_sent_status_is_configurable(paypal, invoice_body, state):
    state.rules.sent_status = "SENT"
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    assert paypal.invoice(invoice_id)["status"] == "SENT"


def test_resending_changes_nothing(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    assert paypal.send(invoice_id).status_code == 200
    assert paypal.invoice(invoice_id)["status"] == "UNPAID"


def test_partial_then_full_payment(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    first = _pay(paypal, invoice_id, "30.00")
    assert first.status_code == 200
    assert first.json()["payment_id"].startswith("EXTR-")
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "PARTIALLY_PAID"
    assert invoice["due_amount"]["value"] == "80.00"
    assert invoice["payments"]["paid_amount"]["value"] == "30.00"
    _pay(paypal, invoice_id)  # no amount: the rest
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "MARKED_AS_PAID"
    assert invoice["due_amount"]["value"] == "0.00"
    assert [t["amount"]["value"] for t in invoice["payments"]["transactions"]] == ["30.00",
                                                                                   "80.00"]
    assert invoice["payments"]["transactions"][0]["type"] == "EXTERNAL"


def test_overpayment_is_refused(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    response = _pay(paypal, invoice_id, "110.01")
    assert response.status_code == 422
    assert _issue(response) == "PAYMENT_AMOUNT_GREATER_THAN_AMOUNT_DUE"


def test_paid_status_for_recorded_payments_is_configurable(paypal, invoice_body, state):
    state.rules.paid_status = "PAID"
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    _pay(paypal, invoice_id)
    assert paypal.invoice(invoice_id)["status"] == "PAID"


def test_deleting_a_recorded_payment_reopens_the_invoice(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    payment_id = _pay(paypal, invoice_id).json()["payment_id"]
    response = paypal.delete(f"{INVOICES}/{invoice_id}/payments/{payment_id}")
    assert response.status_code == 204
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "UNPAID" and invoice["due_amount"]["value"] == "110.00"
    assert paypal.delete(f"{INVOICES}/{invoice_id}/payments/{payment_id}").status_code == 404


# What each status allows; None = allowed, otherwise the 422 issue.
SEND = {"DRAFT": None, "SCHEDULED": None, "UNPAID": None, "PARTIALLY_PAID": None,
        "MARKED_AS_PAID": "CANNOT_SEND_INVOICE", "PAID": "CANNOT_SEND_INVOICE",
        "CANCELLED": "CANNOT_SEND_INVOICE"}
CANCEL = {"DRAFT": "CANNOT_CANCEL_DRAFT_INVOICE", "SCHEDULED": "CANNOT_CANCEL_SCHEDULED_INVOICE",
          "UNPAID": None, "PARTIALLY_PAID": "CANNOT_CANCEL_PAID_INVOICE",
          "MARKED_AS_PAID": "CANNOT_CANCEL_PAID_INVOICE", "PAID": "CANNOT_CANCEL_PAID_INVOICE",
          "CANCELLED": "INVOICE_CANCELED_ALREADY"}
PAY = {"DRAFT": "CANNOT_PROCESS_PAYMENTS", "SCHEDULED": "CANNOT_PROCESS_PAYMENTS",
       "UNPAID": None, "PARTIALLY_PAID": None, "MARKED_AS_PAID": "CANNOT_PROCESS_PAYMENTS",
       "PAID": "CANNOT_PROCESS_PAYMENTS", "CANCELLED": "CANNOT_PROCESS_PAYMENTS"}
UPDATE = {"DRAFT": None, "SCHEDULED": None, "UNPAID": None,
          "PARTIALLY_PAID": "CANNOT_UPDATE_INVOICE", "MARKED_AS_PAID": "CANNOT_UPDATE_INVOICE",
          "PAID": "CANNOT_UPDATE_INVOICE", "CANCELLED": "CANNOT_UPDATE_INVOICE"}
DELETE = {"DRAFT": None, "SCHEDULED": None, "UNPAID": "CANNOT_DELETE_INVOICE",
          "PARTIALLY_PAID": "CANNOT_DELETE_INVOICE", "MARKED_AS_PAID": "CANNOT_DELETE_INVOICE",
          "PAID": "CANNOT_DELETE_INVOICE", "CANCELLED": "CANNOT_DELETE_INVOICE"}
REMIND = {s: None if s in ("UNPAID", "PARTIALLY_PAID") else "CANNOT_REMIND_INVOICE"
          for s in STATUSES}


def _attempt(paypal, action, invoice_id, invoice_body):
    path = f"{INVOICES}/{invoice_id}"
    if action == "send":
        return paypal.post(f"{path}/send", {})
    if action == "cancel":
        return paypal.post(f"{path}/cancel", {})
    if action == "remind":
        return paypal.post(f"{path}/remind", {})
    if action == "pay":
        return _pay(paypal, invoice_id, "5.00")
    if action == "update":
        return paypal.put(path, invoice_body(memo="edited"))
    return paypal.delete(path)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action,table", [("send", SEND), ("cancel", CANCEL), ("pay", PAY),
                                          ("update", UPDATE), ("delete", DELETE),
                                          ("remind", REMIND)])
def test_status_machine(paypal, state, invoice_body, status, action, table):
    invoice_id = _in_status(paypal, state, invoice_body, status)
    response = _attempt(paypal, action, invoice_id, invoice_body)
    expected = table[status]
    if expected is None:
        assert response.status_code in (200, 202, 204), response.text
    else:
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["name"] == "UNPROCESSABLE_ENTITY"
        assert _issue(response) == expected
        assert state.invoice(invoice_id)["status"] == status  # nothing changed


def test_cancel_records_who_and_when(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    assert paypal.post(f"{INVOICES}/{invoice_id}/cancel", {}).status_code == 204
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "CANCELLED"
    assert invoice["detail"]["metadata"]["cancel_time"] == "2025-03-01T00:00:00Z"


def test_invoicer_must_be_the_merchant(paypal, invoice_body, state):
    body = invoice_body()
    body["invoicer"] = {"email_address": "someone.else@example.com"}
    response = paypal.post(INVOICES, body)
    assert response.status_code == 422 and _issue(response) == "USER_NOT_FOUND"
    body["invoicer"] = {"email_address": state.rules.merchant_email.upper()}
    assert paypal.post(INVOICES, body).status_code == 201


def test_rules_default_to_current_docs():
    rules = InvoicingRules()
    assert (rules.sent_status, rules.paid_status) == ("UNPAID", "MARKED_AS_PAID")
