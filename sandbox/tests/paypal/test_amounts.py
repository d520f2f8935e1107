"""PayPal's invoice arithmetic: GST, discounts, shipping, tax-inclusive prices and rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinic_sandbox.paypal import amounts


def invoice(*items, inclusive=False, after_discount=True, breakdown=None, currency="AUD"):
    body = {"detail": {"currency_code": currency}, "items": list(items),
            "configuration": {"tax_inclusive": inclusive,
                              "tax_calculated_after_discount": after_discount}}
    if breakdown:
        body["amount"] = {"breakdown": breakdown}
    return body


def line(value, quantity="1", gst="10", discount=None, currency="AUD"):
    item = {"name": "x", "quantity": quantity,
            "unit_amount": {"currency_code": currency, "value": value}}
    if gst is not None:
        item["tax"] = {"name": "GST", "percent": gst}
    if discount:
        item["discount"] = discount
    return item


def totals(body):
    amounts.apply(body)
    breakdown = body["amount"]["breakdown"]
    return (body["amount"]["value"], breakdown["item_total"]["value"],
            breakdown["tax_total"]["value"])


def test_gst_10_percent_exclusive():
    assert totals(invoice(line("100.00"), line("45.50", quantity="2"))) == \
        ("210.10", "191.00", "19.10")


def test_gst_free_line_has_zero_tax():
    body = invoice(line("80.00", gst="0"), line("20.00", gst=None))
    assert totals(body) == ("100.00", "100.00", "0.00")
    assert body["items"][0]["tax"]["amount"]["value"] == "0.00"
    assert "amount" not in body["items"][1].get("tax", {})


def test_mixed_gst_and_gst_free():
    assert totals(invoice(line("100.00"), line("50.00", gst="0"))) == \
        ("160.00", "150.00", "10.00")


def test_tax_inclusive_price_contains_the_gst():
    body = invoice(line("110.00"), line("55.00", gst="0"), inclusive=True)
    assert totals(body) == ("165.00", "165.00", "10.00")
    assert body["items"][0]["tax"]["amount"]["value"] == "10.00"


def test_tax_inclusive_rounds_half_up_per_line():
    # 0.55 × 10/110 = 0.05 exactly; 1.01 × 10/110 = 0.0918… → 0.09; 0.99 → 0.09
    body = invoice(line("0.55"), line("1.01"), line("0.99"), inclusive=True)
    assert totals(body) == ("2.55", "2.55", "0.23")


@pytest.mark.parametrize("value,tax", [("0.05", "0.01"),    # 0.005 → 0.01 (not banker's 0.00)
                                       ("0.15", "0.02"),    # 0.015 → 0.02
                                       ("0.25", "0.03"),    # 0.025 → 0.03 (banker's: 0.02)
                                       ("0.04", "0.00"),    # 0.004 → 0.00
                                       ("12.35", "1.24")])  # 1.235 → 1.24
def test_tax_rounds_half_up(value, tax):
    body = invoice(line(value))
    amounts.apply(body)
    assert body["items"][0]["tax"]["amount"]["value"] == tax


def test_rounding_is_per_line_not_on_the_total():
    # Three lines of 0.05 each carry 0.01 tax (0.005 up): 0.03, not round(0.015) = 0.02.
    assert totals(invoice(line("0.05"), line("0.05"), line("0.05")))[2] == "0.03"


def test_fractional_quantity_rounds_the_line_half_up():
    # 1.5 × 33.33 = 49.995 → 50.00; GST 5.00
    assert totals(invoice(line("33.33", quantity="1.5"))) == ("55.00", "50.00", "5.00")


def test_item_discount_percent_and_amount():
    body = invoice(line("100.00", discount={"percent": "15"}),
                   line("50.00", discount={"amount": {"currency_code": "AUD", "value": "5.00"}}))
    value, item_total, tax = totals(body)
    assert (item_total, tax) == ("150.00", "13.00")  # (85 + 45) × 10 %
    assert body["amount"]["breakdown"]["discount"]["item_discount"]["value"] == "-20.00"
    assert value == "143.00"


def test_discount_amount_wins_over_percent():
    body = invoice(line("100.00", gst=None, discount={
        "percent": "50", "amount": {"currency_code": "AUD", "value": "10.00"}}))
    assert totals(body)[0] == "90.00"


def test_tax_before_discount_when_configured():
    body = invoice(line("100.00", discount={"percent": "10"}), after_discount=False)
    assert totals(body) == ("100.00", "100.00", "10.00")  # 90 + tax on 100


def test_invoice_discount_shipping_and_custom_reproduce_paypals_example():
    # The numbers of the spec's `invoice_draft` example (notes §8): total 74.21.
    body = invoice(
        line("50.00", gst="7.25", discount={"percent": "5"}, currency="USD"),
        line("10.00", gst="7.25", currency="USD",
             discount={"amount": {"currency_code": "USD", "value": "5.00"}}),
        currency="USD",
        breakdown={"discount": {"invoice_discount": {"percent": "5"}},
                   "shipping": {"amount": {"currency_code": "USD", "value": "10.00"},
                                "tax": {"name": "Sales Tax", "percent": "7.25"}},
                   "custom": {"label": "Packing Charges",
                              "amount": {"currency_code": "USD", "value": "10.00"}}})
    assert totals(body) == ("74.21", "60.00", "4.34")
    breakdown = body["amount"]["breakdown"]
    assert breakdown["discount"]["invoice_discount"]["amount"]["value"] == "-2.63"
    assert breakdown["discount"]["item_discount"]["value"] == "-7.50"
    assert breakdown["shipping"]["tax"]["amount"]["value"] == "0.73"
    assert [i["tax"]["amount"]["value"] for i in body["items"]] == ["3.27", "0.34"]


def test_invoice_discount_as_amount_is_shared_for_tax():
    body = invoice(line("60.00"), line("40.00"), breakdown={
        "discount": {"invoice_discount": {"amount": {"currency_code": "AUD", "value": "10.00"}}}})
    assert totals(body) == ("99.00", "100.00", "9.00")  # tax 5.40 + 3.60 on 54 + 36


def test_zero_decimal_currency():
    body = invoice(line("1000", currency="JPY"), currency="JPY")
    assert totals(body) == ("1100", "1000", "100")


def test_due_amount_subtracts_payments():
    body = invoice(line("100.00"))
    body["payments"] = {"transactions": [{"amount": {"currency_code": "AUD", "value": "40.00"}}]}
    amounts.apply(body)
    assert body["due_amount"]["value"] == "70.00"


def test_round_half_up_for_negative_values_goes_away_from_zero():
    assert amounts.round_half_up(Decimal("-0.005"), "AUD") == Decimal("-0.01")


def test_through_the_api(paypal, invoice_body, item):
    inclusive = invoice_body(items=[item("Consult", "110.00"), item("Cream", "22.00", gst="0")])
    inclusive["configuration"] = {"tax_inclusive": True}
    created = paypal.create(inclusive)
    assert created["amount"]["value"] == "132.00"
    assert created["amount"]["breakdown"]["tax_total"]["value"] == "10.00"
