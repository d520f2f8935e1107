"""Record payment keeps `payment_detail.note` (spec: maxLength 2000) and GET returns it in
`payments.transactions[]`, so a client can tell its own payments from others after a lost answer."""

from __future__ import annotations

import pytest

INVOICES = "/v2/invoicing/invoices"


@pytest.fixture
def sent(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.send(invoice_id)
    return invoice_id


def pay(paypal, invoice_id, **body):
    return paypal.post(f"{INVOICES}/{invoice_id}/payments", {"method": "BANK_TRANSFER", **body})


def test_the_note_comes_back_with_the_payment(paypal, state, sent):
    ours = "sync:cliniko-payment-881 ✓"
    first = pay(paypal, sent, note=ours,
                amount={"currency_code": "AUD", "value": "40.00"}).json()["payment_id"]
    state.record_payment(sent, "CASH", "10.00")  # by hand in PayPal: no note
    transactions = paypal.invoice(sent)["payments"]["transactions"]
    assert [(t["payment_id"], t.get("note")) for t in transactions] == [
        (first, ours), (transactions[1]["payment_id"], None)]
    assert transactions[0]["amount"] == {"currency_code": "AUD", "value": "40.00"}


def test_a_note_of_2000_characters_is_kept_whole(paypal, sent):
    assert pay(paypal, sent, note="n" * 2000).status_code == 200
    assert paypal.invoice(sent)["payments"]["transactions"][0]["note"] == "n" * 2000


def test_a_note_over_2000_characters_is_refused_and_nothing_is_recorded(paypal, state, sent):
    response = pay(paypal, sent, note="n" * 2001)
    assert response.status_code == 400
    assert response.json()["name"] == "INVALID_REQUEST"
    assert [(d["issue"], d["field"]) for d in response.json()["details"]] == [
        ("INVALID_STRING_MAX_LENGTH", "/note")]
    assert "payments" not in state.invoice(sent)
    assert state.invoice(sent)["status"] == "UNPAID"


def test_a_note_that_is_not_a_string_is_refused(paypal, sent):
    response = pay(paypal, sent, note=881)
    assert response.status_code == 400
    assert [(d["issue"], d["field"]) for d in response.json()["details"]] == [
        ("INVALID_PARAMETER_SYNTAX", "/note")]
