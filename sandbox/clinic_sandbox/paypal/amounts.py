"""PayPal's invoice arithmetic, in `decimal.Decimal`.

How the sandbox computes an invoice (inferred from the spec's `invoice_draft` example, whose numbers
reconcile exactly to 74.21 with these rules; notes §8):

1. Line amount = quantity × unit_amount, rounded to the currency's places (2 for AUD).
2. Line discount = `discount.amount` if given (the spec: "amount takes precedent"), otherwise
   `discount.percent` of the line amount, rounded.  `breakdown.discount.item_discount` is minus
   their sum.
3. Invoice discount (`amount.breakdown.discount.invoice_discount`, amount or percent) is taken off
   the sum of the discounted lines, rounded.  For tax it is spread over the lines: a percentage
   applies to each line as is; a fixed amount is shared in proportion to the line amounts.
4. Tax per line = percent of the line's taxable base (the discounted amount when
   `configuration.tax_calculated_after_discount`, the default; the undiscounted amount otherwise),
   rounded per line.  Shipping tax likewise on the shipping amount.
5. Rounding is ROUND_HALF_UP at every step: 0.005 → 0.01, 0.725 → 0.73 (negatives round away from
   zero, -0.005 → -0.01).  Totals are sums of the rounded parts, never rounded again.
6. Tax-inclusive prices (`configuration.tax_inclusive: true`; PayPal's exact rule is UNCONFIRMED):
   the tax is *contained* in the price.  The sandbox takes tax = base × p / (100 + p), rounded
   half-up per line (GST 10 % on 110.00 → 10.00), reports it in `tax_total`, and does *not* add it
   to the total.  Exclusive: total = item_total − discounts + tax_total + shipping + custom;
   inclusive: total = item_total − discounts + shipping + custom.
7. due_amount = total − recorded payments (never below zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ZERO = Decimal("0")
HUNDRED = Decimal("100")
# Currencies PayPal says take no decimals; everything else here uses two.
ZERO_DECIMAL_CURRENCIES = frozenset({"HUF", "JPY", "TWD"})


def places(currency: str) -> int:
    """Decimal places PayPal allows for `currency`: 0 for HUF, JPY and TWD, else 2."""
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def round_half_up(value: Decimal, currency: str) -> Decimal:
    """`value` rounded half-up to the currency's decimal places."""
    exponent = Decimal(1).scaleb(-places(currency))
    return value.quantize(exponent, rounding=ROUND_HALF_UP)


def money(value: Decimal, currency: str) -> dict[str, str]:
    """A PayPal money object with exactly the currency's decimal places."""
    return {"currency_code": currency, "value": str(round_half_up(value, currency))}


def _value(money_obj: dict[str, Any] | None) -> Decimal | None:
    if not money_obj or money_obj.get("value") in (None, ""):
        return None
    return Decimal(str(money_obj["value"]))


def _percent(obj: dict[str, Any] | None) -> Decimal | None:
    if not obj or obj.get("percent") in (None, ""):
        return None
    return Decimal(str(obj["percent"]))


@dataclass
class LineAmounts:
    """One item's computed amount (quantity × unit price), discount and tax (None: untaxed)."""

    amount: Decimal
    discount: Decimal
    tax: Decimal | None


@dataclass
class InvoiceAmounts:
    """Every computed amount of one invoice, per line and in total, in its currency."""

    currency: str
    lines: list[LineAmounts] = field(default_factory=list)
    item_total: Decimal = ZERO
    item_discount: Decimal = ZERO
    invoice_discount: Decimal = ZERO
    tax_total: Decimal = ZERO
    shipping: Decimal = ZERO
    shipping_tax: Decimal | None = None
    custom: Decimal = ZERO
    total: Decimal = ZERO


def _tax(base: Decimal, percent: Decimal, inclusive: bool, currency: str) -> Decimal:
    if inclusive:
        return round_half_up(base * percent / (HUNDRED + percent), currency)
    return round_half_up(base * percent / HUNDRED, currency)


def _discount(spec: dict[str, Any] | None, base: Decimal, currency: str) -> Decimal:
    """A discount's amount; a given amount wins over a percent (echoed amounts may be negative)."""
    amount = _value((spec or {}).get("amount"))
    if amount is not None:
        return round_half_up(abs(amount), currency)
    percent = _percent(spec)
    return round_half_up(base * percent / HUNDRED, currency) if percent is not None else ZERO


def _invoice_discount_share(breakdown: dict[str, Any], net: Decimal, subtotal: Decimal,
                            invoice_discount: Decimal) -> Decimal:
    """The unrounded part of the invoice discount that falls on a line of `net`."""
    spec = (breakdown.get("discount") or {}).get("invoice_discount") or {}
    percent = _percent(spec)
    if _value(spec.get("amount")) is None and percent is not None:
        return net * percent / HUNDRED
    return invoice_discount * net / subtotal if subtotal else ZERO


