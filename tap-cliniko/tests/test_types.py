"""Every field is typed as Cliniko's spec types it, nested fields too (skipped without the spec).

A warehouse loader (target-postgres, ...) makes its columns from these types: money that the spec
marks `format: decimal` must reach it as singer-sdk's decimal string (NUMERIC), not as text.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tap_cliniko.registry import packaged_definitions

DEFINITIONS = packaged_definitions()
SINGER_DECIMAL = "x-singer.decimal"


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _record_properties(spec: dict, name: str) -> dict[str, dict]:
    """The spec's properties of one record of stream `name` (all members of an `anyOf`)."""
    path = DEFINITIONS[name].paths[0]
    body = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    item = _resolve(spec, body["schema"]["properties"][DEFINITIONS[name].records_key]["items"])
    merged: dict[str, dict] = {}
    for member in item.get("anyOf", [item]):
        merged.update(_resolve(spec, member).get("properties", {}))
    return merged


def _types(node: dict) -> set[str]:
    kind = node.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def spec_scalars(spec: dict, props: dict[str, dict], at: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted path, spec node) of every scalar field, into nested objects and array items."""
    for key, raw in props.items():
        node, path = _resolve(spec, raw), f"{at}{key}"
        while node.get("type") == "array":
            node, path = _resolve(spec, node.get("items", {})), f"{path}[]"
        if "oneOf" in node or "anyOf" in node:
            continue  # open objects in our schemas (custom fields, form questions)
        if node.get("type") == "object":
            yield from spec_scalars(spec, node.get("properties", {}), f"{path}.")
        else:
            yield path, node


def ours_at(schema: dict, path: str) -> dict:
    """Our schema's node at a dotted path from `spec_scalars`."""
    node = schema
    for part in path.split("."):
        key = part.replace("[]", "")
        node = node["properties"][key]
        for _ in range(part.count("[]")):
            node = node["items"]
    return node


def our_decimals(schema: dict, at: str = "") -> Iterator[str]:
    """Dotted paths of every field our schema types as a decimal string."""
    for key, node in schema.get("properties", {}).items():
        path = f"{at}{key}"
        while "items" in node:
            node, path = node["items"], f"{path}[]"
        if node.get("format") == SINGER_DECIMAL:
            yield path
        yield from our_decimals(node, f"{path}.")


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_every_field_has_the_spec_type(cliniko_spec: dict, name: str) -> None:
    schema = DEFINITIONS[name].schema
    for path, node in spec_scalars(cliniko_spec, _record_properties(cliniko_spec, name)):
        ours = ours_at(schema, path)
        kind, fmt = node.get("type", "string"), node.get("format")
        assert kind in _types(ours), f"{name}.{path}: the spec says {kind}, ours {ours}"
        if kind == "string" and fmt == "decimal":
            assert ours.get("format") == SINGER_DECIMAL, f"{name}.{path} is money: {ours}"
        elif kind == "string" and fmt in ("date", "date-time"):
            assert ours.get("format") == fmt, f"{name}.{path} is a {fmt}: {ours}"
        else:
            assert ours.get("format") is None, f"{name}.{path}: no format in the spec"


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_decimal_strings_are_exactly_the_spec_decimals(cliniko_spec: dict, name: str) -> None:
    expected = {
        path
        for path, node in spec_scalars(cliniko_spec, _record_properties(cliniko_spec, name))
        if node.get("type", "string") == "string" and node.get("format") == "decimal"
    }
    assert set(our_decimals(DEFINITIONS[name].schema)) == expected


def test_money_fields_are_decimal_strings(cliniko_spec: dict) -> None:
    """The fields a finance team sums, named, so that a change in the spec is noticed."""
    decimals = {name: set(our_decimals(d.schema)) for name, d in DEFINITIONS.items()}
    assert decimals["invoices"] == {"discounted_amount", "net_amount", "tax_amount", "total_amount"}
    line_money = {"unit_price", "quantity", "tax_rate", "discounted_amount", "net_price"}
    assert line_money | {"tax_amount"} <= decimals["invoice_items"]
    assert decimals["taxes"] == {"amount", "rate"}
