"""The registry and schemas agree with Cliniko's OpenAPI spec (skipped without the spec)."""

from __future__ import annotations

import re

import pytest

from tap_cliniko.registry import packaged_definitions

DEFINITIONS = packaged_definitions()


def _filters(operation: dict) -> dict[str, str]:
    for param in operation.get("parameters", []):
        if param.get("name") == "q[]":
            return dict(re.findall(r"\| (\w+) \| \[([\w-]+)\]", param["description"]))
    return {}


def _component(spec: dict, ref: str) -> dict:
    node = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    merged: dict = {}
    for member in node.get("anyOf", [node]):
        if "$ref" in member:
            member = spec["components"]["schemas"][member["$ref"].rsplit("/", 1)[1]]
        merged.update(member.get("properties", {}))
    return merged


def _list_body(spec: dict, path: str) -> dict:
    get = spec["paths"][path]["get"]
    return get["responses"]["200"]["content"]["application/json"]["schema"]["properties"]


def test_every_top_level_collection_is_a_stream(cliniko_spec: dict) -> None:
    listed = set()
    for path, item in cliniko_spec["paths"].items():
        if path.count("/") == 1 and "get" in item:
            body = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            if any(v.get("type") == "array" for v in body.get("properties", {}).values()):
                listed.add(path)
    ours = {d.paths[0] for d in DEFINITIONS.values()}
    assert ours == listed


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_stream_matches_spec(cliniko_spec: dict, name: str) -> None:
    definition = DEFINITIONS[name]
    for path in definition.paths:
        body = _list_body(cliniko_spec, path)
        assert definition.records_key in body, f"{path} lists under another key"
    get = cliniko_spec["paths"][definition.paths[0]]["get"]
    filters = _filters(get)
    if definition.replication_key:
        assert filters.get(definition.replication_key) == "date-time"
    else:
        assert filters.get("updated_at") != "date-time", "Cliniko filters on updated_at here"
    for field in definition.include:
        assert filters.get(field) == "date-time", f"{field} is not a date-time filter"
    for field in ("archived_at", "cancelled_at", "deleted_at"):
        if filters.get(field) == "date-time":
            assert field in definition.include, f"{field} records would be left out"


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_schema_covers_spec_fields(cliniko_spec: dict, name: str) -> None:
    definition = DEFINITIONS[name]
    body = _list_body(cliniko_spec, definition.paths[0])
    spec_props = _component(cliniko_spec, body[definition.records_key]["items"]["$ref"])
    ours = definition.schema["properties"]
    missing = set(spec_props) - set(ours)
    assert not missing, f"fields Cliniko sends that the schema would drop: {sorted(missing)}"
    invented = {k for k in set(ours) - set(spec_props) if not k.endswith("_id")}
    assert not invented, f"fields the spec does not know: {sorted(invented)}"
    for field, node in spec_props.items():
        kind = node.get("type")
        if kind:
            ours_kind = ours[field]["type"]
            assert kind in (ours_kind if isinstance(ours_kind, list) else [ours_kind]), field
        if node.get("format") in ("date", "date-time"):
            assert ours[field].get("format") == node["format"], field
    for key in (k for k in ours if k.endswith("_id") and k not in spec_props):
        link = spec_props[key[:-3]]
        assert set(link.get("properties", {})) == {"links"}, f"{key} has no link to read"
