"""Request validation for Invoicing v2: the documented field limits → 400 `INVALID_REQUEST`.

Every problem found is reported (PayPal lists several `details[]` at once). Descriptions use the
spec's own wording where it has one (invoices.create-400, invoices.payments-400); the rest are
the sandbox's own and say so by being plain.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .amounts import places
from .errors import detail

DECIMAL_PATTERN = re.compile(r"^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$")
DATE_PATTERN = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])$")
EMAIL_PATTERN = re.compile(r'^.+@[^"\-].+$')
# PayPal's REST currency list (developer.paypal.com currency codes page).
SUPPORTED_CURRENCIES = frozenset((
    "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN",
    "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "RUB", "SGD", "SEK", "CHF", "THB", "USD"))
INVOICE_STATUSES = ("DRAFT", "SENT", "SCHEDULED", "PAID", "MARKED_AS_PAID", "CANCELLED",
                    "REFUNDED", "PARTIALLY_PAID", "PARTIALLY_REFUNDED", "MARKED_AS_REFUNDED",
                    "UNPAID", "PAYMENT_PENDING")
PAYMENT_METHODS = ("BANK_TRANSFER", "CASH", "CHECK", "CREDIT_CARD", "DEBIT_CARD", "PAYPAL",
                   "WIRE_TRANSFER", "OTHER")
TERM_TYPES = ("DUE_ON_RECEIPT", "DUE_ON_DATE_SPECIFIED", "NET_10", "NET_15", "NET_30", "NET_45",
              "NET_60", "NET_90", "NO_DUE_DATE")
UNITS = ("QUANTITY", "HOURS", "AMOUNT")
INVOICE_NUMBER_MAX = 25  # create/update 400: "should be less than 25 characters"; search: ≤25

# (key, limit, description) per object; descriptions are the spec's where it has one.
DETAIL_LIMITS = (
    ("reference", 120, "Reference field length should be less than 120 characters."),
    ("note", 4000, "Invoice note length should be less than 4000 characters."),
    ("terms_and_conditions", 4000,
     "Terms and Conditions length should be less than 4000 characters."),
    ("memo", 500, "Memo length should be less than 500 characters."),
    ("invoice_number", INVOICE_NUMBER_MAX,
     "Invoice number length should be less than 25 characters."),
)
ITEM_LIMITS = (
    ("name", 200, "Item name length should be less than 200 characters."),
    ("description", 1000, "Item description length should be less than 1000 characters."),
)
NAME_LIMITS = (
    ("given_name", 140, "Given name length should be less than 140 characters."),
    ("surname", 140, "Surname length should be less than 140 characters."),
    ("full_name", 300, "Full name length should be less than 300 characters."),
)
ADDRESS_LIMITS = (
    ("address_line_1", 300, "Address line1 length should be less than 300 characters."),
    ("address_line_2", 300, "Address line2 length should be less than 300 characters."),
    ("admin_area_1", 300, "Admin area1 length should be less than 300 characters."),
    ("admin_area_2", 120, "Admin area2 length should be less than 300 characters."),
    ("postal_code", 60, "Postal code length should be less than 60 characters."),
)
INVOICER_LIMITS = (
    ("business_name", 300, "Business name length should be less than 300 characters."),
    ("website", 2048, "Website url length should be less than 2048 characters."),
    ("tax_id", 100, "Tax id length should be less than 100 characters."),
    ("additional_notes", 400, "Additional notes length should be less than 400 characters."),
    ("logo_url", 2000, "Logo url length should be less than 2000 characters."),
)
SEARCH_LIMITS = (
    ("recipient_email", 254), ("recipient_first_name", 140), ("recipient_last_name", 140),
    ("recipient_business_name", 300), ("invoice_number", 25), ("reference", 120), ("memo", 500),
)


def decimal_places(number: Decimal) -> int:
    """How many digits `number` has after the decimal point (0 for whole numbers)."""
    exponent = number.as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def parse_date(text: Any) -> dt.date | None:
    """A `YYYY-MM-DD` string as a date; None for anything else or an impossible date."""
    if not isinstance(text, str) or not DATE_PATTERN.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


class Checker:
    """Collects `details[]` entries while walking a request body."""

    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []

    def add(self, issue: str, description: str, pointer: str, value: Any = None) -> None:
        """Record one problem at the JSON pointer `pointer` (with the offending value)."""
        self.details.append(detail(issue, description, field=pointer, value=value))

    def missing(self, pointer: str, what: str) -> None:
        """Record MISSING_REQUIRED_PARAMETER for `what`, at `pointer`."""
        self.add("MISSING_REQUIRED_PARAMETER", f"{what} is missing.", pointer)

    def is_object(self, value: Any, pointer: str) -> bool:
        """Whether `value` is absent or a JSON object; records the problem if not."""
        if value is None or isinstance(value, dict):
            return True
        self.add("INVALID_PARAMETER_SYNTAX", "Expected a JSON object.", pointer)
        return False

    def string(self, obj: dict[str, Any], key: str, limit: int, description: str,
               pointer: str) -> None:
        """Check that `obj[key]`, if present, is a string of at most `limit` characters."""
        value = obj.get(key)
        if value is None:
            return
        if not isinstance(value, str):
            self.add("INVALID_PARAMETER_SYNTAX", "Expected a string.", f"{pointer}/{key}", value)
        elif len(value) > limit:
            self.add("INVALID_STRING_MAX_LENGTH", description, f"{pointer}/{key}", value)

    def strings(self, obj: dict[str, Any], limits: tuple[tuple[str, int, str], ...],
                pointer: str) -> None:
        """Check several string fields of `obj`, each with its own limit and message."""
        for key, limit, description in limits:
            self.string(obj, key, limit, description, pointer)

    def enum(self, obj: dict[str, Any], key: str, allowed: tuple[str, ...], pointer: str) -> None:
        """Check that `obj[key]`, if present, is one of `allowed`."""
        value = obj.get(key)
        if value is not None and value not in allowed:
            self.add("INVALID_PARAMETER_SYNTAX", f"{key} must be one of {', '.join(allowed)}.",
                     f"{pointer}/{key}", value)

    def date(self, obj: dict[str, Any], key: str, description: str, pointer: str) -> None:
        """Check that `obj[key]`, if present, is a `YYYY-MM-DD` date."""
        if key in obj and parse_date(obj[key]) is None:
            self.add("INVALID_PARAMETER_SYNTAX", description, f"{pointer}/{key}", obj[key])

    def email(self, obj: dict[str, Any], key: str, pointer: str) -> None:
        """Check that `obj[key]`, if present, is an email address of 3 to 254 characters."""
        value = obj.get(key)
        if value is None:
            return
        if not isinstance(value, str) or not 3 <= len(value) <= 254:
            self.add("INVALID_STRING_LENGTH", "Email address length should be between 3 and 254.",
                     f"{pointer}/{key}", value)
        elif not EMAIL_PATTERN.match(value):
            self.add("INVALID_PARAMETER_SYNTAX", "Email address is invalid.", f"{pointer}/{key}",
                     value)

    def currency(self, value: Any, pointer: str) -> bool:
        """Whether `value` is a currency code PayPal supports; records the problem if not."""
        if not isinstance(value, str) or len(value) != 3:
            self.add("INVALID_STRING_LENGTH", "Currency code length should be 3 characters.",
                     pointer, value)
            return False
        if value not in SUPPORTED_CURRENCIES:
            self.add("NOT_SUPPORTED", "Currency code is not supported.", pointer, value)
            return False
        return True

    def money(self, obj: Any, pointer: str, currency: str | None, low: Decimal | None = None,
              high: Decimal | None = None) -> Decimal | None:
        """A money object in the invoice's currency; returns its value when valid."""
        if not isinstance(obj, dict):
            self.add("INVALID_PARAMETER_SYNTAX", "Expected a money object.", pointer)
            return None
        if "currency_code" not in obj:
            self.missing(f"{pointer}/currency_code", "Currency code")
        elif self.currency(obj["currency_code"], f"{pointer}/currency_code") and currency \
                and obj["currency_code"] != currency:
            # UNCONFIRMED: PayPal's error for mixed currencies; the sandbox's own issue name.
            self.add("CURRENCY_MISMATCH", "All amounts must use the invoice currency.",
                     f"{pointer}/currency_code", obj["currency_code"])
        return self._money_value(obj.get("value"), f"{pointer}/value",
                                 currency or obj.get("currency_code") or "", low, high)

    def _money_value(self, value: Any, pointer: str, currency: str, low: Decimal | None,
                     high: Decimal | None) -> Decimal | None:
        if value is None:
            self.missing(pointer, "Amount value")
            return None
        if not isinstance(value, str) or not DECIMAL_PATTERN.match(value):
            self.add("INVALID_PARAMETER_SYNTAX", "Amount value is invalid. Should be a numeric "
                     "value.", pointer, value)
            return None
        if len(value) > 32:
            self.add("INVALID_STRING_MAX_LENGTH", "Amount value cannot be greater than the "
                     "maximum limit of 32 characters length.", pointer, value)
            return None
        amount = Decimal(value)
        decimals = decimal_places(amount)
        if decimals > places(currency) or (low is not None and amount < low) \
                or (high is not None and amount > high):
            self.add("INVALID_DECIMAL_VALUE", f"Amount value is invalid. Can have values from "
                     f"{low} to {high} with up to {places(currency)} decimal places.",
                     pointer, value)
            return None
        return amount

    def percent(self, obj: dict[str, Any], pointer: str, required: bool) -> None:
        """Check `obj["percent"]`: a decimal string from 0 to 100, up to five places."""
        value = obj.get("percent")
        if value is None:
            if required:
                self.missing(f"{pointer}/percent", "Percent")
            return
        try:
            number = Decimal(value) if isinstance(value, str) and DECIMAL_PATTERN.match(value) \
                else None
        except InvalidOperation:
            number = None
        if number is None or not 0 <= number <= 100 or decimal_places(number) > 5:
            self.add("INVALID_PARAMETER_SYNTAX", "Percent should be a decimal string from 0 to "
                     "100 with up to five decimal places.", f"{pointer}/percent", value)


