"""Contract tests against Cliniko's own OpenAPI spec.

The spec is read from $CLINIKO_PAYPAL_REFERENCE/cliniko/openapi.yaml (default:
<repo root>/../shared/reference). Without it these tests skip; get the spec from
https://docs.api.cliniko.com/_spec/openapi.yaml.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from clinic_sandbox import SandboxServer
from clinic_sandbox.cliniko.resources import RESOURCES

yaml = pytest.importorskip("yaml")
validator_mod = pytest.importorskip("openapi_schema_validator")
referencing = pytest.importorskip("referencing")

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(os.environ.get("CLINIKO_PAYPAL_REFERENCE", REPO.parent / "shared" / "reference"))
SPEC_PATH = REFERENCE / "cliniko" / "openapi.yaml"


def _ruby_regex_to_python(node: Any) -> None:
    """The spec's patterns are Ruby's: `\\h` is a hex digit and emails are matched ignoring
    case. OAS 3.0 `nullable` enums list no null although Cliniko returns null: add it."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                node[key] = "(?i)" + value.replace(r"\h", "[0-9A-Fa-f]")
            else:
                _ruby_regex_to_python(value)
        if node.get("nullable") and "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    elif isinstance(node, list):
        for value in node:
            _ruby_regex_to_python(value)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip(f"Cliniko spec not found at {SPEC_PATH}; download it from "
                    "https://docs.api.cliniko.com/_spec/openapi.yaml and set "
                    "CLINIKO_PAYPAL_REFERENCE to the folder holding cliniko/openapi.yaml")
    data = yaml.safe_load(SPEC_PATH.read_text())
    _ruby_regex_to_python(data)
    return data


@pytest.fixture(scope="module")
def validate(spec):
    from referencing.jsonschema import DRAFT4

    registry = referencing.Registry().with_resource(
        "urn:cliniko", referencing.Resource.from_contents(spec, default_specification=DRAFT4))

    def check(schema: dict[str, Any], instance: Any) -> list[str]:
        rooted = _reroot(schema)
        v = validator_mod.OAS30Validator(rooted, registry=registry)
        return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in v.iter_errors(instance)]

    return check


def _reroot(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: ("urn:cliniko" + v if k == "$ref" else _reroot(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_reroot(v) for v in node]
    return node


def _schema(spec: dict, ref: str) -> dict[str, Any]:
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _variants(spec: dict, ref: str) -> list[dict[str, Any]]:
    schema = _schema(spec, ref)
    return [_schema(spec, s["$ref"]) for s in schema["anyOf"]] if "anyOf" in schema else [schema]


@pytest.fixture(scope="module")
def sandbox():
    with SandboxServer(seed=5, patients=40, invoices=60) as sb:
        sb.set_rate_limit(None)
        yield sb


@pytest.mark.parametrize("path", list(RESOURCES))
def test_list_and_get_match_spec(path: str, spec, validate, sandbox: SandboxServer) -> None:
    api = sandbox.cliniko_session()
    op = spec["paths"]["/" + path]["get"]
    list_schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    params = {"per_page": 100, "q[]": [f"{f}:*" for f in ("archived_at", "cancelled_at",
                                                           "deleted_at")
                                        if f in RESOURCES[path].filters]}
    body = api.get(f"{sandbox.cliniko_url}/{path}", params=params).json()
    assert validate(list_schema, body) == []
    key = RESOURCES[path].records_key
    records = body[key]
    assert records, f"{path} has no records"
    item_ref = list_schema["properties"][key]["items"]["$ref"]
    variants = _variants(spec, item_ref)
    for record in records:
        # Some variant holds every field of the record, and the record every (non-link)
        # field of that variant.
        exact = [v for v in variants if set(record) <= set(v["properties"]) and not {
            n for n in set(v["properties"]) - set(record) if not _is_link(v["properties"][n])}]
        assert exact, f"{path} {record['id']}: fields outside the spec or spec fields missing"
    get_path = "/" + path.split("/")[0] + "/{id}"
    if get_path not in spec["paths"]:
        return  # e.g. referral_sources: no GET by id in the spec
    get_schema = spec["paths"][get_path]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    for record in records[:5]:
        url = f"{sandbox.cliniko_url}/{path.split('/')[0]}/{record['id']}"
        one = api.get(url, params={"q[]": params["q[]"]})
        assert one.status_code == 200, url
        assert validate(get_schema, one.json()) == []


def _is_link(prop: dict[str, Any]) -> bool:
    """Unset link objects are left out, as in Cliniko's own examples."""
    return prop.get("type") == "object" and set(prop.get("properties", {})) == {"links"}


def test_resource_table_agrees_with_spec(spec) -> None:
    listed = {p.lstrip("/") for p, ops in spec["paths"].items()
              if "get" in ops and (p.count("/") == 1 or p == "/practitioners/inactive")
              and "{" not in p}
    listed -= {"settings", "user"}  # single objects, not collections
    assert set(RESOURCES) == listed
    for path, resource in RESOURCES.items():
        op = spec["paths"]["/" + path]["get"]
        props = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
        assert resource.records_key in props, path
        q = [p for p in op.get("parameters", []) if p.get("name") == "q[]"]
        doc = dict(re.findall(r"\| (\w+) \| \[([\w-]+)\]", q[0]["description"])) if q else {}
        assert resource.filters == doc, path
        item_ref = props[resource.records_key]["items"]["$ref"]
        for variant in _variants(spec, item_ref):
            names = [n for n, v in resource.variants.items() if set(v) == set(
                variant["properties"])]
            assert names, f"{path}: a schema variant's fields differ from the table"
