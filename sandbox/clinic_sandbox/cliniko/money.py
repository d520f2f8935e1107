"""How the sandbox prices invoice items and totals invoices (downstream tests reconcile to it).

All arithmetic is `decimal.Decimal`, rounded to the cent with ROUND_HALF_UP:

* per item: gross = quantity x unit_price
* discount = the monetary amount (`is_monetary_discount`) or round(gross x pct / 100, 2)
* tax-exclusive invoices (calculation_method 2):
    net_price = gross - discount; tax = round(net_price x rate / 100, 2);
    total_including_tax = net_price + tax
* tax-inclusive invoices (calculation_method 3):
    total_including_tax = gross - discount; tax = round(total x rate / (100 + rate), 2);
    net_price = total - tax
* per invoice: net_amount, tax_amount, total_amount and discounted_amount are the sums of the
  items' net_price, tax_amount, total_including_tax and discounted_amount over its
  non-deleted items.

On the wire money and rates are decimal strings ("110.00", "10.0"); only the item's
`total_including_tax` is a JSON number, as Cliniko's spec types it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
TAX_EXCLUSIVE = 2
TAX_INCLUSIVE = 3


def cents(value: Decimal) -> Decimal:
    """Round to the cent, halves away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ItemAmounts:
    """The amounts Cliniko stores on one invoice item, each rounded to the cent."""

    discount: Decimal
    net_price: Decimal
    tax: Decimal
    total_including_tax: Decimal


def item_amounts(
    quantity: Decimal,
    unit_price: Decimal,
    rate: Decimal,
    calculation_method: int,
    discount_percentage: Decimal | None = None,
    monetary_discount: Decimal | None = None,
) -> ItemAmounts:
    """Amounts of one invoice item, by the rule in this module's docstring."""
    gross = cents(quantity * unit_price)
    if monetary_discount is not None:
        discount = cents(monetary_discount)
    elif discount_percentage is not None:
        discount = cents(gross * discount_percentage / 100)
    else:
        discount = Decimal("0.00")
    if calculation_method == TAX_INCLUSIVE:
        total = gross - discount
        tax = cents(total * rate / (100 + rate))
        return ItemAmounts(discount, total - tax, tax, total)
    net = gross - discount
    tax = cents(net * rate / 100)
    return ItemAmounts(discount, net, tax, net + tax)


def invoice_totals(items: Iterable[dict[str, object]]) -> dict[str, str]:
    """Invoice net/tax/total/discounted amounts from its serialised items (deleted ones skipped)."""
    net = tax = total = discount = Decimal("0.00")
    for item in items:
        if item.get("deleted_at"):
            continue
        net += Decimal(str(item["net_price"]))
        tax += Decimal(str(item["tax_amount"]))
        total += Decimal(str(item["total_including_tax"]))
        discount += Decimal(str(item["discounted_amount"] or "0"))
    return {
        "net_amount": str(cents(net)),
        "tax_amount": str(cents(tax)),
        "total_amount": str(cents(total)),
        "discounted_amount": str(cents(discount)),
    }
