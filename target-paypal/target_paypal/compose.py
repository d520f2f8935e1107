"""Compose one PayPal Invoicing v2 invoice from a staged header, its lines and its customer.

Money stays a decimal string end to end; PayPal computes the amounts (tax per line, rounded
half-up), and the applier checks its total against Cliniko's.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from target_paypal.amounts import invoice_total
from target_paypal.store.kept import is_kept


class NotReady(Exception):
    """The invoice cannot be composed yet (lines or customer still to come); not an error.

    Args:
        reason: Why, with this invoice's figures.
        summary: The same without them, to group a run's reasons (default: `reason`).
    """

    def __init__(self, reason: str, summary: str | None = None) -> None:
        super().__init__(reason)
        self.summary = summary or reason


class LeftOut(Exception):
    """Rules leave every line of the invoice out: there is nothing to invoice."""


@dataclass(frozen=True)
class Invoicer:
    """The clinic as PayPal shows it; the email must be the PayPal business account's."""

    email_address: str | None = None
    business_name: str | None = None
    website: str | None = None
    tax_id: str | None = None

    def as_paypal(self) -> dict[str, Any]:
        """The invoice's `invoicer` block: only the fields that are set."""
        return {k: v for k, v in self.__dict__.items() if v}


def _clean(value: Any) -> Any:
    """Drop None and empty containers, so the body (and its hash) only carries what is set."""
    if isinstance(value, dict):
        cleaned = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def payer(customer: dict[str, Any], header: dict[str, Any]) -> str | None:
    """The third party an invoice is addressed to, or None when it goes to the customer.

    Only a customer billed to a third party (with a `business_name`) has one: the invoice's
    own `bill_to`, else the customer's. A `bill_to` naming the patient (their surname, as on
    invoices made before the patient's billing details named a payer) gives way to the default.
    """
    default = customer.get("business_name")
    if not default:
        return None
    bill_to = header.get("bill_to")
    surname = str(customer.get("surname") or "").casefold()
    if not bill_to or (surname and surname in re.findall(r"\w+", bill_to.casefold())):
        return str(default)
    return str(bill_to)


def recipient(customer: dict[str, Any], header: dict[str, Any] | None = None) -> dict[str, Any]:
    """The invoice's recipient (name, payer, email, address, phone) from a staged customer."""
    name = {"given_name": customer.get("given_name"), "surname": customer.get("surname")}
    phone = customer.get("phone")
    header = header or {}
    return {
        "billing_info": {
            "name": name,
            "business_name": payer(customer, header),
            "email_address": customer.get("email"),
            "address": customer.get("address"),
            "phones": [{"phone_type": "MOBILE", **phone}] if phone else [],
            "additional_info": header.get("additional_info"),
        }
    }


def customer_from_paypal(kept: dict[str, Any], invoice: dict[str, Any]) -> dict[str, Any] | None:
    """A cut-down customer with its recipient read back from a PayPal invoice.

    The inverse of `recipient`; None when that invoice has none.
    """
    recipients = invoice.get("primary_recipients") or []
    if not recipients:
        return None
    billing = recipients[0].get("billing_info") or {}
    name, phones = billing.get("name") or {}, billing.get("phones") or []
    return {
        **{k: v for k, v in kept.items() if not k.startswith("_")},
        "given_name": name.get("given_name"),
        "surname": name.get("surname"),
        "business_name": billing.get("business_name"),
        "email": billing.get("email_address"),
        "address": billing.get("address"),
        "phone": {k: v for k, v in phones[0].items() if k != "phone_type"} if phones else None,
    }


def item(line: dict[str, Any], currency: str, description: str | None = None) -> dict[str, Any]:
    """One PayPal invoice item from a staged line; money stays a decimal string.

    `description`: the invoice's `line_description`, for a line without one of its own.
    """
    discount = None
    if line.get("discount_amount"):
        discount = {"amount": {"currency_code": currency, "value": line["discount_amount"]}}
    elif line.get("discount_percent"):
        discount = {"percent": line["discount_percent"]}
    tax = None
    if line.get("tax_percent") is not None:
        tax = {"name": line.get("tax_name") or "Tax", "percent": line["tax_percent"]}
    return {
        "name": line["name"],
        "description": line.get("description") or description,
        "quantity": line["quantity"],
        "unit_amount": {"currency_code": currency, "value": line["unit_amount"]},
        "tax": tax,
        "discount": discount,
        "item_date": line.get("item_date"),
        "unit_of_measure": "QUANTITY",
    }


def compose(
    header: dict[str, Any],
    lines: list[dict[str, Any]],
    customer: dict[str, Any] | None,
    invoicer: Invoicer,
) -> dict[str, Any]:
    """The full invoice body for create or full-replace PUT. Raises NotReady while incomplete.

    A record cut down once its invoice closed (`store/kept.py`) has no content to compose: it
    is refused, never sent as an empty recipient or unnamed items.
    """
    if any(is_kept(r) for r in (header, customer, *lines)):
        raise NotReady("its details were not kept once it closed in PayPal", "details not kept")
    live = sorted(
        (ln for ln in lines if not ln.get("deleted")),
        key=lambda ln: (ln.get("position") or 0, ln["line_id"]),
    )
    if header.get("line_count") is not None and len(live) < header["line_count"]:
        raise NotReady(
            f"{len(live)} of {header['line_count']} lines staged", "not all its lines staged"
        )
    total = header.get("total")
    if total is not None and invoice_total(live, bool(header.get("tax_inclusive"))) != Decimal(
        total
    ):
        raise NotReady(
            f"the {len(live)} staged lines do not add up to Cliniko's total",
            "its staged lines do not add up to Cliniko's total",
        )
    if customer is None:
        raise NotReady("its customer is not staged (patient rejected or not selected)")
    invoiced = [ln for ln in live if not ln.get("excluded")]
    if not invoiced:
        raise LeftOut("every line is left out by a rule")
    currency = header["currency_code"]
    detail = {
        "invoice_number": header["invoice_number"],
        "reference": header["invoice_id"],
        "invoice_date": header["invoice_date"],
        "currency_code": currency,
        "note": header.get("note"),
        "memo": header.get("memo"),
        "payment_term": header.get("payment_term"),
    }
    body = {
        "detail": detail,
        # The business's own name, ABN, address and logo, when the clinic runs several; the
        # email always the account's (the header's block has none).
        "invoicer": {**invoicer.as_paypal(), **(header.get("invoicer") or {})},
        "primary_recipients": [recipient(customer, header)],
        "items": [item(ln, currency, header.get("line_description")) for ln in invoiced],
        "configuration": {
            "tax_inclusive": bool(header.get("tax_inclusive")),
            "tax_calculated_after_discount": True,
        },
    }
    return _clean(body)  # type: ignore[no-any-return]


def content_hash(body: dict[str, Any], header: dict[str, Any]) -> str:
    """What was applied: the body plus the wanted status and payment; unchanged -> skip."""
    wanted = {
        "body": body,
        "status": header["target_status"],
        "paid": [header.get("payment_date"), header.get("payment_method")],
    }
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
