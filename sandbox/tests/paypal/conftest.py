"""Fixtures for the PayPal sandbox tests: a fake clock, the app in-process, an authenticated
client and, when PayPal's spec is available, a checker that validates every response.

PayPal's spec is read from $CLINIKO_PAYPAL_REFERENCE/paypal/invoicing_v2.json (default
<repo root>/../shared/reference).  It is not stored in this repository; without it the contract
checks are skipped.  Public source: https://github.com/paypal/paypal-rest-api-specifications,
file openapi/invoicing_v2.json.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clinic_sandbox.paypal import PayPalState, create_paypal_app

REPO = Path(__file__).resolve().parents[3]
REFERENCE = Path(os.environ.get("CLINIKO_PAYPAL_REFERENCE", REPO.parent / "shared" / "reference"))
SPEC_PATH = REFERENCE / "paypal" / "invoicing_v2.json"
SPEC_SOURCE = ("https://github.com/paypal/paypal-rest-api-specifications, file "
               "openapi/invoicing_v2.json")
CLIENT_ID, SECRET = "test-client", "test-secret"
START = 1740787200.0  # 2025-03-01T00:00:00Z


class FakeClock:
    """UNIX seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SpecChecker:
    """Validates bodies against the schema the spec gives an operation and status."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT4)
        self._registry = Registry().with_resource("urn:invoicing", resource)
        self._read, self._write = OAS30ReadValidator, OAS30WriteValidator
        self._paths = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p)
                       for p in spec["paths"]]

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        for pattern, template in self._paths:
            if pattern.match(path):
                return self.spec["paths"][template].get(method.lower())
        return None

    def validate(self, instance: Any, schema: dict[str, Any], writing: bool = False) -> None:
        schema = json.loads(json.dumps(schema).replace('"#/', '"urn:invoicing#/'))
        validator = (self._write if writing else self._read)(schema, registry=self._registry)
        validator.validate(instance)

    def schema(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def check_request(self, method: str, path: str, body: Any) -> None:
        op = self.operation(method, path)
        assert op is not None, f"{method} {path} is not an operation in PayPal's spec"
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if content and body is not None:
            self.validate(body, content["schema"], writing=True)

    def check_response(self, method: str, path: str, status: int, body: Any,
                       representation: bool) -> None:
        op = self.operation(method, path)
        assert op is not None, f"{method} {path} is not an operation in PayPal's spec"
        if status == 204:
            assert body is None, "204 must have no body"
            return
        schema = self.response_schema(op, status)
        if schema is None:  # an answer the spec gives no body schema (a QR code's PNG)
            return
        created = method == "POST" and path == "/v2/invoicing/invoices" and status in (200, 201)
        replaced = method == "PUT" and status == 200
        if (created or replaced) and not representation:
            # The spec promises the invoice only with `Prefer: return=representation`;
            # without it PayPal answers with a bare link (notes §3.5, observed).
            schema = self.schema("link_description")
        self.validate(body, schema)

    def response_schema(self, op: dict[str, Any], status: int) -> dict[str, Any] | None:
        response = op["responses"].get(str(status))
        if response is None and status == 200:
            # A replayed create answers 200 "already exists" (notes §6) with the 201 body.
            response = op["responses"].get("201")
        if response is None:  # undeclared statuses (401, 503, ...) fall to `default`
            return self.schema("error_default")
        content = response.get("content") or {}
        media = content.get("application/json") or content.get("multipart/mixed")
        if media is None:
            return None
        schema = media["schema"]
        # Error schemas are allOf[generic error, operation's enumerated issues]; sandbox issues
        # beyond the enumeration are legitimate, so the generic part is what every error meets.
        return schema["allOf"][0] if status >= 400 and "allOf" in schema else schema


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip(f"PayPal's Invoicing v2 spec not found at {SPEC_PATH}; get it from "
                    f"{SPEC_SOURCE} and set CLINIKO_PAYPAL_REFERENCE to the folder holding "
                    "paypal/invoicing_v2.json")
    return json.loads(SPEC_PATH.read_text())


@pytest.fixture(scope="session")
def checker() -> SpecChecker | None:
    """The response checker, or None when the spec is absent (behaviour tests still run)."""
    if not SPEC_PATH.exists():
        return None
    pytest.importorskip("openapi_schema_validator")
    return SpecChecker(json.loads(SPEC_PATH.read_text()))


class PayPalClient:
    """A bearer-authenticated client; each API answer is checked against the spec if known."""

    def __init__(self, client: TestClient, checker: SpecChecker | None,
                 check_requests: bool = False) -> None:
        self.client, self.checker, self.check_requests = client, checker, check_requests
        self.token = fetch_token(client)["access_token"]

    def refresh(self) -> None:
        """Fetch a fresh token (after a test moved the clock past expiry)."""
        self.token = fetch_token(self.client)["access_token"]

    def call(self, method: str, path: str, body: Any = None, representation: bool = True,
             headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if representation:
            sent.setdefault("Prefer", "return=representation")
        if self.checker and self.check_requests:
            self.checker.check_request(method, path, body)
        response = self.client.request(method, path, json=body, headers=sent, **kwargs)
        if self.checker and path.startswith("/v2/"):
            is_json = response.headers.get("content-type", "").startswith("application/json")
            parsed = response.json() if response.content and is_json else None
            self.checker.check_response(method, path, response.status_code, parsed,
                                        "return=representation" in sent.get("Prefer", ""))
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)

    # Shortcuts for the usual steps.
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post("/v2/invoicing/invoices", body)
        assert response.status_code == 201, response.text
        return response.json()

    def send(self, invoice_id: str) -> Any:
        return self.post(f"/v2/invoicing/invoices/{invoice_id}/send", {})

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        response = self.get(f"/v2/invoicing/invoices/{invoice_id}")
        assert response.status_code == 200, response.text
        return response.json()


def fetch_token(client: TestClient, user: str = CLIENT_ID, secret: str = SECRET) -> Any:
    response = client.post("/v1/oauth2/token", auth=(user, secret),
                           data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> PayPalState:
    return PayPalState(client_id=CLIENT_ID, client_secret=SECRET, clock=clock,
                       token_expires_in=3600)


@pytest.fixture
def client(state: PayPalState) -> Iterator[TestClient]:
    with TestClient(create_paypal_app(state)) as test_client:
        yield test_client


@pytest.fixture
def paypal(client: TestClient, checker: SpecChecker | None) -> PayPalClient:
    return PayPalClient(client, checker)


def _item(name: str, value: str, quantity: str = "1", gst: str | None = "10") -> dict[str, Any]:
    item: dict[str, Any] = {"name": name, "quantity": quantity,
                            "unit_amount": {"currency_code": "AUD", "value": value}}
    if gst is not None:
        item["tax"] = {"name": "GST", "percent": gst}
    return item


@pytest.fixture
def item() -> Callable[..., dict[str, Any]]:
    return _item


@pytest.fixture
def invoice_body() -> Callable[..., dict[str, Any]]:
    """A clinic invoice: one GST-able consult for a patient, overridable per test."""
    def make(**detail: Any) -> dict[str, Any]:
        items = detail.pop("items", None)
        body = {
            "detail": {"currency_code": "AUD", "reference": "cliniko-invoice-1001",
                       "invoice_date": "2025-03-01", "payment_term": {"term_type": "NET_30"},
                       "note": "Thank you for visiting Sunrise Clinic.", **detail},
            "primary_recipients": [{"billing_info": {
                "name": {"given_name": "Jane", "surname": "Citizen"},
                "email_address": "jane.citizen@example.com"}}],
            "items": items if items is not None else [_item("Initial consultation", "100.00")],
        }
        return copy.deepcopy(body)
    return make