def compute(invoice: dict[str, Any]) -> InvoiceAmounts:
    """Compute every derived amount of a (validated) invoice."""
    currency = invoice["detail"]["currency_code"]
    config = invoice.get("configuration") or {}
    inclusive = bool(config.get("tax_inclusive", False))
    after_discount = bool(config.get("tax_calculated_after_discount", True))
    breakdown = (invoice.get("amount") or {}).get("breakdown") or {}
    result = InvoiceAmounts(currency=currency)

    items = invoice.get("items") or []
    for item in items:
        unit = _value(item["unit_amount"]) or ZERO
        gross = round_half_up(Decimal(str(item["quantity"])) * unit, currency)
        discount = _discount(item.get("discount"), gross, currency)
        result.lines.append(LineAmounts(gross, discount, None))
    result.item_total = sum((x.amount for x in result.lines), ZERO)
    result.item_discount = sum((x.discount for x in result.lines), ZERO)
    subtotal = result.item_total - result.item_discount
    result.invoice_discount = _discount(
        (breakdown.get("discount") or {}).get("invoice_discount"), subtotal, currency)

    for item, line in zip(items, result.lines, strict=True):
        percent = _percent(item.get("tax"))
        if percent is None:
            continue
        net = line.amount - line.discount
        share = _invoice_discount_share(breakdown, net, subtotal, result.invoice_discount)
        base = net - share if after_discount else line.amount
        line.tax = _tax(base, percent, inclusive, currency)

    shipping = breakdown.get("shipping") or {}
    result.shipping = _value(shipping.get("amount")) or ZERO
    shipping_percent = _percent(shipping.get("tax"))
    if shipping_percent is not None:
        result.shipping_tax = _tax(result.shipping, shipping_percent, inclusive, currency)
    result.custom = _value((breakdown.get("custom") or {}).get("amount")) or ZERO
    result.tax_total = sum((x.tax for x in result.lines if x.tax is not None),
                           result.shipping_tax or ZERO)
    result.total = (result.item_total - result.item_discount - result.invoice_discount
                    + result.shipping + result.custom)
    if not inclusive:
        result.total += result.tax_total
    return result


def paid_total(transactions: Iterable[dict[str, Any]]) -> Decimal:
    """The sum of the payment transactions' amounts."""
    return sum((_value(t.get("amount")) or ZERO for t in transactions), ZERO)


def due(total: Decimal, paid: Decimal) -> Decimal:
    """What is left to pay: total less paid, never below zero."""
    return max(total - paid, ZERO)


def _breakdown(result: InvoiceAmounts, given: dict[str, Any]) -> dict[str, Any]:
    cur = result.currency
    out: dict[str, Any] = {"item_total": money(result.item_total, cur)}
    discount: dict[str, Any] = {}
    given_invoice_discount = (given.get("discount") or {}).get("invoice_discount")
    if given_invoice_discount:
        discount["invoice_discount"] = {
            **({"percent": given_invoice_discount["percent"]}
               if "percent" in given_invoice_discount else {}),
            "amount": money(-result.invoice_discount, cur)}
    if result.item_discount:
        discount["item_discount"] = money(-result.item_discount, cur)
    if discount:
        out["discount"] = discount
    out["tax_total"] = money(result.tax_total, cur)
    if given.get("shipping"):
        shipping: dict[str, Any] = {"amount": money(result.shipping, cur)}
        if result.shipping_tax is not None:
            shipping["tax"] = {**given["shipping"]["tax"],
                               "amount": money(result.shipping_tax, cur)}
        out["shipping"] = shipping
    if given.get("custom"):
        out["custom"] = {"label": given["custom"]["label"], "amount": money(result.custom, cur)}
    return out


def apply(invoice: dict[str, Any]) -> InvoiceAmounts:
    """Write the computed amounts into `invoice` (item tax amounts, `amount`, `due_amount`)."""
    result = compute(invoice)
    cur = result.currency
    for item, line in zip(invoice.get("items") or [], result.lines, strict=True):
        if line.tax is not None:
            item["tax"]["amount"] = money(line.tax, cur)
    given = (invoice.get("amount") or {}).get("breakdown") or {}
    invoice["amount"] = {"currency_code": cur, "value": str(round_half_up(result.total, cur)),
                         "breakdown": _breakdown(result, given)}
    paid = paid_total((invoice.get("payments") or {}).get("transactions") or [])
    invoice["due_amount"] = money(due(result.total, paid), cur)
    return result
