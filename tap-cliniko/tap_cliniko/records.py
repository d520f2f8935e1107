"""Record clean-up between Cliniko's JSON and the Singer schema.

Cliniko sends `""` for unset dates in places, quantities as integers or strings, and links
instead of foreign keys; warehouse users want typed values and plain `<name>_id` columns. A field
typed `"format": "x-singer.decimal"` (money: a decimal string, loaded as NUMERIC) stays a string.

`RecordConformer` is the one pass every record takes on its way out: Cliniko's looseness fixed
(`conform`), the foreign keys filled (`add_foreign_keys`), and what singer-sdk's own type
conformance did (the streams switch that off, `TYPE_CONFORMANCE_LEVEL = NONE`, for speed):
fields the schema does not declare dropped, at every level, with singer-sdk's warning, and
booleans made booleans.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec

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
    if not number.is_finite():
        return None  # "NaN", "Infinity": no number (singer-sdk's conformance made them null)
    return int(number) if integer and number == number.to_integral() else number


def _is_boolean(schema: dict[str, Any]) -> bool:
    """Typed boolean and nothing else (null aside): singer-sdk's "exclusive boolean"."""
    return _types(schema) in ({"boolean"}, {"boolean", "null"})


def _to_boolean(value: Any) -> Any:
    """A boolean field's value as singer-sdk's conformance made it: anything but 0 is true."""
    if value is None or value is True or value is False or isinstance(value, float | Decimal):
        return value  # singer-sdk passes numbers with a fraction through, even here
    return value != 0


def _scalar_conformer(schema: dict[str, Any], *, prune: bool = False) -> Conformer | None:
    """How a scalar is coerced towards `schema`; None when nothing ever changes.

    `prune`: also as singer-sdk's conformance did (a boolean field's value made a boolean).
    """
    if prune and _is_boolean(schema):
        return _to_boolean
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


_UNDECLARED: Any = object()  # a field the schema does not declare


def _compile(
    schema: dict[str, Any],
    *,
    prune: bool = False,
    path: str = "",
    unmapped: list[str] | None = None,
) -> Conformer | None:
    """The conformer of `schema`, None when nothing in it ever changes.

    Decided once per schema rather than once per value: the tap conforms every field of every
    record, and deciding per value took a fifth of its time.

    `prune`: also drop what an object's `properties` do not declare (unless the object allows
    `additionalProperties`), noting each dropped field's dotted path (`path` is the object's)
    in `unmapped`, as singer-sdk's conformance did; an object typed without `properties` (open:
    custom fields) is kept as it is.
    """
    scalar = _scalar_conformer(schema, prune=prune)
    closed = prune and not schema.get("additionalProperties")
    fields = None
    if "properties" in schema:
        fields = {
            k: _compile(sub, prune=prune, path=f"{path}{k}.", unmapped=unmapped)
            for k, sub in schema["properties"].items()
        }
        if closed:
            items = _items(schema, prune, path, unmapped)
            return _closed_object(fields, scalar, items, path, unmapped)
        fields = {k: f for k, f in fields.items() if f is not None} or None
    items = _items(schema, prune, path, unmapped)
    if fields is None and items is None:
        return scalar

    def compound(value: Any) -> Any:
        if fields is not None and isinstance(value, dict):
            return {k: f(v) if (f := fields.get(k)) is not None else v for k, v in value.items()}
        if items is not None and isinstance(value, list):
            return [items(item) for item in value]
        return scalar(value) if scalar is not None else value

    return compound


def _items(
    schema: dict[str, Any], prune: bool, path: str, unmapped: list[str] | None
) -> Conformer | None:
    """The conformer of an array's items, when it has one schema for them all."""
    items = schema.get("items")
    if not isinstance(items, dict):
        return None
    return _compile(items, prune=prune, path=path, unmapped=unmapped)


def _closed_object(
    fields: dict[str, Conformer | None],
    scalar: Conformer | None,
    items: Conformer | None,
    path: str,
    unmapped: list[str] | None,
) -> Conformer:
    """The conformer of an object that keeps only the fields it declares (`fields`)."""
    get = fields.get

    def closed(value: Any) -> Any:
        if isinstance(value, dict):
            out = {
                k: v if f is None else f(v)
                for k, v in value.items()
                if (f := get(k, _UNDECLARED)) is not _UNDECLARED
            }
            if len(out) != len(value) and unmapped is not None:
                unmapped.extend(f"{path}{k}" for k in value if k not in fields)
            return out
        if items is not None and isinstance(value, list):
            return [items(item) for item in value]
        return scalar(value) if scalar is not None else value

    return closed


