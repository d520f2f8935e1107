"""Checking a record against the contract, in words that name fields, never their values."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

# Never sent to PayPal nor into a log: control characters (terminal escapes among them; tab and
# line breaks are allowed), bidi embeddings/overrides/isolates and lone UTF-16 surrogates.
UNSAFE_TEXT = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# What the schema wanted is quoted for these checks (never the offending value).
QUOTED_CHECKS = (
    "maxLength",
    "minLength",
    "maximum",
    "minimum",
    "pattern",
    "format",
    "enum",
    "type",
)


@cache
def schema(stream: str) -> dict[str, Any]:
    """The JSON Schema of one contract stream."""
    folder = resources.files("cliniko_paypal_contract").joinpath("schemas")
    return json.loads(folder.joinpath(f"{stream}.json").read_text())  # type: ignore[no-any-return]


@cache
def validator(stream: str) -> Draft202012Validator:
    """A validator of one stream's schema, formats (email, date) checked."""
    return Draft202012Validator(schema(stream), format_checker=FormatChecker())


def problems(stream: str, record: dict[str, Any]) -> str | None:
    """A one-line reason naming the fields at fault (not their values), or None if valid."""
    errors = sorted(validator(stream).iter_errors(record), key=lambda e: list(e.absolute_path))
    unsafe = list(_unsafe_fields(record))
    if not errors and not unsafe:
        return None
    described = [
        f"{where}: control characters, bidi overrides or lone surrogates (not allowed)"
        for where in unsafe[:3]
    ]
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.absolute_path) or "record"
        described.append(f"{where}: {error.validator} {_expected(error)}".strip())
    return "does not match the contract: " + "; ".join(described)


def _unsafe_fields(value: Any, path: str = "") -> Iterator[str]:
    """Where text holds characters that must not reach PayPal or a terminal (field paths)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _unsafe_fields(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unsafe_fields(item, f"{path}.{index}")
    elif isinstance(value, str) and UNSAFE_TEXT.search(value):
        yield "".join(c for c in path if c.isprintable())[:60] or "record"


def _expected(error: ValidationError) -> str:
    """What the schema wanted, never the offending value (it may be personal data)."""
    if error.validator == "required":
        return "(" + error.message.split("'")[1] + " is missing)" if "'" in error.message else ""
    if error.validator in QUOTED_CHECKS:
        return f"{error.validator_value}"[:80]
    if error.validator == "additionalProperties":
        return "(unexpected field)"
    return ""
