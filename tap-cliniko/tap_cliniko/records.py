"""Record clean-up between Cliniko's JSON and the Singer schema.

Cliniko sends `""` for unset dates in places, quantities as integers or strings, and links
instead of foreign keys; warehouse users want typed values and plain `<name>_id` columns. A field
typed `"format": "x-singer.decimal"` (money: a decimal string, loaded as NUMERIC) stays a string.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

_RECORD_URL = re.compile(r"/([a-z_]+)/(\d+)/?$")


NUMERIC = frozenset({"number", "integer"})
# Formats whose blank string is no value: a warehouse cannot load `""` as a date or a number.
BLANK_IS_NULL = frozenset({"date", "date-time", "x-singer.decimal"})
Conformer = Callable[[Any], Any]


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _to_number(value: str, integer: bool) -> Any:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    return int(number) if integer and number == number.to_integral() else number


def _scalar_conformer(schema: dict[str, Any]) -> Conformer | None:
    """How a scalar is coerced towards `schema`; None when nothing ever changes."""
    types = _types(schema)
    blank_is_null = schema.get("format") in BLANK_IS_NULL
    to_str = bool(types) and "string" in types and not types & NUMERIC
    to_number = bool(types) and "string" not in types and bool(types & NUMERIC)
    integer = "integer" in types
    if not (blank_is_null or to_str or to_number):
        return None

    def scalar(value: Any) -> Any:
        if isinstance(value, str):
            if blank_is_null and value == "":
                return None
            return _to_number(value, integer) if to_number else value
        if to_str and not isinstance(value, bool) and isinstance(value, int | float | Decimal):
            return str(value)
        return value

    return scalar


def _compile(schema: dict[str, Any]) -> Conformer | None:
    """The conformer of `schema`, None when nothing in it ever changes.

    Decided once per schema rather than once per value: the tap conforms every field of every
    record, and deciding per value took a fifth of its time.
    """
    scalar = _scalar_conformer(schema)
    fields = None
    if "properties" in schema:
        fields = {k: _compile(sub) for k, sub in schema["properties"].items()}
        fields = {k: f for k, f in fields.items() if f is not None}
    items = _compile(schema["items"]) if isinstance(schema.get("items"), dict) else None
    if fields is None and items is None:
        return scalar

    def compound(value: Any) -> Any:
        if fields is not None and isinstance(value, dict):
            return {k: f(v) if (f := fields.get(k)) is not None else v for k, v in value.items()}
        if items is not None and isinstance(value, list):
            return [items(item) for item in value]
        return scalar(value) if scalar is not None else value

    return compound


# id(schema) -> (schema, its conformer); the schema is kept so its id is never reused.
_CONFORMERS: dict[int, tuple[dict[str, Any], Conformer | None]] = {}


def conform(value: Any, schema: dict[str, Any]) -> Any:
    """Coerce `value` towards `schema` where Cliniko is known to be loose; leave the rest."""
    cached = _CONFORMERS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = _CONFORMERS[id(schema)] = (schema, _compile(schema))
    conformer = cached[1]
    return value if conformer is None else conformer(value)


def id_from_link(link: Any) -> str | None:
    """`{"links": {"self": ".../patients/123"}}` -> "123"; None for absent or collection links."""
    if not isinstance(link, dict):
        return None
    url = (link.get("links") or {}).get("self")
    match = _RECORD_URL.search(url.split("?", 1)[0]) if isinstance(url, str) else None
    return match.group(2) if match else None


def add_foreign_keys(record: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Fill each `<name>_id` schema field from the `<name>` link object, when Cliniko gave none."""
    for key, base in _foreign_keys(schema):
        if base in record and record.get(key) is None:
            record[key] = id_from_link(record[base])
    return record


# id(schema) -> (schema, its (`<name>_id`, `<name>`) pairs), found once per schema.
_FOREIGN_KEYS: dict[int, tuple[dict[str, Any], list[tuple[str, str]]]] = {}


def _foreign_keys(schema: dict[str, Any]) -> list[tuple[str, str]]:
    cached = _FOREIGN_KEYS.get(id(schema))
    if cached is None or cached[0] is not schema:
        pairs = [(k, k[:-3]) for k in schema.get("properties", {}) if k.endswith("_id")]
        cached = _FOREIGN_KEYS[id(schema)] = (schema, pairs)
    return cached[1]