MILLION = Decimal(1_000_000)


def _check_quantity(check: Checker, item: dict[str, Any], pointer: str) -> None:
    quantity = item.get("quantity")
    if quantity is None:
        check.missing(f"{pointer}/quantity", "Item quantity")
        return
    if not isinstance(quantity, str) or not 1 <= len(quantity) <= 14:
        check.add("INVALID_STRING_LENGTH", "Item quantity length should be 1 and 14.",
                  f"{pointer}/quantity", quantity)
        return
    number = Decimal(quantity) if DECIMAL_PATTERN.match(quantity) else None
    if number is None or not -MILLION <= number <= MILLION or decimal_places(number) > 5:
        check.add("INVALID_PARAMETER_SYNTAX", "Item quantity should be a number from -1000000 to "
                  "1000000 with up to five decimal places.", f"{pointer}/quantity", quantity)


def _check_item(check: Checker, item: Any, pointer: str, currency: str | None) -> None:
    if not isinstance(item, dict):
        check.add("INVALID_PARAMETER_SYNTAX", "Expected a JSON object.", pointer)
        return
    if not item.get("name"):
        check.missing(f"{pointer}/name", "Item name")
    check.strings(item, ITEM_LIMITS, pointer)
    _check_quantity(check, item, pointer)
    if "unit_amount" not in item:
        check.missing(f"{pointer}/unit_amount", "Item unit amount")
    else:
        check.money(item["unit_amount"], f"{pointer}/unit_amount", currency, -MILLION, MILLION)
    check.date(item, "item_date", "Item Date is invalid.", pointer)
    check.enum(item, "unit_of_measure", UNITS, pointer)
    tax = item.get("tax")
    if tax is not None and check.is_object(tax, f"{pointer}/tax"):
        if not tax.get("name"):
            check.missing(f"{pointer}/tax/name", "Tax name")
        check.string(tax, "name", 100, "Tax name length should be less than 100.",
                     f"{pointer}/tax")
        check.percent(tax, f"{pointer}/tax", required=True)
    _check_discount(check, item.get("discount"), f"{pointer}/discount", currency)


