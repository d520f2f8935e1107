"""Record clean-up between Cliniko's JSON and the Singer schema.

Cliniko sends `""` for unset dates in places, quantities as integers or strings, and links
instead of foreign keys; warehouse users want typed values and plain `<name>_id` columns.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_RECORD_URL = re.compile(r"/([a-z_]+)/(\d+)/?$")


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _conform_scalar(value: Any, schema: dict[str, Any]) -> Any:
    types = _types(schema)
    if value == "" and schema.get("format") in ("date", "date-time"):
        return None
    if isinstance(value, bool) or not types:
        return value
    if (
        isinstance(value, int | float | Decimal)
        and "string" in types
        and not types
        & {
            "number",
            "integer",
        }
    ):
        return str(value)
    if isinstance(value, str) and "string" not in types and types & {"number", "integer"}:
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        return int(number) if "integer" in types and number == number.to_integral() else number
    return value


def conform(value: Any, schema: dict[str, Any]) -> Any:
    """Coerce `value` towards `schema` where Cliniko is known to be loose; leave the rest."""
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        return {k: conform(v, props[k]) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [conform(item, schema["items"]) for item in value]
    return _conform_scalar(value, schema)


def id_from_link(link: Any) -> str | None:
    """`{"links": {"self": ".../patients/123"}}` -> "123"; None for absent or collection links."""
    if not isinstance(link, dict):
        return None
    url = (link.get("links") or {}).get("self")
    match = _RECORD_URL.search(url.split("?", 1)[0]) if isinstance(url, str) else None
    return match.group(2) if match else None


def add_foreign_keys(record: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Fill each `<name>_id` schema field from the `<name>` link object, when Cliniko gave none."""
    for key in schema.get("properties", {}):
        base = key[:-3]
        if key.endswith("_id") and base in record and record.get(key) is None:
            record[key] = id_from_link(record[base])
    return record
