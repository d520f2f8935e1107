"""Derive tap-cliniko's stream registry and Singer schemas from Cliniko's OpenAPI spec.

A maintainer's tool, not used at run time. Run it when Cliniko publishes a new spec:

    python tap-cliniko/tools/derive_from_spec.py ../shared/reference/cliniko/openapi.yaml

It rewrites `tap_cliniko/streams.yaml` and `tap_cliniko/schemas/*.json`; review the diff.
The contract tests (`tap-cliniko/tests/test_contract.py`) fail when the two drift apart.

Rules (why: a Singer schema must accept what the API really sends, and keep IDs as strings):
- every property is nullable except `id` (the spec under-declares nulls, e.g. absent links);
- `$ref`s are inlined; `oneOf` members (custom fields, form questions) become open objects;
- validation keywords (enum, min/max, lengths) are dropped so a new enum value never fails a sync;
- `date` and `date-time` formats are kept; a string the spec marks `format: decimal` (money,
  quantities, rates) becomes singer-sdk's decimal string, `"format": "x-singer.decimal"`, which
  SQL targets load as NUMERIC (the spec gives no precision or scale, so none is set);
- each link object pointing at one record (`.../<plural>/<id>`) gets a `<name>_id` string field.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

PACKAGE = Path(__file__).resolve().parents[1] / "tap_cliniko"
INCLUDE_FILTERS = ("archived_at", "cancelled_at", "deleted_at")
EXTRA_PATHS = {"practitioners": ["/practitioners/inactive"]}
SINGLE_LINK = re.compile(r"/v1/[a-z_]+/1$")
SINGER_DECIMAL = "x-singer.decimal"  # singer-sdk's format for a number carried as a string


def available_filters(operation: dict) -> dict[str, str]:
    """The `q[]` filters an operation documents, as field -> type."""
    for param in operation.get("parameters", []):
        if param.get("name") == "q[]":
            return dict(re.findall(r"\| (\w+) \| \[([\w-]+)\]", param["description"]))
    return {}


def resolve(spec: dict, node: dict) -> dict:
    """`node` with its `$ref`s followed to the component they name."""
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def is_link_object(node: dict) -> bool:
    """Whether `node` is a Cliniko link object: an object whose only property is `links`."""
    props = node.get("properties", {})
    return node.get("type") == "object" and set(props) == {"links"}


def link_example(node: dict) -> str:
    """The example URL of a link object's `links.self`, or an empty string."""
    return node["properties"]["links"].get("properties", {}).get("self", {}).get("example", "")


def convert(spec: dict, node: dict, nullable: bool = True) -> dict[str, Any]:
    """A Singer schema for a spec schema, by the rules in this module's docstring."""
    node = resolve(spec, node)
    if "oneOf" in node or "anyOf" in node:
        return {"type": ["object", "null"], "additionalProperties": True}
    kind = node.get("type", "string")
    out: dict[str, Any] = {"type": [kind, "null"] if nullable else kind}
    if kind == "object":
        props = node.get("properties")
        if props:
            out["properties"] = {k: convert(spec, v) for k, v in props.items()}
        else:
            out["additionalProperties"] = True
    elif kind == "array":
        out["items"] = convert(spec, node.get("items", {}), nullable=True)
    elif node.get("format") in ("date", "date-time"):
        out["format"] = node["format"]
    elif kind == "string" and node.get("format") == "decimal":
        out["format"] = SINGER_DECIMAL
    return out


def component_properties(spec: dict, component: dict) -> dict[str, dict]:
    """Properties of a component; for an `anyOf` (communications) the union of its members'."""
    members = component.get("anyOf") or [component]
    merged: dict[str, dict] = {}
    for member in members:
        merged.update(resolve(spec, member).get("properties", {}))
    return merged


def stream_schema(spec: dict, component: dict) -> dict[str, Any]:
    """The Singer schema of a stream, with a `<name>_id` field beside each one-record link."""
    properties: dict[str, Any] = {}
    for name, node in sorted(component_properties(spec, component).items()):
        properties[name] = convert(spec, node, nullable=name != "id")
        if name != "links" and is_link_object(node) and SINGLE_LINK.search(link_example(node)):
            properties[f"{name}_id"] = {"type": ["string", "null"]}
    return {"type": "object", "properties": dict(sorted(properties.items()))}


def top_level_lists(spec: dict) -> list[tuple[str, dict]]:
    """The `GET /<collection>` operations whose response holds a list."""
    found = []
    for path, item in spec["paths"].items():
        get = item.get("get")
        if path.count("/") != 1 or not get:
            continue
        body = get["responses"]["200"]["content"]["application/json"]["schema"]
        if any(v.get("type") == "array" for v in body.get("properties", {}).values()):
            found.append((path, get))
    return found


def derive(spec: dict) -> tuple[dict, dict[str, dict]]:
    """The registry (stream name -> entry) and the Singer schemas, from the spec."""
    registry: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for path, get in top_level_lists(spec):
        body = get["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
        key = next(k for k, v in body.items() if v.get("type") == "array")
        filters = available_filters(get)
        entry: dict[str, Any] = {"paths": [path, *EXTRA_PATHS.get(key, [])], "records_key": key}
        if filters.get("updated_at") == "date-time":
            entry["replication_key"] = "updated_at"
        include = [f for f in INCLUDE_FILTERS if filters.get(f) == "date-time"]
        if include:
            entry["include"] = include
        schemas[key] = stream_schema(spec, resolve(spec, body[key]["items"]))
        if "id" not in schemas[key]["properties"]:
            # services have no id: a business offers an appointment type once.
            entry["primary_keys"] = sorted(
                k for k in schemas[key]["properties"] if k.endswith("_id")
            )
        registry[key] = entry
    return registry, schemas


def main(spec_path: str) -> None:
    """Rewrite `streams.yaml` and `schemas/*.json` from the spec at `spec_path`."""
    spec = yaml.safe_load(Path(spec_path).read_text())
    registry, schemas = derive(spec)
    header = (
        "# tap-cliniko's streams: one per Cliniko collection with a top-level list endpoint.\n"
        "# paths: endpoints read (all, in order); records_key: the list's key in the body;\n"
        "# replication_key: incremental on it (q[]=updated_at:>=bookmark), full table if absent;\n"
        "# include: q[]=<field>:* filters sent so archived/cancelled/deleted records come too.\n"
        "# Derived by tools/derive_from_spec.py, checked by tests/test_contract.py.\n"
    )
    (PACKAGE / "streams.yaml").write_text(header + yaml.safe_dump(registry, sort_keys=True))
    for name, schema in schemas.items():
        (PACKAGE / "schemas" / f"{name}.json").write_text(json.dumps(schema, indent=2) + "\n")
    print(f"{len(registry)} streams written")


if __name__ == "__main__":
    main(sys.argv[1])
