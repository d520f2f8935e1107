"""`/_sandbox/paypal` control routes, the Python API, outage, call log and the fault hook."""

from __future__ import annotations

from fastapi import Response
from fastapi.testclient import TestClient

from clinic_sandbox.paypal import create_paypal_app

CONTROL = "/_sandbox/paypal"
INVOICES = "/v2/invoicing/invoices"


def sent(paypal, invoice_body, **detail):
    invoice_id = paypal.create(invoice_body(**detail))["id"]
    paypal.send(invoice_id)
    return invoice_id


def test_list_and_read_stored_invoices_without_a_token(client, paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    listed = client.get(f"{CONTROL}/invoices").json()["items"]
    assert [i["id"] for i in listed] == [invoice_id]
    assert client.get(f"{CONTROL}/invoices/{invoice_id}").json()["status"] == "DRAFT"
    assert client.get(f"{CONTROL}/invoices/INV2-NONE-NONE-NONE-NONE").status_code == 404


def test_patient_pays_in_paypal(client, paypal, invoice_body):
    invoice_id = sent(paypal, invoice_body)
    response = client.post(f"{CONTROL}/invoices/{invoice_id}/pay")
    assert response.status_code == 200
    invoice = paypal.invoice(invoice_id)
    assert invoice["status"] == "PAID" and invoice["due_amount"]["value"] == "0.00"
    assert invoice["payments"]["transactions"][0]["type"] == "PAYPAL"


def test_patient_pays_part_in_paypal(client, paypal, invoice_body):
    invoice_id = sent(paypal, invoice_body)
    client.post(f"{CONTROL}/invoices/{invoice_id}/pay", json={"value": "10.00"})
    assert paypal.invoice(invoice_id)["status"] == "PARTIALLY_PAID"


def test_paying_a_draft_by_hand_is_refused(client, paypal, invoice_body):
    invoice_id = paypal.create(invoice_body())["id"]
    response = client.post(f"{CONTROL}/invoices/{invoice_id}/pay")
    assert response.status_code == 422
    assert response.json()["details"][0]["issue"] == "CANNOT_PROCESS_PAYMENTS"


def test_cancel_by_hand(client, paypal, invoice_body):
    invoice_id = sent(paypal, invoice_body)
    assert client.post(f"{CONTROL}/invoices/{invoice_id}/cancel").json()["status"] == "CANCELLED"
    assert paypal.invoice(invoice_id)["status"] == "CANCELLED"


def test_hand_edited_total_and_fields(client, paypal, invoice_body):
    invoice_id = sent(paypal, invoice_body)
    edited = client.patch(f"{CONTROL}/invoices/{invoice_id}/amount", json={"value": "99.5"})
    assert edited.json()["amount"]["value"] == "99.50"
    assert paypal.invoice(invoice_id)["due_amount"]["value"] == "99.50"
    patched = client.patch(f"{CONTROL}/invoices/{invoice_id}",
                           json={"detail": {"memo": "changed in PayPal"},
                                 "items": [{"name": "Consult", "quantity": "2",
                                            "unit_amount": {"currency_code": "AUD",
                                                            "value": "50.00"}}]})
    assert patched.status_code == 200
    invoice = paypal.invoice(invoice_id)
    assert invoice["detail"]["memo"] == "changed in PayPal"
    assert invoice["detail"]["reference"] == "cliniko-invoice-1001"  # merge, not replace
    assert invoice["amount"]["value"] == "100.00"  # recomputed: no tax on the new line


def test_delete_by_hand_works_in_any_status(client, paypal, invoice_body):
    invoice_id = sent(paypal, invoice_body)
    assert client.delete(f"{CONTROL}/invoices/{invoice_id}").status_code == 204
    assert paypal.get(f"{INVOICES}/{invoice_id}").status_code == 404
    assert client.delete(f"{CONTROL}/invoices/{invoice_id}").status_code == 404


def test_add_invoice_by_hand(client, invoice_body, state):
    response = client.post(f"{CONTROL}/invoices", params={"send": "true"}, json=invoice_body())
    assert response.status_code == 201
    assert state.invoices()[0]["status"] == "UNPAID"
    assert state.call_log == []  # control routes are not API calls


def test_outage_makes_every_api_call_503(client, paypal, invoice_body, state):
    invoice_id = paypal.create(invoice_body())["id"]
    assert client.put(f"{CONTROL}/outage", json={"down": True}).json() == {"down": True}
    for response in (paypal.get(f"{INVOICES}/{invoice_id}"), paypal.post(INVOICES, invoice_body()),
                     client.post("/v1/oauth2/token", auth=("test-client", "test-secret"),
                                 data={"grant_type": "client_credentials"})):
        assert response.status_code == 503
        assert response.json()["name"] == "SERVICE_UNAVAILABLE"
    assert len(state.invoices()) == 1
    assert client.get(f"{CONTROL}/invoices").status_code == 200  # control still works
    client.put(f"{CONTROL}/outage", json={"down": False})
    assert paypal.get(f"{INVOICES}/{invoice_id}").status_code == 200
    state.set_outage(True)
    assert client.get(f"{CONTROL}/outage").json() == {"down": True}


def test_call_log_counts_paypal_writes(client, paypal, invoice_body, state):
    state.clear_call_log()
    invoice_id = sent(paypal, invoice_body)
    paypal.get(f"{INVOICES}/{invoice_id}")
    paypal.post(f"{INVOICES}/{invoice_id}/payments", {"method": "CASH"})
    paypal.post("/v2/invoicing/search-invoices", {"reference": "none"})  # a POST that reads
    client.get(f"{CONTROL}/invoices")
    calls = [(c.method, c.path.replace(invoice_id, "{id}"), c.status) for c in state.call_log]
    assert calls == [("POST", INVOICES, 201), ("POST", INVOICES + "/{id}/send", 200),
                     ("GET", INVOICES + "/{id}", 200),
                     ("POST", INVOICES + "/{id}/payments", 200),
                     ("POST", "/v2/invoicing/search-invoices", 200)]
    assert len(state.writes()) == 3
    log = client.get(f"{CONTROL}/calls").json()
    assert log["writes"] == 3 and len(log["calls"]) == 5
    client.delete(f"{CONTROL}/calls")
    assert state.call_log == []


def test_token_controls(client, state):
    client.put(f"{CONTROL}/credentials", json={"client_id": "a", "client_secret": "b"})
    client.put(f"{CONTROL}/token-expiry", json={"seconds": 5})
    assert client.get(f"{CONTROL}/credentials").json() == {
        "client_id": "a", "client_secret": "b", "token_expires_in": 5}
    token = client.post("/v1/oauth2/token", auth=("a", "b"),
                        data={"grant_type": "client_credentials"}).json()
    assert token["expires_in"] == 5
    assert client.post(f"{CONTROL}/tokens/expire").status_code == 204
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get(INVOICES, headers=headers).status_code == 401


def test_reset_forgets_everything(client, paypal, invoice_body, state):
    paypal.create(invoice_body())
    state.set_outage(True)
    assert client.post(f"{CONTROL}/reset").status_code == 204
    assert state.invoices() == [] and state.call_log == [] and not state.outage


def test_python_api_mirrors_the_routes(paypal, invoice_body, state):
    invoice_id = sent(paypal, invoice_body)
    payment = state.record_payment(invoice_id, "CASH", "10.00")
    assert payment.startswith("EXTR-")
    assert state.invoice(invoice_id)["status"] == "PARTIALLY_PAID"
    state.mark_paid(invoice_id)
    assert state.invoice(invoice_id)["status"] == "PAID"
    other = state.add_invoice(invoice_body(invoice_number="HAND-1"), send=True)
    state.cancel(other["id"])
    assert state.invoice(other["id"])["status"] == "CANCELLED"
    assert state.delete(other["id"]) and state.invoice(other["id"]) is None


class TooManyOnce:
    """A stand-in for the shared fault injector: one 429, then nothing."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def apply(self, request):
        self.seen.append(request.url.path)
        if len(self.seen) == 2:
            return Response('{"name":"RATE_LIMIT_REACHED"}', status_code=429,
                            media_type="application/json")
        return None


def test_fault_hook_runs_before_api_routes_only(state, invoice_body):
    faults = TooManyOnce()
    with TestClient(create_paypal_app(state, faults=faults)) as client:
        token = client.post("/v1/oauth2/token", auth=("test-client", "test-secret"),
                            data={"grant_type": "client_credentials"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post(INVOICES, json=invoice_body(), headers=headers).status_code == 429
        assert client.post(INVOICES, json=invoice_body(), headers=headers).status_code == 201
        client.get(f"{CONTROL}/invoices")
    assert faults.seen == ["/v1/oauth2/token", INVOICES, INVOICES]
    assert [c.status for c in state.call_log] == [200, 429, 201]
    assert len(state.invoices()) == 1
