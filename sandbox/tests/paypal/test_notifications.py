"""Who PayPal emailed: every successful send, update, cancel, remind and record-payment call is
recorded with the flags in effect (the spec's defaults when left out) and the invoice's status."""

from __future__ import annotations

import pytest

INVOICES = "/v2/invoicing/invoices"
CONTROL = "/_sandbox/paypal"


def emailed(state, invoice_id):
    return [(n["operation"], n["recipient_emailed"], n["invoicer_emailed"])
            for n in state.notifications(invoice_id)]


@pytest.fixture
def sent(paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    assert paypal.send(invoice_id).status_code == 200
    return invoice_id


def test_send_emails_the_recipient_not_the_invoicer_by_default(paypal, state, invoice_body,
                                                                clock):
    invoice_id = paypal.create(invoice_body())["id"]
    assert paypal.post(f"{INVOICES}/{invoice_id}/send", {}).status_code == 200
    assert state.notifications() == [{
        "invoice_id": invoice_id, "operation": "send", "recipient_emailed": True,
        "invoicer_emailed": False, "status_before": "DRAFT", "status_after": "UNPAID",
        "at": clock.now, "send_to_recipient": True, "send_to_invoicer": False}]


def test_send_without_a_body_uses_the_same_defaults(paypal, state, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    assert paypal.post(f"{INVOICES}/{invoice_id}/send").status_code == 200
    assert emailed(state, invoice_id) == [("send", True, False)]


def test_send_flags_are_followed(paypal, state, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.post(f"{INVOICES}/{invoice_id}/send",
                {"send_to_recipient": False, "send_to_invoicer": True})
    assert emailed(state, invoice_id) == [("send", False, True)]
    assert state.invoice(invoice_id)["status"] == "UNPAID"  # payable by share link


def test_resending_emails_nobody(paypal, state, sent):
    assert paypal.post(f"{INVOICES}/{sent}/send", {"send_to_invoicer": True}).status_code == 200
    last = state.notifications(sent)[-1]
    assert (last["recipient_emailed"], last["invoicer_emailed"]) == (False, False)
    assert (last["status_before"], last["status_after"]) == ("UNPAID", "UNPAID")


def test_a_scheduled_send_emails_the_recipient_whatever_the_flag(paypal, state, invoice_body):
    invoice_id = paypal.create(invoice_body(invoice_date="2025-04-01"))["id"]
    response = paypal.post(f"{INVOICES}/{invoice_id}/send", {"send_to_recipient": False})
    assert response.status_code == 202
    assert emailed(state, invoice_id) == [("send", True, False)]
    assert state.notifications(invoice_id)[0]["status_after"] == "SCHEDULED"


def test_a_recipient_without_an_email_address_is_never_emailed(paypal, state, invoice_body):
    body = invoice_body()
    del body["primary_recipients"][0]["billing_info"]["email_address"]
    invoice_id = paypal.create(body)["id"]
    paypal.send(invoice_id)
    paypal.put(f"{INVOICES}/{invoice_id}", body)
    assert emailed(state, invoice_id) == [("send", False, False), ("update", False, True)]


def test_update_emails_recipient_and_invoicer_by_default(paypal, state, invoice_body, sent):
    assert paypal.put(f"{INVOICES}/{sent}", invoice_body(memo="changed")).status_code == 200
    last = state.notifications(sent)[-1]
    assert (last["operation"], last["recipient_emailed"], last["invoicer_emailed"]) == (
        "update", True, True)
    assert (last["send_to_recipient"], last["send_to_invoicer"]) == (True, True)
    assert (last["status_before"], last["status_after"]) == ("UNPAID", "UNPAID")


def test_update_query_flags_are_followed(paypal, state, invoice_body, sent):
    response = paypal.put(f"{INVOICES}/{sent}", invoice_body(memo="quiet"),
                          params={"send_to_recipient": "false", "send_to_invoicer": "false"})
    assert response.status_code == 200
    paypal.put(f"{INVOICES}/{sent}", invoice_body(memo="loud"),
               params={"send_to_recipient": "False"})
    assert emailed(state, sent)[1:] == [("update", False, False), ("update", False, True)]


def test_a_bad_update_flag_is_400_and_changes_nothing(paypal, state, invoice_body, sent):
    response = paypal.put(f"{INVOICES}/{sent}", invoice_body(memo="never"),
                          params={"send_to_recipient": "no"})
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "send_to_recipient"
    assert state.invoice(sent)["detail"].get("memo") != "never"
    assert [n["operation"] for n in state.notifications(sent)] == ["send"]


def test_cancel_emails_the_recipient_by_default(paypal, state, sent):
    assert paypal.post(f"{INVOICES}/{sent}/cancel", {}).status_code == 204
    last = state.notifications(sent)[-1]
    assert (last["operation"], last["recipient_emailed"], last["invoicer_emailed"]) == (
        "cancel", True, False)
    assert (last["status_before"], last["status_after"]) == ("UNPAID", "CANCELLED")


def test_cancel_flags_are_followed(paypal, state, sent):
    paypal.post(f"{INVOICES}/{sent}/cancel", {"send_to_recipient": False,
                                              "send_to_invoicer": True})
    assert emailed(state, sent)[-1] == ("cancel", False, True)


def test_remind_emails_the_recipient_by_default_and_keeps_the_status(paypal, state, sent):
    assert paypal.post(f"{INVOICES}/{sent}/remind", {}).status_code == 204
    paypal.post(f"{INVOICES}/{sent}/remind", {"send_to_recipient": False})
    assert emailed(state, sent)[1:] == [("remind", True, False), ("remind", False, False)]
    assert state.notifications(sent)[-1]["status_after"] == "UNPAID"


def test_recording_a_payment_emails_nobody(paypal, state, sent):
    response = paypal.post(f"{INVOICES}/{sent}/payments", {"method": "CASH"})
    assert response.status_code == 200
    last = state.notifications(sent)[-1]
    assert (last["operation"], last["recipient_emailed"], last["invoicer_emailed"]) == (
        "record_payment", False, False)
    assert (last["send_to_recipient"], last["send_to_invoicer"]) == (None, None)
    assert (last["status_before"], last["status_after"]) == ("UNPAID", "MARKED_AS_PAID")


def test_an_invoice_paid_in_the_end_whose_recipient_was_never_emailed(paypal, state,
                                                                      invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    paypal.post(f"{INVOICES}/{invoice_id}/send", {"send_to_recipient": False})
    paypal.put(f"{INVOICES}/{invoice_id}", invoice_body(memo="fixed"),
               params={"send_to_recipient": "false", "send_to_invoicer": "false"})
    paypal.post(f"{INVOICES}/{invoice_id}/payments", {"method": "BANK_TRANSFER"})
    notes = state.notifications(invoice_id)
    assert [n["operation"] for n in notes] == ["send", "update", "record_payment"]
    assert notes[-1]["status_after"] == "MARKED_AS_PAID"
    assert not any(n["recipient_emailed"] for n in notes)


def test_refused_and_malformed_calls_are_not_recorded(paypal, state, invoice_body):
    draft = paypal.create(invoice_body())["id"]
    assert paypal.post(f"{INVOICES}/{draft}/cancel", {}).status_code == 422
    assert paypal.post(f"{INVOICES}/{draft}/remind", {}).status_code == 422
    assert paypal.post(f"{INVOICES}/{draft}/payments", {"method": "CASH"}).status_code == 422
    bad = paypal.post(f"{INVOICES}/{draft}/send", {"send_to_recipient": "false"})
    assert bad.status_code == 400
    assert bad.json()["details"][0]["field"] == "/send_to_recipient"
    assert paypal.post(f"{INVOICES}/INV2-NONE-NONE-NONE-NONE/send", {}).status_code == 404
    assert state.notifications() == []
    assert state.invoice(draft)["status"] == "DRAFT"


def test_hand_actions_in_the_sandbox_are_not_api_notifications(state, invoice_body):
    invoice = state.add_invoice(invoice_body(), send=True)
    state.record_payment(invoice["id"])
    assert state.notifications() == []


def test_notifications_over_the_control_routes(paypal, client, state, sent, invoice_body):
    other = paypal.create(invoice_body(reference="cliniko-2"))["id"]
    paypal.send(other)
    everything = client.get(f"{CONTROL}/notifications").json()["notifications"]
    assert [n["invoice_id"] for n in everything] == [sent, other]
    one = client.get(f"{CONTROL}/notifications", params={"invoice_id": other}).json()
    assert [n["operation"] for n in one["notifications"]] == ["send"]
    assert client.delete(f"{CONTROL}/notifications").status_code == 204
    assert state.notifications() == []
    paypal.send(paypal.create(invoice_body(reference="cliniko-3"))["id"])
    assert client.post(f"{CONTROL}/reset").status_code == 204
    assert client.get(f"{CONTROL}/notifications").json() == {"notifications": []}