def _check_discount(check: Checker, discount: Any, pointer: str, currency: str | None) -> None:
    if discount is None or not check.is_object(discount, pointer):
        return
    check.percent(discount, pointer, required=False)
    if "amount" in discount:
        # Echoed responses carry negative discounts; accept their magnitude.
        check.money(discount["amount"], f"{pointer}/amount", currency, -MILLION, MILLION)


def _check_party(check: Checker, party: Any, pointer: str, limits: tuple = ()) -> None:
    if party is None or not check.is_object(party, pointer):
        return
    check.strings(party, limits or INVOICER_LIMITS[:1], pointer)
    check.email(party, "email_address", pointer)
    if isinstance(party.get("name"), dict):
        check.strings(party["name"], NAME_LIMITS, f"{pointer}/name")
    address = party.get("address")
    if isinstance(address, dict):
        check.strings(address, ADDRESS_LIMITS, f"{pointer}/address")
        code = address.get("country_code")
        if code is None:
            check.missing(f"{pointer}/address/country_code", "Country code")
        elif not isinstance(code, str) or len(code) != 2:
            check.add("INVALID_STRING_LENGTH", "Country code length should be 2 characters.",
                      f"{pointer}/address/country_code", code)


def _check_recipients(check: Checker, recipients: Any) -> None:
    if recipients is None:
        return
    if not isinstance(recipients, list) or len(recipients) > 100:
        check.add("INVALID_ARRAY_MAX_ITEMS", "At most 100 primary recipients are allowed.",
                  "/primary_recipients")
        return
    for n, recipient in enumerate(recipients):
        pointer = f"/primary_recipients/{n}/billing_info"
        billing = recipient.get("billing_info") if isinstance(recipient, dict) else None
        _check_party(check, billing, pointer)
        if isinstance(billing, dict):
            check.string(billing, "additional_info", 40, "Additional information value length "
                         "should be less than 40 characters.", pointer)


