"""Contract tests against PayPal's own Invoicing v2 spec (skipped without it).

The spec is read from $CLINIKO_PAYPAL_REFERENCE/paypal/invoicing_v2.json (default
<repo root>/../shared/reference); it is public at
https://github.com/paypal/paypal-rest-api-specifications (openapi/invoicing_v2.json).

PayPal's own examples do not validate against its schema (notes §0), so these tests validate what
this project sends and what the sandbox answers, never PayPal's examples.
"""

from __future__ import annotations

import json

import pytest
from fastapi.routing import APIRoute

from clinic_sandbox.paypal import PayPalState, create_paypal_app
from clinic_sandbox.paypal.webhooks import CERT_PATH

from .conftest import SPEC_PATH

INVOICES = "/v2/invoicing/invoices"


@pytest.fixture
def strict(paypal, checker, spec):
    """A client that also validates every request body it sends."""
    paypal.check_requests = True
    return paypal


def test_sandbox_routes_are_operations_of_the_spec(spec):
    """Invoicing v2 routes in its spec, /v1/notifications/... in the webhooks spec. The signing
    certificate's URL is in no spec: PayPal's docs show it as /v1/notifications/certs/CERT-..."""
    webhooks_spec = SPEC_PATH.with_name("notifications_webhooks_v1.json")
    if webhooks_spec.exists():
        spec = {"paths": {**spec["paths"], **json.loads(webhooks_spec.read_text())["paths"]},
                "components": spec["components"]}
    app = create_paypal_app(PayPalState())
    token_url = spec["components"]["securitySchemes"]["Oauth2"]["flows"]["clientCredentials"][
        "tokenUrl"]
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path.startswith(("/_sandbox/", CERT_PATH)):
            continue
        for method in route.methods:
            if route.path == "/v1/oauth2/token":
                assert token_url.endswith(route.path) and method == "POST"
                continue
            assert route.path in spec["paths"], route.path
            assert method.lower() in spec["paths"][route.path], (method, route.path)


def test_a_whole_invoice_life_validates(strict, invoice_body, item):
    body = invoice_body(invoice_number="CT-1", memo="private")
    body["items"].append(item("Cream", "22.00", gst="0") | {"description": "GST-free",
                                                            "item_date": "2025-03-01",
                                                            "unit_of_measure": "QUANTITY"})
    body["items"].append(item("Follow-up", "80.00", quantity="1.5")
                         | {"discount": {"percent": "10"}})
    body["configuration"] = {"tax_inclusive": False, "tax_calculated_after_discount": True,
                             "allow_tip": False,
                             "partial_payment": {"allow_partial_payment": True}}
    body["amount"] = {"breakdown": {
        "discount": {"invoice_discount": {"percent": "5"}},
        "shipping": {"amount": {"currency_code": "AUD", "value": "5.00"},
                     "tax": {"name": "GST", "percent": "10"}},
        "custom": {"label": "Card surcharge", "amount": {"currency_code": "AUD",
                                                         "value": "1.50"}}}}
    body["primary_recipients"][0]["billing_info"]["address"] = {
        "address_line_1": "1 George St", "admin_area_2": "Sydney", "admin_area_1": "NSW",
        "postal_code": "2000", "country_code": "AU"}
    invoice = strict.create(body)
    invoice_id = invoice["id"]
    assert strict.post(INVOICES, body, representation=False).status_code == 422  # duplicate
    assert strict.get(INVOICES, params={"total_required": "true"}).status_code == 200
    strict.put(f"{INVOICES}/{invoice_id}", invoice_body(invoice_number="CT-1"))
    strict.put(f"{INVOICES}/{invoice_id}", invoice_body(invoice_number="CT-1"),
               representation=False)
    assert strict.post("/v2/invoicing/generate-next-invoice-number").status_code == 200
    assert strict.post(f"{INVOICES}/{invoice_id}/send",
                       {"subject": "Your invoice", "send_to_recipient": True}).status_code == 200
    strict.post(f"{INVOICES}/{invoice_id}/remind", {"note": "Reminder"})
    payment = strict.post(f"{INVOICES}/{invoice_id}/payments", {
        "method": "BANK_TRANSFER", "payment_date": "2025-03-02", "note": "EFT",
        "amount": {"currency_code": "AUD", "value": "10.00"}})
    assert payment.status_code == 200
    strict.post(f"{INVOICES}/{invoice_id}/payments", {"method": "CASH"})
    strict.get(f"{INVOICES}/{invoice_id}")
    strict.post(f"{INVOICES}/{invoice_id}/cancel", {"send_to_recipient": False})  # 422
    strict.post("/v2/invoicing/search-invoices", {
        "reference": "cliniko-invoice-1001", "status": ["MARKED_AS_PAID"],
        "invoice_date_range": {"start": "2025-03-01", "end": "2025-03-31"},
        "total_amount_range": {"lower_amount": {"currency_code": "AUD", "value": "0"},
                               "upper_amount": {"currency_code": "AUD", "value": "500"}}},
        params={"page": 1, "page_size": 10, "total_required": "true"})
    draft = strict.create(invoice_body(invoice_number="CT-2"))
    assert strict.delete(f"{INVOICES}/{draft['id']}").status_code == 204
    scheduled = strict.create(invoice_body(invoice_number="CT-3", invoice_date="2025-12-01"))
    assert strict.post(f"{INVOICES}/{scheduled['id']}/send", {}).status_code == 202


def test_error_bodies_validate(paypal, invoice_body, spec):
    """Invalid requests on purpose, so only the answers are validated here."""
    assert paypal.post(INVOICES, invoice_body(reference="r" * 200)).status_code == 400
    assert paypal.get(f"{INVOICES}/INV2-AAAA-AAAA-AAAA-AAAA").status_code == 404
    assert paypal.get(INVOICES, params={"page_size": 500}).status_code == 400
    paypal.token = "A21AAexpired"
    assert paypal.get(INVOICES).status_code == 401  # undeclared: validated against `default`


def test_outage_body_validates(paypal, state, spec):
    state.set_outage(True)
    assert paypal.get(INVOICES).status_code == 503


def test_spec_enumerated_issues_use_the_spec_wording(paypal, invoice_body, checker, spec):
    # `spec` first: it skips the test cleanly when PayPal's file is absent.
    """Where the spec enumerates an operation's issues and texts, the sandbox's match them."""
    invoice_id = paypal.create(invoice_body())["id"]
    cases = [
        ("POST", f"{INVOICES}/{invoice_id}/cancel", {}, 422),  # draft cannot be cancelled
        ("POST", f"{INVOICES}/{invoice_id}/payments", {"method": "BITCOIN"}, 400),
        ("POST", f"{INVOICES}/{invoice_id}/remind", {}, 422),
        ("POST", INVOICES, invoice_body(reference="r" * 121), 400),
        ("POST", INVOICES, invoice_body(invoice_number="n" * 26), 400),
    ]
    for method, path, body, status in cases:
        response = paypal.call(method, path, body)
        assert response.status_code == status, response.text
        op = checker.operation(method, path)
        schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
        checker.validate(response.json(), schema)  # allOf: generic + enumerated issue/text
