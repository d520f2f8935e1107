"""PayPal's arithmetic for an invoice total, to know when all of an invoice's lines are staged.

Per line (half-up to the cent, as PayPal rounds): gross = quantity x unit amount; minus the
discount (an amount, or a percent of gross); tax-exclusive lines add tax = net x rate / 100;
tax-inclusive lines already contain it. The invoice total is the sum of its lines.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


def line_total(line: dict[str, Any], tax_inclusive: bool) -> Decimal:
    """One line's amount as PayPal computes it, rounded half-up to the cent."""
    gross = Decimal(line["quantity"]) * Decimal(line["unit_amount"])
    if line.get("discount_amount"):
        discount = Decimal(line["discount_amount"])
    else:
        percent = Decimal(line.get("discount_percent") or "0")
        discount = (gross * percent / 100).quantize(CENT, ROUND_HALF_UP)
    net = gross - discount
    if tax_inclusive:
        return net.quantize(CENT, ROUND_HALF_UP)
    tax = (net * Decimal(line.get("tax_percent") or "0") / 100).quantize(CENT, ROUND_HALF_UP)
    return (net + tax).quantize(CENT, ROUND_HALF_UP)


def invoice_total(lines: list[dict[str, Any]], tax_inclusive: bool) -> Decimal:
    """The invoice total PayPal will compute: the sum of its lines."""
    return sum((line_total(line, tax_inclusive) for line in lines), Decimal("0"))
