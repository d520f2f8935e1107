"""Cliniko's `q[]` filters and `sort` ordering, turned into Python predicates and sort keys.

Operators per filter type follow https://docs.api.cliniko.com/ ("Filtering results"):
date `= >= > <= < ? !?` (`=` also takes wildcards such as `****-05-**`), date-time
`>= > <= < ? !? *` (no `=`), numeric `= != >= > <= < ? !?` (`=` takes a comma list), string
`= != ~ ~~ ? !?`, boolean `= !=`, array `~`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

OPERATORS: dict[str, tuple[str, ...]] = {
    "date": ("=", ">=", ">", "<=", "<", "?", "!?"),
    "date-time": (">=", ">", "<=", "<", "?", "!?", "*"),
    "int64": ("=", "!=", ">=", ">", "<=", "<", "?", "!?"),
    "integer": ("=", "!=", ">=", ">", "<=", "<", "?", "!?"),
    "string": ("=", "!=", "~", "~~", "?", "!?"),
    "boolean": ("=", "!="),
    "array": ("~",),
}
# Longest first, so `>=` is not read as `>` followed by "=...".
_ALL_OPS = ("!?", "!=", ">=", "<=", "~~", "?", "=", ">", "<", "~", "*")
_NO_VALUE = ("?", "!?", "*")
_DATE_RE = re.compile(r"^[0-9*]{4}-[0-9*]{2}-[0-9*]{2}$")


class QueryError(ValueError):
    """A bad `q[]`, `sort` or paging parameter; the API answers 400 with this message."""


@dataclass(frozen=True)
class Filter:
    """One parsed `q[]=<field>:<op><value>` condition, ready to test rows."""

    field: str
    op: str
    raw: str  # the value as given (for cache keys)
    predicate: Predicate


def field_value(row: Row, name: str) -> Any:
    """The value a filter or sort on `name` sees; `patient_ids` falls back to `patient_id`."""
    if name in row:
        return row[name]
    if name.endswith("_ids"):
        single = row.get(name[:-1])
        return [single] if single is not None else []
    return None


def to_utc_string(value: str, field: str) -> str:
    """Normalise an ISO-8601 date-time (or a bare date) to Cliniko's `YYYY-MM-DDTHH:MM:SSZ`."""
    text = value.strip().replace(" ", "+")  # an unencoded "+" in a URL arrives as a space
    try:
        if len(text) == 10:
            parsed = datetime.fromisoformat(text).replace(tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
    except ValueError:
        raise QueryError(f"Filter value for {field} must be a date-time") from None
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _to_int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise QueryError(f"Filter value for {field} must be a number") from None


def _compare(op: str, get: Callable[[Row], Any], target: Any) -> Predicate:
    def ok(v: Any) -> bool:
        return v is not None

    if op == ">=":
        return lambda r: ok(v := get(r)) and v >= target
    if op == ">":
        return lambda r: ok(v := get(r)) and v > target
    if op == "<=":
        return lambda r: ok(v := get(r)) and v <= target
    if op == "<":
        return lambda r: ok(v := get(r)) and v < target
    if op == "=":
        return lambda r: get(r) == target
    if op == "!=":
        return lambda r: get(r) != target
    raise QueryError(f"Unsupported operator {op}")


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (`%` any run, `_` one character), case-insensitive as Postgres ILIKE."""
    parts = ["." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern]
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def _predicate(ftype: str, field: str, op: str, value: str) -> Predicate:
    def raw(r: Row) -> Any:
        return field_value(r, field)

    if op in ("?", "!?", "*"):
        if op == "*":
            return lambda r: True
        want_set = op == "?"
        return lambda r: (raw(r) not in (None, "")) == want_set
    if ftype in ("int64", "integer"):
        return _numeric(field, op, value)
    if ftype == "date":
        if op == "=" and "*" in value:
            if not _DATE_RE.match(value):
                raise QueryError(f"Filter value for {field} must be a date")
            rx = re.compile("^" + value.replace("*", "[0-9]") + "$")
            return lambda r: (v := raw(r)) is not None and bool(rx.match(v))
        if not _DATE_RE.match(value) or "*" in value:
            raise QueryError(f"Filter value for {field} must be a date")
        return _compare(op, raw, value)
    if ftype == "date-time":
        return _compare(op, raw, to_utc_string(value, field))
    if ftype == "boolean":
        if value.lower() not in ("true", "false"):
            raise QueryError(f"Filter value for {field} must be true or false")
        return _compare(op, raw, value.lower() == "true")
    if ftype == "array":
        return lambda r: value in [str(x) for x in (raw(r) or [])]
    # string
    if op == "~":
        needle = value.lower()
        return lambda r: (v := raw(r)) is not None and needle in str(v).lower()
    if op == "~~":
        rx = _like(value)
        return lambda r: (v := raw(r)) is not None and bool(rx.match(str(v)))
    return _compare(op, raw, value)


def _numeric(field: str, op: str, value: str) -> Predicate:
    """Ids are strings holding 64-bit integers: compare them as integers, never as text."""

    def num(r: Row) -> int | None:
        v = field_value(r, field)
        return None if v in (None, "") else int(v)

    if op == "=":
        wanted = {_to_int(part, field) for part in value.split(",") if part.strip()}
        if not wanted:
            raise QueryError(f"Filter value for {field} must be a number")
        return lambda r: num(r) in wanted
    return _compare(op, num, _to_int(value, field))


def parse_filter(text: str, filters: dict[str, str]) -> Filter:
    """Parse one `q[]` value such as `updated_at:>=2025-01-01T00:00:00Z`."""
    field, sep, rest = text.partition(":")
    if not sep or not field:
        raise QueryError(f"Invalid filter '{text}': expected field:operator value")
    if field not in filters:
        raise QueryError(f"{field} is not filterable")
    op = next((o for o in _ALL_OPS if rest.startswith(o)), None)
    ftype = filters[field]
    if op is None or op not in OPERATORS[ftype]:
        raise QueryError(f"Invalid operator in filter '{text}' for a {ftype} field")
    value = rest[len(op) :]
    if op in _NO_VALUE and value:
        raise QueryError(f"Operator {op} takes no value in filter '{text}'")
    if op not in _NO_VALUE and not value:
        raise QueryError(f"Missing value in filter '{text}'")
    return Filter(field, op, value, _predicate(ftype, field, op, value))


def parse_sort(
    sort: str | None, order: str | None, sortable: set[str]
) -> tuple[tuple[str, bool], ...]:
    """`sort=a:desc,b` -> ((a, True), (b, False), ..., (id, False)); True means descending.

    The deprecated `order=asc|desc` sets the direction of fields given without one (and of
    the default `created_at` order).
    """
    if order not in (None, "", "asc", "desc"):
        raise QueryError("order must be asc or desc")
    default_desc = order == "desc"
    keys: list[tuple[str, bool]] = []
    default = "created_at" if "created_at" in sortable else "id"  # services have no timestamps
    for part in (sort or default).split(","):
        name, _, direction = part.strip().partition(":")
        if not name:
            continue
        if name not in sortable:
            raise QueryError(f"{name} is not sortable")
        if direction not in ("", "asc", "desc"):
            raise QueryError(f"Invalid sort direction '{direction}' for {name}")
        keys.append((name, direction == "desc" if direction else default_desc))
    if all(name != "id" for name, _ in keys):
        keys.append(("id", default_desc))  # a stable order for paging
    return tuple(keys)


def sort_key(kind: str, name: str) -> Callable[[Row], tuple[bool, Any]]:
    """Key putting nulls last ascending and first descending, as Postgres does by default."""

    def convert(v: Any) -> Any:
        if kind in ("int64", "id", "integer", "int"):
            return int(v)
        if kind == "dec":
            try:
                return Decimal(v)
            except InvalidOperation:
                return Decimal(0)
        if isinstance(v, list | dict):
            return str(v)
        return v

    def key(row: Row) -> tuple[bool, Any]:
        v = field_value(row, name)
        return (True, 0) if v in (None, "") else (False, convert(v))

    return key
