"""target-paypal's input contract: its JSON Schemas (from the installed package, else our copy)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

KEYS = {
    "customers": "customer_id",
    "invoices": "invoice_id",
    "invoice_lines": "line_id",
    "rejects": "record_id",
    "practitioners": "practitioner_id",
    "owners": "user_id",
}


@cache
def schema(stream: str) -> dict[str, Any]:
    """The schema exactly as target-paypal ships it (fallback: the copy in contract/, kept
    equal to target-paypal's by tests/test_contract_copy.py)."""
    try:
        text = resources.files("target_paypal.schemas").joinpath(f"{stream}.json").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        text = resources.files("map_cliniko_paypal.contract").joinpath(f"{stream}.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def validator(stream: str) -> Draft202012Validator:
    return Draft202012Validator(schema(stream), format_checker=FormatChecker())


def problems(stream: str, record: dict[str, Any]) -> str | None:
    """One line naming the fields at fault (never their values), or None if the record is valid."""
    errors = sorted(validator(stream).iter_errors(record), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.absolute_path) or "record"
        parts.append(f"{where} fails {error.validator}")
    return "does not fit target-paypal's contract: " + "; ".join(parts)
