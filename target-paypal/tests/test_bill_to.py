"""Third-party payers: an invoice of a patient billed to a plan manager or an insurer names the
payer as PayPal's recipient business, with the extra information the mapper placed."""

from __future__ import annotations

from target_harness import paypal_by_reference

PLAN = "Coastal Plan Management"
PLAN_EMAIL = "accounts@coastalplans.example.com.au"
INSURER = "Sample Health Insurance"
NDIS = "NDIS participant 430123456"


def billed_clinic(clinic):
    """Two patients of one plan manager (sharing its email), two paying themselves."""
    data = clinic(customers=4, invoices=24)
    managed = sorted(data.customers)[:2]
    for customer_id in managed:
        data.customers[customer_id].update(
            business_name=PLAN, email=PLAN_EMAIL, shared_email="allow"
        )
    for n, (_, header) in enumerate(sorted(data.invoices.items())):
        customer = data.customers[header["customer_id"]]
        own_name = f"{customer['given_name']} {customer['surname']}"
        header["bill_to"] = [PLAN, own_name, INSURER][n % 3]
        if n % 4 == 0:
            header["additional_info"] = NDIS
        if n % 4 == 1:
            header["line_description"] = NDIS
    return data, set(managed)


def wanted_payer(header: dict, managed: set[str]) -> str | None:
    if header["customer_id"] not in managed:
        return None  # paying themselves: their invoice_to is just their own name and address
    own = header["bill_to"].startswith("Given")
    return PLAN if own else header["bill_to"]  # an invoice naming the patient: the default payer


def check_recipients(target, data, managed: set[str]) -> dict[str, int]:
    found = paypal_by_reference(target.sandbox)
    seen = {"payer": 0, "patient": 0}
    for invoice_id, header in data.invoices.items():
        if data.expected_status(invoice_id) is None:
            continue
        [invoice] = found[invoice_id]
        billing = invoice["primary_recipients"][0]["billing_info"]
        customer = data.customers[header["customer_id"]]
        assert billing.get("business_name") == wanted_payer(header, managed), invoice_id
        assert billing["email_address"] == customer["email"], invoice_id
        assert billing["name"]["surname"] == customer["surname"], invoice_id
        assert billing.get("additional_info") == header.get("additional_info"), invoice_id
        for item in invoice["items"]:
            assert item.get("description") == header.get("line_description"), invoice_id
        seen["payer" if billing.get("business_name") else "patient"] += 1
    return seen


def test_invoices_go_to_the_payer_and_a_changed_payer_is_written_again(target, clinic) -> None:
    data, managed = billed_clinic(clinic)
    assert target.run(data.messages()).returncode == 0
    seen = check_recipients(target, data, managed)
    assert seen["payer"] >= 4 and seen["patient"] >= 4, seen

    # A bookkeeper readdresses an open invoice of a plan-managed patient to an insurer.
    [moved] = [
        i for i, h in sorted(data.invoices.items())
        if h["customer_id"] in managed and h["target_status"] == "SENT" and h["bill_to"] == PLAN
    ][:1]
    data.invoices[moved]["bill_to"] = INSURER
    target.sandbox.paypal.clear_call_log()
    assert target.run(data.messages()).returncode == 0
    assert check_recipients(target, data, managed) == seen
    [paypal_id] = [i["id"] for i in paypal_by_reference(target.sandbox)[moved]]
    written = {w.path for w in target.sandbox.paypal.writes()}
    assert written and all(paypal_id in path for path in written), written
