"""Third-party payers: the recipient a plan manager or insurer sees, and extra information."""

from __future__ import annotations

from dataclasses import replace

import pytest
from map_test_helpers import assert_contract
from test_mapping import RULES, invoice, one, patient

PLAN_MANAGER = "Coastal Plan Management\nPO Box 12\nGosford NSW 2250"
PLAN_EMAIL = "accounts@coastalplans.example.com.au"
NDIS = "NDIS participant 430123456"


def plan_managed(**overrides):
    return patient(invoice_default_to=PLAN_MANAGER, invoice_email=PLAN_EMAIL, **overrides)


def test_a_patient_billed_to_a_third_party_names_the_payer_and_shares_its_email_freely() -> None:
    stream, c = one("patients", plan_managed())
    assert stream == "customers"
    assert c["business_name"] == "Coastal Plan Management"  # the first line, not the address
    assert c["email"] == PLAN_EMAIL and c["given_name"] == "Deborah"
    # Patients of one plan manager share its email: not a conflict, whatever shared_email says.
    assert c["shared_email"] == "allow"
    assert_contract("customers", c)


def test_a_payer_without_a_billing_email_keeps_the_shared_email_rule() -> None:
    # The invoice is addressed to the payer but emailed to the patient's own address.
    _, c = one("patients", patient(invoice_default_to=PLAN_MANAGER))
    assert c["business_name"] == "Coastal Plan Management" and c["email"] == "deb@example.com"
    assert c["shared_email"] == "park"


def test_a_patient_without_a_payer_is_their_own_recipient() -> None:
    # An employer's invoice_email without invoice_default_to is not a third party in Cliniko.
    _, c = one("patients", patient(invoice_default_to="  \n", invoice_email=PLAN_EMAIL))
    assert c["business_name"] is None and c["shared_email"] == "park"


def test_third_party_false_sends_every_invoice_to_the_patient() -> None:
    rules = replace(RULES, third_party=False)
    _, c = one("patients", plan_managed(), rules)
    assert c["business_name"] is None and c["shared_email"] == "park"
    _, h = one("invoices", invoice(invoice_to=PLAN_MANAGER), rules)
    assert "bill_to" not in h


def test_an_invoice_names_who_it_is_addressed_to() -> None:
    _, h = one("invoices", invoice(invoice_to="  Sample Health Insurance\r\nClaims dept"))
    assert h["bill_to"] == "Sample Health Insurance"
    assert_contract("invoices", h)


def test_extra_information_goes_nowhere_by_default() -> None:
    _, h = one("invoices", invoice(patient_extra_information=NDIS))
    assert NDIS not in str(h)


@pytest.mark.parametrize(
    ("place", "field", "value"),
    [
        ("additional_info", "additional_info", NDIS),
        ("note", "note", f"Thank you for visiting the clinic.\n\n{NDIS}"),
        ("memo", "memo", f"Cliniko invoice 17, owner {{owner}}\n\n{NDIS}"),
        ("line", "line_description", NDIS),
    ],
)
def test_extra_information_goes_where_the_rule_says(place, field, value) -> None:
    rules = replace(RULES, extra_information=place)
    stream, h = one("invoices", invoice(patient_extra_information=f" {NDIS}\n"), rules)
    assert stream == "invoices" and h[field] == value
    assert_contract("invoices", h)


def test_extra_information_too_long_for_additional_info_is_parked_saying_what_to_do() -> None:
    rules = replace(RULES, extra_information="additional_info")
    long = "Referring GP Dr A. Example, provider 1234567A"
    stream, r = one("invoices", invoice(patient_extra_information=long), rules)
    assert stream == "rejects" and r["action"] == "park"
    assert "40 characters" in r["reason"] and "bill_to.extra_information" in r["reason"]
    assert long not in r["reason"]  # health information stays out of the reason


def test_extra_information_too_long_for_the_memo_is_parked() -> None:
    rules = replace(RULES, extra_information="memo")
    stream, r = one("invoices", invoice(patient_extra_information="x" * 480), rules)
    assert stream == "rejects" and "memo longer than PayPal's 500" in r["reason"]