def _check_detail(check: Checker, detail_obj: Any) -> str | None:
    """Checks `detail`; returns the currency when it is usable for the money checks."""
    if detail_obj is None:
        check.missing("/detail", "Invoice detail")
        return None
    if not check.is_object(detail_obj, "/detail"):
        return None
    check.strings(detail_obj, DETAIL_LIMITS, "/detail")
    check.date(detail_obj, "invoice_date", "Invoice date is invalid.", "/detail")
    term = detail_obj.get("payment_term")
    if isinstance(term, dict):
        check.enum(term, "term_type", TERM_TYPES, "/detail/payment_term")
        check.date(term, "due_date", "Due date is invalid.", "/detail/payment_term")
    if "currency_code" not in detail_obj:
        check.missing("/detail/currency_code", "Currency code")
        return None
    code = detail_obj["currency_code"]
    return code if check.currency(code, "/detail/currency_code") else None


def _check_breakdown(check: Checker, amount: Any, currency: str | None) -> None:
    breakdown = amount.get("breakdown") if isinstance(amount, dict) else None
    if not isinstance(breakdown, dict):
        return
    discount = breakdown.get("discount")
    if isinstance(discount, dict):
        _check_discount(check, discount.get("invoice_discount"),
                        "/amount/breakdown/discount/invoice_discount", currency)
    shipping = breakdown.get("shipping")
    if isinstance(shipping, dict):
        if "amount" in shipping:
            check.money(shipping["amount"], "/amount/breakdown/shipping/amount", currency,
                        Decimal(0), MILLION)
        tax = shipping.get("tax")
        if isinstance(tax, dict):
            check.string(tax, "name", 100, "Shipping Tax name length should be less than 100 "
                         "characters.", "/amount/breakdown/shipping/tax")
            check.percent(tax, "/amount/breakdown/shipping/tax", required=True)
    custom = breakdown.get("custom")
    if isinstance(custom, dict):
        if not custom.get("label"):
            check.missing("/amount/breakdown/custom/label", "Custom label")
        check.string(custom, "label", 50, "Custom label length should be less than 50 "
                     "characters.", "/amount/breakdown/custom")
        if "amount" in custom:
            check.money(custom["amount"], "/amount/breakdown/custom/amount", currency, -MILLION,
                        MILLION)


