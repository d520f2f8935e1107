"""A Cliniko patient as a customer: email, name, phone, address, payer, merge, custom fields."""

from __future__ import annotations

import re
from typing import Any

from map_cliniko_paypal.bill_to import payer_of_patient, shared_email_rule
from map_cliniko_paypal.custom_fields import by_name
from map_cliniko_paypal.rules import WITHOUT_EMAIL, Rules
from map_cliniko_paypal.values import Reject, Skip, required, text

EMAIL = re.compile(r"^[^@\s]+@[^@\s\"-][^@\s]*\.[^@\s]+$")
PHONE_TYPES = {"mobile": "MOBILE", "home": "HOME", "work": "OTHER", "fax": "FAX", "pager": "PAGER"}


def _phone(numbers: Any) -> dict[str, Any] | None:
    if not numbers or not isinstance(numbers, list) or not isinstance(numbers[0], dict):
        return None
    first = numbers[0]
    normalized = str(first.get("normalized_number") or "")
    digits = re.sub(r"\D", "", normalized or str(first.get("number") or ""))
    if normalized.startswith("+61") or (
        not normalized and digits.startswith("61") and len(digits) == 11
    ):
        national = digits[2:]
    elif not normalized and digits.startswith("0") and len(digits) == 10:
        national = digits[1:]  # an Australian number written nationally
    else:
        return None  # not an Australian number we can split safely: leave the phone off
    if not national or len(national) > 14:
        return None
    kind = PHONE_TYPES.get(str(first.get("phone_type") or "").lower(), "OTHER")
    return {"country_code": "61", "national_number": national, "phone_type": kind}


def map_patient(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """A Cliniko patient as a customers record.

    Without a usable email it is parked or skipped (`customers.missing_email`); with
    `without_email`, a patient who has no email at all goes out without one (PayPal makes the
    invoice payable by its link, and emails no one), while an invalid email is still parked:
    it is a typo to correct, not a choice.
    """
    patient_id = str(required(record, "id"))
    email: str | None = (
        (record.get("invoice_email") or "").strip() or (record.get("email") or "").strip()
    )
    merged_into = record.get("merged_with_patient_id")
    if merged_into:
        return _merged(patient_id, str(merged_into), record)
    if not email and rules.missing_email == WITHOUT_EMAIL:
        email = None
    elif not email or len(email) > 254 or not EMAIL.match(email):
        if rules.missing_email == WITHOUT_EMAIL:
            raise Reject(
                "no usable email (the email is not a valid address): correct it in Cliniko"
            )
        raise (Skip if rules.missing_email == "skip" else Reject)(
            "no usable email (invoice_email and email are empty or invalid): add one in Cliniko"
        )
    address_fields = {
        "address_line_1": text(record.get("address_1")),
        "address_line_2": text(record.get("address_2")),
        "admin_area_2": text(record.get("city")),
        "admin_area_1": text(record.get("state")),
        "postal_code": text(record.get("post_code")),
    }
    address = None
    if any(address_fields.values()):
        country = str(record.get("country_code") or "").upper()
        if not re.match(r"^[A-Z]{2}$", country):
            country = rules.default_country_code
        address = {**address_fields, "country_code": country}
    payer = payer_of_patient(record, rules)
    return {
        "customer_id": patient_id,
        "email": email,
        "given_name": text(record.get("preferred_first_name") or record.get("first_name")),
        "surname": text(record.get("last_name")),
        "business_name": payer,
        "phone": _phone(record.get("patient_phone_numbers")),
        "address": address,
        "shared_email": shared_email_rule(record, payer, rules),
        "updated_at": record.get("updated_at"),
        **_custom_fields(record, rules),
    }


def _custom_fields(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """The custom fields the templates name, and only those (they may be health information)."""
    if not rules.custom_field_names:
        return {}
    values = by_name(record.get("custom_fields"))
    return {"custom_fields": {name: values.get(name) for name in rules.custom_field_names}}


def _merged(patient_id: str, survivor: str, record: dict[str, Any]) -> dict[str, Any]:
    """A patient merged into another: their invoices follow the survivor's billing details."""
    return {
        "customer_id": patient_id,
        "merged_into": survivor,
        "email": None,
        "updated_at": record.get("updated_at"),
    }
