"""Cliniko values as PayPal takes them: cleaned text, money to the cent, dates in the clinic's zone.

`Reject` and `Skip` are how a mapping says a record stays out (parked or skipped); their
messages name fields, never values.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import pendulum

import cliniko_paypal_contract as contract

CENT = Decimal("0.01")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Terminal escape sequences (CSI ... final byte, OSC ... BEL/ST), then any other control
# character, bidi embedding/override/isolate marks and lone surrogates.
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
LINE_BREAKS = re.compile(r"[\t\n\r]")


class Reject(Exception):
    """A record that cannot be mapped, or that a rule parks for review.

    The message names fields, never values. target-paypal keeps it as a dead letter and
    replays it.
    """


class Skip(Exception):
    """A record a rule leaves out on purpose; target-paypal counts it as skipped."""


def text(value: Any) -> str | None:
    """Text as PayPal should show it.

    NFC; escape sequences and control characters removed (tabs and newlines become spaces),
    bidi overrides and lone surrogates dropped; emoji and combining accents kept.
    """
    if value is None:
        return None
    cleaned = ESCAPES.sub("", str(value))
    cleaned = contract.UNSAFE_TEXT.sub("", LINE_BREAKS.sub(" ", cleaned))
    return unicodedata.normalize("NFC", " ".join(cleaned.split())) or None


def required(record: dict[str, Any], name: str) -> Any:
    """The field's value; Reject when it is missing or blank."""
    value = record.get(name)
    if value is None or value == "":
        raise Reject(f"{name} is missing")
    return value


def decimal_of(value: Any, name: str) -> Decimal:
    """A finite decimal; Reject when the value is not one."""
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise Reject(f"{name} is not a decimal number") from None
    if not result.is_finite():
        raise Reject(f"{name} is not a decimal number")
    return result


def money(value: Any, name: str) -> str:
    """A decimal rounded half-up to the cent, as a string; Reject when it is not a number."""
    return str(decimal_of(value, name).quantize(CENT, rounding=ROUND_HALF_UP))


def plain_number(value: Any, name: str) -> str:
    """A decimal as a plain string without trailing zeros: "10.0" -> "10", "1.50" -> "1.5"."""
    number = decimal_of(value, name)
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def local_date(timestamp: Any, zone: str, name: str) -> str:
    """The calendar date, in the clinic's zone, of a UTC timestamp (a bare date passes through)."""
    text = str(timestamp)
    if DATE.match(text):
        return text
    try:
        moment = pendulum.parse(text, tz="UTC")
    except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError):
        raise Reject(f"{name} is not a timestamp") from None
    if not isinstance(moment, pendulum.DateTime):
        raise Reject(f"{name} is not a timestamp")
    return moment.in_timezone(zone).date().isoformat()


def date_in_zone(value: Any, zone: str, name: str) -> str:
    """A required timestamp's calendar date in the clinic's zone."""
    return local_date(required({name: value}, name), zone, name)


def gone(record: dict[str, Any]) -> bool:
    """Whether Cliniko archived or deleted the record."""
    return bool(record.get("archived_at") or record.get("deleted_at"))
