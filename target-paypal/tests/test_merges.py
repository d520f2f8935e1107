"""A merged patient's invoices go to the patient it was merged into (Cliniko's merge)."""

from __future__ import annotations

from target_harness import paypal_by_reference


def merged_clinic(clinic):
    """Customer 0 is a duplicate of customer 1, merged into it; the duplicate has invoices."""
    data = clinic(customers=4, invoices=24)
    duplicate, survivor = sorted(data.customers)[:2]
    data.customers[duplicate] = {
        "customer_id": duplicate,
        "merged_into": survivor,
        "email": None,
    }
    return data, duplicate, survivor


def recipients(target, data, customer_id: str) -> dict[str, dict]:
    """The PayPal recipient of each of the customer's invoices that PayPal holds open."""
    found = paypal_by_reference(target.sandbox)
    return {
        invoice_id: found[invoice_id][0]["primary_recipients"][0]["billing_info"]
        for invoice_id, header in data.invoices.items()
        if header["customer_id"] == customer_id and header["target_status"] in ("SENT", "DRAFT")
    }


def test_a_merged_patients_invoices_follow_the_survivor(target, clinic) -> None:
    data, duplicate, survivor = merged_clinic(clinic)
    assert target.run(data.messages()).returncode == 0
    theirs = recipients(target, data, duplicate)
    assert theirs, "the duplicate needs open invoices"
    kept = data.customers[survivor]
    for invoice_id, billing in theirs.items():
        assert billing["email_address"] == kept["email"], invoice_id
        assert billing["name"] == {"given_name": kept["given_name"], "surname": kept["surname"]}
    # Every invoice is in PayPal: the merge is not an email two patients share.
    for invoice_id in data.invoices:
        if data.expected_status(invoice_id) is not None:
            assert paypal_by_reference(target.sandbox).get(invoice_id), invoice_id

    # The survivor's email changes: the duplicate's open invoices follow, nothing else moves.
    kept["email"] = "new.address@example.com"
    target.sandbox.paypal.clear_call_log()
    assert target.run(data.messages(only={"customers"})).returncode == 0
    for customer_id in (duplicate, survivor):
        for invoice_id, billing in recipients(target, data, customer_id).items():
            assert billing["email_address"] == "new.address@example.com", invoice_id
    touched = {w.path.split("/")[4] for w in target.sandbox.paypal.writes()}
    found = paypal_by_reference(target.sandbox)
    others = {
        found[i][0]["id"]
        for i, h in data.invoices.items()
        if h["customer_id"] not in (duplicate, survivor) and i in found
    }
    assert touched and not touched & others, "invoices of other patients were written"
