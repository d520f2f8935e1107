"""Third-party payers: who an invoice is addressed to, and where extra patient information goes.

Cliniko's "Invoice to" names a third party (an NDIS plan manager, an insurer, an employer, a
parent) only when the patient's billing information says so (`invoice_default_to`). When it is
blank, Cliniko fills each invoice's `invoice_to` with the patient's own name and address, so an
invoice's `invoice_to` alone does not tell a payer from the patient. Hence: a patient with an
`invoice_default_to` is billed to a third party (the customer's `business_name`), and each of
their invoices names the payer in its `invoice_to` (`bill_to`), which a bookkeeper may have
edited on that one invoice.
"""

from __future__ import annotations

from typing import Any

from map_cliniko_paypal.rules import Rules
from map_cliniko_paypal.values import Reject, text

ADDITIONAL_INFO_MAX = 40  # PayPal's billing_info.additional_info
LIMITS = {"note": 4000, "memo": 500, "line": 1000}


def first_line(value: Any) -> str | None:
    """The first line that is not blank, as PayPal should show it (a payer's name)."""
    for line in str(value or "").splitlines():
        shown = text(line)
        if shown:
            return shown[:300]
    return None


def payer_of_patient(record: dict[str, Any], rules: Rules) -> str | None:
    """The third party a patient's invoices are addressed to by default, if any."""
    return first_line(record.get("invoice_default_to")) if rules.third_party else None


def shared_email_rule(record: dict[str, Any], payer: str | None, rules: Rules) -> str:
    """`customers.shared_email` for this patient: a payer's billing email is meant to be shared.

    Patients billed to one plan manager share its `invoice_email`; that is not a conflict, so
    the rule applies to personal emails only.
    """
    if payer and (record.get("invoice_email") or "").strip():
        return "allow"
    return rules.shared_email


def place_extra_information(record: dict[str, Any], mapped: dict[str, Any], rules: Rules) -> None:
    """Put the invoice's extra patient information where `bill_to.extra_information` says.

    Reject one too long for its place (PayPal would refuse or cut it, and a payer needs all of
    a participant or policy number).
    """
    where = rules.extra_information
    extra = text(record.get("patient_extra_information"))
    if where == "none" or not extra:
        return
    if where == "additional_info":
        if len(extra) > ADDITIONAL_INFO_MAX:
            raise Reject(
                f"patient_extra_information is longer than PayPal's {ADDITIONAL_INFO_MAX} "
                "characters for additional_info: shorten it in Cliniko, or set "
                "bill_to.extra_information to note"
            )
        mapped["additional_info"] = extra
        return
    field = "line_description" if where == "line" else where
    combined = "\n\n".join(part for part in (mapped.get(field), extra) if part)
    if len(combined) > LIMITS[where]:
        raise Reject(
            f"patient_extra_information makes the {where} longer than PayPal's "
            f"{LIMITS[where]} characters: shorten it in Cliniko"
        )
    mapped[field] = combined