NonEmptyString = Annotated[str, msgspec.Meta(min_length=1)]
_STRUCT_NAMES = itertools.count()


def _unchanged_type(schema: dict[str, Any]) -> Any:
    """The type (for msgspec) of the values that `_compile(schema, prune=True)` leaves alone.

    An object declaring `properties` is a Struct of them (refusing other fields unless
    `additionalProperties`), an array a list, a boolean field `bool`, a date, date-time or
    decimal string a non-empty `str`, a string field `str`, a number field `int | Decimal`.
    It may refuse more than that (a record then takes the slower way), never less.
    """
    if "properties" in schema:
        fields = [
            (f"f{n}", _unchanged_type(sub) | None, msgspec.field(default=None, name=key))
            for n, (key, sub) in enumerate(schema["properties"].items())
        ]
        return msgspec.defstruct(
            f"Unchanged{next(_STRUCT_NAMES)}",
            fields,
            forbid_unknown_fields=not schema.get("additionalProperties"),
        )
    if isinstance(schema.get("items"), dict):
        return list[_unchanged_type(schema["items"]) | None]  # type: ignore[misc]
    if _is_boolean(schema):
        return bool
    types = _types(schema)
    blank_is_null = schema.get("format") in BLANK_IS_NULL
    to_str = bool(types) and "string" in types and not types & NUMERIC
    to_number = bool(types) and "string" not in types and bool(types & NUMERIC)
    if to_number:
        return int | Decimal
    if to_str or blank_is_null:
        return NonEmptyString if blank_is_null else str
    return Any


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


class RecordConformer:
    """Every record of a stream on its way out, in one pass (see the module's docstring).

    `schema` is the stream's own (what Cliniko's fields are coerced to and the foreign keys
    read from); `selected_schema` the one the record must fit, the catalog's, usually equal.
    """

    def __init__(
        self,
        stream_name: str,
        schema: dict[str, Any],
        selected_schema: dict[str, Any],
        logger: logging.Logger,
    ) -> None:
        self.stream_name, self.logger = stream_name, logger
        self.schema = schema
        self.foreign_keys = _foreign_keys(schema)
        self.unmapped: list[str] = []
        self.warned: set[tuple[str, ...]] = set()
        self.unchanged: Any = None
        if selected_schema == schema:
            self.coerce = None
            self.prune = _compile(schema, prune=True, unmapped=self.unmapped)
            if self.prune is not None:
                self.unchanged = _unchanged_type(schema)
        else:
            self.coerce = _compile(schema)
            self.prune = _compile(selected_schema, prune=True, unmapped=self.unmapped)

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as it goes out."""
        if self.coerce is not None:
            record = add_foreign_keys(self.coerce(record), self.schema)
            out = self.prune(record) if self.prune is not None else record
        else:
            out = record
            if self.prune is not None and not self._unchanged(record):
                out = self.prune(record)
            for key, base in self.foreign_keys:
                if base in record and out.get(key) is None:
                    out[key] = id_from_link(record[base])
        if self.unmapped:
            self._warn_unmapped()
        return out  # type: ignore[no-any-return]

    def _unchanged(self, record: dict[str, Any]) -> bool:
        """Whether conforming would leave `record` as it is.

        Checked by msgspec, in C, against the type of the values the conformer leaves alone
        (`_unchanged_type`): nearly every record Cliniko sends passes, and the check takes a
        tenth of the time of conforming.
        """
        try:
            msgspec.convert(record, self.unchanged, strict=True)
        except msgspec.ValidationError:
            return False
        return True

    def _warn_unmapped(self) -> None:
        """singer-sdk's warning, once per run for each set of undeclared fields."""
        names = tuple(self.unmapped)
        self.unmapped.clear()
        if names not in self.warned:
            self.warned.add(names)
            self.logger.warning(
                "Properties %s were present in the '%s' stream but not found in catalog schema. "
                "Ignoring.",
                names,
                self.stream_name,
            )
