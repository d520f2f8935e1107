"""Record refund and delete external refund (`POST|DELETE /v2/invoicing/invoices/{id}/refunds`).

As PayPal's spec and notes say: the body is a `refund_detail` (`method` required, `refund_date`,
`amount`; without an amount, all that is paid and not yet refunded); the answer is
`{"refund_id": ...}`. Recorded refunds cannot exceed recorded payments (422
INVALID_REFUND_AMOUNT), and only an invoice with payments takes one (422
CANNOT_PROCESS_REFUNDS). Refunded in full, a PayPal-paid invoice is REFUNDED and one paid
outside PayPal MARKED_AS_REFUNDED; in part, PARTIALLY_REFUNDED. Error texts are the spec's own
(`invoices.refunds-400`, `-422`).

UNCONFIRMED: the spec does not say which statuses take a refund; here those with a payment
(PAID, MARKED_AS_PAID, PARTIALLY_PAID, PARTIALLY_REFUNDED), as the notes infer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import amounts
from .errors import PayPalError, detail, unprocessable
from .store import new_external_payment_id
from .validation import PAYMENT_METHODS, AmountTexts, Checker, check_amount, parse_date

REFUNDABLE = frozenset({"PAID", "MARKED_AS_PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED"})
METHOD_TEXT = "The value provided is not an acceptable method of refund."
REFUND_TEXTS = AmountTexts(
    not_money="Amount value is invalid. Should be a numeric value.",
    currency="Currency code is not supported. Please provide a valid currency code.",
    zero="Refund amount cannot be zero.",
    invalid="Refund amount value is invalid. Can have non-negative value with maximum 7 digits "
    "and upto 2 fractions.",
)


def validate_refund(body: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    """A record-refund body (`refund_detail`), with the spec's issue texts."""
    check = Checker()
    method = body.get("method")
    if method is None:
        check.add("MISSING_REQUIRED_PARAMETER",
                  "Payment method is missing. Please provide a valid payment method.", "/method")
    elif method not in PAYMENT_METHODS:
        check.add("INVALID_REFUND_METHOD", METHOD_TEXT, "/method", method)
    if "refund_date" in body and parse_date(body["refund_date"]) is None:
        check.add("INVALID_PARAMETER_SYNTAX", METHOD_TEXT, "/refund_date", body["refund_date"])
    amount = body.get("amount")
    if amount is not None:
        check_amount(check, amount, currency, REFUND_TEXTS)
    return check.details


def record_refund(invoice: dict[str, Any], body: dict[str, Any], today: str) -> str:
    """Add an external refund to the invoice (changed in place); returns its id."""
    currency = invoice["detail"]["currency_code"]
    problems = validate_refund(body, currency)
    if problems:
        raise PayPalError(400, problems)
    if invoice["status"] not in REFUNDABLE:
        raise unprocessable("CANNOT_PROCESS_REFUNDS",
                            "Current invoice state does not support refunds.")
    left = _paid(invoice) - _refunded(invoice)
    value = Decimal(body["amount"]["value"]) if body.get("amount") else left
    if value > left or value <= 0:
        raise unprocessable("INVALID_REFUND_AMOUNT",
                            "Recorded refunds cannot exceed recorded payments.")
    refund = {"refund_id": new_external_payment_id(), "type": "EXTERNAL",
              "refund_date": body.get("refund_date", today), "method": body["method"],
              "amount": amounts.money(value, currency)}
    refunds = invoice.setdefault("refunds", {"transactions": []})
    refunds["transactions"].append(refund)
    _settle(invoice, "")
    return str(refund["refund_id"])


def delete_refund(invoice: dict[str, Any], refund_id: str, paid_status: str) -> None:
    """Remove a recorded (external) refund; the invoice is paid again as far as that goes."""
    transactions = (invoice.get("refunds") or {}).get("transactions") or []
    kept = [t for t in transactions
            if not (t.get("refund_id") == refund_id and t.get("type") == "EXTERNAL")]
    if len(kept) == len(transactions):
        raise PayPalError(404, [detail("INVALID_RESOURCE_ID", "Requested resource ID was not "
                                       "found.", field="transaction_id", value=refund_id,
                                       location="path")])
    invoice["refunds"]["transactions"] = kept
    _settle(invoice, paid_status)


def _paid(invoice: dict[str, Any]) -> Decimal:
    return amounts.paid_total((invoice.get("payments") or {}).get("transactions") or [])


def _refunded(invoice: dict[str, Any]) -> Decimal:
    return amounts.paid_total((invoice.get("refunds") or {}).get("transactions") or [])


def _settle(invoice: dict[str, Any], paid_status: str) -> None:
    """The refund total and the status after a refund was recorded or deleted.

    `paid_status`: what an invoice paid in full outside PayPal shows (the sandbox's rule).
    """
    currency = invoice["detail"]["currency_code"]
    refunded, paid = _refunded(invoice), _paid(invoice)
    transactions = invoice["refunds"]["transactions"]
    if not transactions:
        invoice.pop("refunds")
    else:
        invoice["refunds"]["refund_amount"] = amounts.money(refunded, currency)
    payments = (invoice.get("payments") or {}).get("transactions") or []
    external = all(t.get("type") == "EXTERNAL" for t in payments)
    if refunded and refunded >= paid:
        invoice["status"] = "MARKED_AS_REFUNDED" if external else "REFUNDED"
    elif refunded:
        invoice["status"] = "PARTIALLY_REFUNDED"
    else:
        in_full = paid >= Decimal(invoice["amount"]["value"])
        invoice["status"] = (paid_status if external else "PAID") if in_full else "PARTIALLY_PAID"
