"""`search-invoices` filters and the paging shared with the list operation.

All given criteria are ANDed (spec).  How each one matches (PayPal's exact-vs-partial rule is
UNCONFIRMED, notes §3.6; the sandbox errs towards exact so a client that trusts search for
de-duplication is tested against the strict case):

- exact: `invoice_number`, `reference`, `currency_code`, `status` (any of the list);
- exact, ignoring case: `recipient_email` (any primary recipient);
- case-insensitive substring: `recipient_first_name`, `recipient_last_name`,
  `recipient_business_name`, `memo` (free text fields);
- inclusive ranges: `invoice_date_range`, `due_date_range` (dates), `creation_date_range`,
  `payment_date_range` (date-times; payments carry only a date, compared at 00:00 UTC),
  `total_amount_range` (on `amount.value`);
- `archived`: the sandbox never archives, so `true` matches nothing and `false`/absent all.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .validation import parse_date, parse_datetime

Predicate = Callable[[dict[str, Any], Any], bool]


def _billing(invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return [r.get("billing_info") or {} for r in invoice.get("primary_recipients") or []]


def _contains(text: Any, wanted: str) -> bool:
    return isinstance(text, str) and wanted.lower() in text.lower()


def _in_range(value: Any, bounds: dict[str, Any], parse: Callable[[Any], Any]) -> bool:
    parsed = parse(value)
    return parsed is not None and parse(bounds["start"]) <= parsed <= parse(bounds["end"])


def _payment_in_range(invoice: dict[str, Any], bounds: dict[str, str]) -> bool:
    start, end = parse_datetime(bounds["start"]), parse_datetime(bounds["end"])
    for payment in (invoice.get("payments") or {}).get("transactions") or []:
        day = parse_date(payment.get("payment_date"))
        if day and start <= dt.datetime.combine(day, dt.time(), dt.UTC) <= end:  # type: ignore[operator]
            return True
    return False


def _total_in_range(invoice: dict[str, Any], bounds: dict[str, Any]) -> bool:
    total = Decimal(invoice["amount"]["value"])
    return (Decimal(bounds["lower_amount"]["value"]) <= total
            <= Decimal(bounds["upper_amount"]["value"]))


FILTERS: dict[str, Predicate] = {
    "invoice_number": lambda inv, v: inv["detail"].get("invoice_number") == v,
    "reference": lambda inv, v: inv["detail"].get("reference") == v,
    "currency_code": lambda inv, v: inv["detail"]["currency_code"] == v,
    "status": lambda inv, v: inv["status"] in v,
    "memo": lambda inv, v: _contains(inv["detail"].get("memo"), v),
    "recipient_email": lambda inv, v: any(
        (b.get("email_address") or "").lower() == v.lower() for b in _billing(inv)),
    "recipient_first_name": lambda inv, v: any(
        _contains((b.get("name") or {}).get("given_name"), v) for b in _billing(inv)),
    "recipient_last_name": lambda inv, v: any(
        _contains((b.get("name") or {}).get("surname"), v) for b in _billing(inv)),
    "recipient_business_name": lambda inv, v: any(
        _contains(b.get("business_name"), v) for b in _billing(inv)),
    "invoice_date_range": lambda inv, v: _in_range(inv["detail"].get("invoice_date"), v,
                                                   parse_date),
    "due_date_range": lambda inv, v: _in_range(
        (inv["detail"].get("payment_term") or {}).get("due_date"), v, parse_date),
    "creation_date_range": lambda inv, v: _in_range(
        inv["detail"]["metadata"]["create_time"], v, parse_datetime),
    "payment_date_range": _payment_in_range,
    "total_amount_range": _total_in_range,
    "archived": lambda inv, v: not v,
}


def matches(invoice: dict[str, Any], criteria: dict[str, Any]) -> bool:
    """Whether the invoice meets every search criterion given (None values are not criteria)."""
    return all(FILTERS[key](invoice, value) for key, value in criteria.items()
               if key in FILTERS and value is not None)


def search(invoices: list[dict[str, Any]], criteria: dict[str, Any]) -> list[dict[str, Any]]:
    """The invoices that match `criteria`, in the order given."""
    return [invoice for invoice in invoices if matches(invoice, criteria)]


def newest_first(invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PayPal lists the most recent invoices first; ties keep creation order reversed."""
    return list(reversed(invoices))


def page_of(invoices: list[dict[str, Any]], page: int, page_size: int,
            total_required: bool) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One page, plus `total_items`/`total_pages` only when asked for (spec)."""
    start = (page - 1) * page_size
    totals = {}
    if total_required:
        totals = {"total_items": len(invoices),
                  "total_pages": math.ceil(len(invoices) / page_size)}
    return invoices[start:start + page_size], totals


SUMMARY_DROPS = ("items", "payments", "refunds", "additional_recipients")


def summary(invoice: dict[str, Any]) -> dict[str, Any]:
    """`fields=none`: the invoice without its collections."""
    return {k: v for k, v in invoice.items() if k not in SUMMARY_DROPS}
