"""Patients without an email (the mapping's `customers.missing_email: without_email`): their
invoices reach PayPal with no recipient email, payable, and nobody is emailed."""

from __future__ import annotations

from target_harness import paypal_by_reference


def test_invoices_of_patients_without_email_are_payable_and_email_no_one(target, clinic) -> None:
    data = clinic(customers=4, invoices=20)
    without = sorted(data.customers)[:2]  # two of them: no email is not a shared email
    for customer_id in without:
        data.customers[customer_id]["email"] = None
    assert target.run(data.messages()).returncode == 0

    found = paypal_by_reference(target.sandbox)
    checked = {"without": 0, "with": 0}
    for invoice_id, header in data.invoices.items():
        want = data.expected_status(invoice_id)
        if want is None:
            continue
        [invoice] = found[invoice_id]
        assert invoice["status"] == want, invoice_id
        billing = invoice["primary_recipients"][0]["billing_info"]
        no_email = header["customer_id"] in without
        assert ("email_address" not in billing) == no_email, invoice_id
        if header["target_status"] != "SENT":
            continue
        [sent] = [n for n in target.sandbox.paypal.notifications(invoice["id"])
                  if n["operation"] == "send"]
        assert sent["recipient_emailed"] is not no_email, invoice_id
        assert sent["send_to_recipient"] is not no_email, "asked PayPal to email no address"
        checked["without" if no_email else "with"] += 1
    assert checked["without"] and checked["with"], checked