def validate_invoice(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Field limits of a create/replace body (readOnly fields are ignored, as PayPal does)."""
    check = Checker()
    currency = _check_detail(check, body.get("detail"))
    _check_party(check, body.get("invoicer"), "/invoicer", INVOICER_LIMITS)
    _check_recipients(check, body.get("primary_recipients"))
    items = body.get("items")
    if not items:
        # The create operation: "The invoice object must include an items array."
        check.missing("/items", "Invoice items")
    elif not isinstance(items, list) or len(items) > 100:
        check.add("INVALID_ARRAY_MAX_ITEMS", "An invoice can have at most 100 items.", "/items")
    else:
        for n, item in enumerate(items):
            _check_item(check, item, f"/items/{n}", currency)
    _check_breakdown(check, body.get("amount"), currency)
    return check.details


def validate_payment(body: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    """A record-payment body (`payment_detail`); texts from invoices.payments-400."""
    check = Checker()
    method = body.get("method")
    if method is None:
        check.add("MISSING_REQUIRED_PARAMETER", "Payment method is missing. Please provide a "
                  "valid payment method.", "/method")
    elif method not in PAYMENT_METHODS:
        check.add("INVALID_PAYMENT_METHOD", "The value provided is not an acceptable method of "
                  "payment.", "/method", method)
    if "payment_date" in body and parse_date(body["payment_date"]) is None:
        check.add("INVALID_PARAMETER_SYNTAX", "Date should be of format yyyy-mm-dd.",
                  "/payment_date", body["payment_date"])
    check.string(body, "note", 2000, "Note length should be less than 2000 characters.", "")
    amount = body.get("amount")
    if amount is not None:
        check_amount(check, amount, currency, PAYMENT_TEXTS)
    return check.details


@dataclass(frozen=True)
class AmountTexts:
    """The issue texts of an `amount` check that differ between payments and refunds."""

    not_money: str
    currency: str
    zero: str
    invalid: str


PAYMENT_TEXTS = AmountTexts(
    not_money="Expected a money object.",
    currency="Currency code is not supported.",
    zero="Payment amount cannot be zero. Please provide a valid amount.",
    invalid="Payment amount value is invalid. Can have non-negative value with maximum 7 "
    "digits and upto 2 fractions.",
)


def check_amount(check: Checker, amount: Any, currency: str, texts: AmountTexts) -> None:
    """A payment's or refund's `amount`: a money object in the invoice's currency, 0 < value."""
    if not isinstance(amount, dict):
        check.add("INVALID_PARAMETER_SYNTAX", texts.not_money, "/amount")
        return
    code = amount.get("currency_code")
    if not isinstance(code, str) or len(code) != 3:
        check.add("INVALID_STRING_LENGTH", "Currency code length should be 3 characters.",
                  "/amount/currency_code", code)
    elif code != currency:
        check.add("NOT_SUPPORTED", texts.currency, "/amount/currency_code", code)
    value = amount.get("value")
    pointer = "/amount/value"
    if value is None:
        check.add("MISSING_REQUIRED_PARAMETER", "Amount value is missing. Please provide a valid "
                  "amount.", pointer)
    elif not isinstance(value, str) or not DECIMAL_PATTERN.match(value):
        check.add("INVALID_PARAMETER_SYNTAX", "Amount value is invalid. Should be a numeric "
                  "value.", pointer, value)
    elif len(value) > 32:
        check.add("INVALID_STRING_MAX_LENGTH", "Amount value cannot be greater than the maximum "
                  "limit of 32 characters length.", pointer, value)
    elif Decimal(value) == 0:
        check.add("VALUE_CANNOT_BE_ZERO", texts.zero, pointer, value)
    elif Decimal(value) < 0 or decimal_places(Decimal(value)) > 2 \
            or Decimal(value) >= Decimal(10) ** 7:
        check.add("INVALID_DECIMAL_VALUE", texts.invalid, pointer, value)


def validate_search(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A `search_data` body; texts from invoices.search-invoices-400."""
    check = Checker()
    for key, limit in SEARCH_LIMITS:
        check.string(body, key, limit, "the value of a field is too long.", "")
    status = body.get("status")
    if status is not None:
        if not isinstance(status, list) or len(status) > 5:
            check.add("INVALID_ARRAY_MAX_ITEMS", "the number of items in an array parameter is "
                      "too large.", "/status")
        elif any(s not in INVOICE_STATUSES for s in status):
            check.add("INVALID_PARAMETER_SYNTAX", "the value of a field does not conform to the "
                      "expected format.", "/status", ",".join(map(str, status)))
    if "currency_code" in body:
        check.currency(body["currency_code"], "/currency_code")
    for key in ("invoice_date_range", "due_date_range"):
        _check_range(check, body.get(key), key, parse_date)
    for key in ("creation_date_range", "payment_date_range"):
        _check_range(check, body.get(key), key, parse_datetime)
    amounts = body.get("total_amount_range")
    if amounts is not None:
        for end in ("lower_amount", "upper_amount"):
            if not isinstance(amounts, dict) or end not in amounts:
                check.missing(f"/total_amount_range/{end}", end)
            else:
                check.money(amounts[end], f"/total_amount_range/{end}", None)
    return check.details


def parse_datetime(text: Any) -> dt.datetime | None:
    """An ISO 8601 date-time with its UTC offset as an aware datetime; None otherwise."""
    if not isinstance(text, str) or len(text) < 20:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _check_range(check: Checker, value: Any, key: str, parse: Any) -> None:
    if value is None:
        return
    for end in ("start", "end"):
        if not isinstance(value, dict) or end not in value:
            check.missing(f"/{key}/{end}", f"{key} {end}")
        elif parse(value[end]) is None:
            check.add("INVALID_PARAMETER_SYNTAX", "the value of a field does not conform to the "
                      "expected format.", f"/{key}/{end}", value[end])


def validate_notification(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A send/cancel/remind `notification` body; texts from invoices.cancel-400."""
    check = Checker()
    for key in ("subject", "note"):
        check.string(body, key, 4000, "Field value exceeded the maximum allowed number of "
                     "characters.", "")
    for key in ("send_to_recipient", "send_to_invoicer"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            check.add("INVALID_PARAMETER_SYNTAX", "Expected a boolean.", f"/{key}", body[key])
    extra = body.get("additional_recipients")
    if isinstance(extra, list) and len(extra) > 100:
        check.add("INVALID_ARRAY_MAX_ITEMS", "Only maximum of 100 email address is supported in "
                  "additional recipients.", "/additional_recipients")
    return check.details
