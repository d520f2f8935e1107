"""The PayPal sandbox's webhooks: which writes fire which event, the event's shape, PayPal's
signature over it (checked here independently, with the certificate from PAYPAL-CERT-URL),
delivery off the API's path, retries, and `verify-webhook-signature`."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from clinic_sandbox.paypal.webhooks import event_type_for

WEBHOOK_ID = "WH-SANDBOX-TEST-1"
BODY = {
    "detail": {"currency_code": "AUD", "reference": "cliniko-1", "invoice_date": "2026-03-01"},
    "primary_recipients": [{"billing_info": {"email_address": "jane@example.com"}}],
    "items": [{"name": "Consult", "quantity": "1",
               "unit_amount": {"currency_code": "AUD", "value": "100.00"}}],
}


class Catcher:
    """A loopback HTTP receiver: keeps every POST, answers `status`, can hold answers back."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give, in order (then 200)
        self.release = threading.Event()
        self.release.set()
        self.got = threading.Condition()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                catcher.release.wait(10)
                with catcher.got:
                    catcher.received.append((dict(self.headers.items()), body))
                    status = catcher.statuses.pop(0) if catcher.statuses else 200
                    catcher.got.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[dict[str, str], bytes]]:
        with self.got:
            assert self.got.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    found = Catcher()
    yield found
    found.release.set()
    found.server.shutdown()


@pytest.fixture
def sandbox(make_sandbox, catcher):
    sb = make_sandbox(patients=5, invoices=5)
    reply = requests.put(sb.paypal_control_url + "/webhooks",
                         json={"url": catcher.url, "webhook_id": WEBHOOK_ID}, timeout=10)
    assert reply.status_code == 200 and reply.json()["url"] == catcher.url
    return sb


def check_signature(headers: dict[str, str], body: bytes, webhook_id: str) -> None:
    """PayPal's offline check, written out here so the sandbox is tested against the docs."""
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["paypal-auth-algo"] == "SHA256withRSA"
    pem = requests.get(headers["paypal-cert-url"], timeout=10)
    assert pem.status_code == 200
    cert = x509.load_pem_x509_certificate(pem.content)
    crc = binascii.crc32(body) & 0xFFFFFFFF
    message = (f"{headers['paypal-transmission-id']}|{headers['paypal-transmission-time']}|"
               f"{webhook_id}|{crc}").encode()
    cert.public_key().verify(base64.b64decode(headers["paypal-transmission-sig"]),  # type: ignore[call-arg,union-attr]
                             message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[arg-type]


def test_which_writes_fire_which_event():
    sent = {"id": "I", "status": "UNPAID"}
    paid = {"id": "I", "status": "PAID", "payments": {"paid_amount": {"value": "10.00"}}}
    part = {"id": "I", "status": "PARTIALLY_PAID", "payments": {"paid_amount": {"value": "4"}}}
    more = {"id": "I", "status": "PARTIALLY_PAID", "payments": {"paid_amount": {"value": "6"}}}
    assert event_type_for(None, {"id": "I", "status": "DRAFT"}) is None
    assert event_type_for({"id": "I", "status": "DRAFT"}, sent) is None
    assert event_type_for(sent, paid) == "INVOICING.INVOICE.PAID"
    assert event_type_for(sent, {**paid, "status": "MARKED_AS_PAID"}) == "INVOICING.INVOICE.PAID"
    assert event_type_for(sent, part) == "INVOICING.INVOICE.PAID"
    assert event_type_for(part, more) == "INVOICING.INVOICE.PAID"
    assert event_type_for(paid, {**paid, "detail": {"memo": "edited"}}) is None
    assert event_type_for(sent, {"id": "I", "status": "CANCELLED"}) == "INVOICING.INVOICE.CANCELLED"
    assert event_type_for(paid, {**paid, "status": "REFUNDED"}) == "INVOICING.INVOICE.REFUNDED"
    assert event_type_for(paid, {**paid, "status": "MARKED_AS_REFUNDED"}) == (
        "INVOICING.INVOICE.REFUNDED")


def test_a_payment_through_the_api_sends_a_signed_event(sandbox, catcher):
    invoice = sandbox.paypal.add_invoice(BODY, send=True)
    session = sandbox.paypal_session()
    reply = session.post(f"{sandbox.paypal_url}/v2/invoicing/invoices/{invoice['id']}/payments",
                         json={"method": "CASH"}, timeout=10)
    assert reply.status_code == 200
    [(headers, body)] = catcher.wait_for(1)
    check_signature(headers, body, WEBHOOK_ID)
    with pytest.raises(Exception):  # noqa: B017 (InvalidSignature): the id is signed
        check_signature(headers, body, "ANOTHER-WEBHOOK")
    event = json.loads(body)
    assert event["id"].startswith("WH-") and event["event_type"] == "INVOICING.INVOICE.PAID"
    assert event["resource_type"] == "invoices" and event["event_version"] == "1.0"
    assert event["resource"]["invoice"]["id"] == invoice["id"]
    assert event["resource"]["invoice"]["status"] == "MARKED_AS_PAID"
    assert {link["rel"] for link in event["links"]} == {"self", "resend"}
    assert headers["PAYPAL-CERT-URL"].startswith(sandbox.paypal_url + "/v1/notifications/certs/")


def test_cancel_and_refund_by_hand_send_events(sandbox, catcher):
    cancelled = sandbox.paypal.add_invoice(BODY, send=True)["id"]
    refunded = sandbox.paypal.add_invoice(BODY, send=True)["id"]
    requests.post(f"{sandbox.paypal_control_url}/invoices/{cancelled}/cancel", timeout=10)
    requests.post(f"{sandbox.paypal_control_url}/invoices/{refunded}/pay", timeout=10)
    reply = requests.post(f"{sandbox.paypal_control_url}/invoices/{refunded}/refund", timeout=10)
    assert reply.json()["invoice"]["status"] == "REFUNDED"
    events = [json.loads(body) for _, body in catcher.wait_for(3)]
    assert sorted((e["resource"]["invoice"]["id"], e["event_type"]) for e in events) == sorted([
        (cancelled, "INVOICING.INVOICE.CANCELLED"), (refunded, "INVOICING.INVOICE.PAID"),
        (refunded, "INVOICING.INVOICE.REFUNDED")])
    for headers, body in catcher.received:
        check_signature(headers, body, WEBHOOK_ID)


def test_a_slow_receiver_does_not_slow_the_api(sandbox, catcher):
    catcher.release.clear()  # the receiver holds every answer back
    invoice = sandbox.paypal.add_invoice(BODY, send=True)
    session = sandbox.paypal_session()
    reply = session.post(f"{sandbox.paypal_url}/v2/invoicing/invoices/{invoice['id']}/cancel",
                         json={}, timeout=10)
    assert reply.status_code == 204
    assert sandbox.paypal.webhooks.settings()["pending"] == 1  # answered, delivery still open
    catcher.release.set()
    assert sandbox.paypal.webhooks.wait_idle(10)
    assert [d.status for d in sandbox.paypal.webhooks.deliveries()] == [200]


def test_a_failed_delivery_is_retried_as_a_new_transmission(sandbox, catcher):
    catcher.statuses = [500]
    invoice = sandbox.paypal.add_invoice(BODY, send=True)
    sandbox.paypal.mark_paid(invoice["id"])
    (first, body1), (second, body2) = catcher.wait_for(2)
    assert body1 == body2
    assert first["PAYPAL-TRANSMISSION-ID"] != second["PAYPAL-TRANSMISSION-ID"]
    assert sandbox.paypal.webhooks.wait_idle(10)
    assert [d.status for d in sandbox.paypal.webhooks.deliveries()] == [500, 200]


def test_nothing_is_sent_until_a_url_is_set(make_sandbox, catcher):
    sb = make_sandbox(patients=5, invoices=5)
    invoice = sb.paypal.add_invoice(BODY, send=True)
    sb.paypal.mark_paid(invoice["id"])
    assert sb.paypal.webhooks.deliveries() == [] and sb.paypal.webhooks.events() == []
    assert requests.get(sb.paypal_control_url + "/webhooks", timeout=10).json()["url"] is None


def test_verify_webhook_signature(sandbox, catcher):
    invoice = sandbox.paypal.add_invoice(BODY, send=True)
    sandbox.paypal.cancel(invoice["id"])
    [(headers, body)] = catcher.wait_for(1)
    request = {"auth_algo": headers["PAYPAL-AUTH-ALGO"], "cert_url": headers["PAYPAL-CERT-URL"],
               "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
               "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
               "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
               "webhook_id": WEBHOOK_ID, "webhook_event": json.loads(body)}
    url = sandbox.paypal_url + "/v1/notifications/verify-webhook-signature"
    session = sandbox.paypal_session()

    def status(**changes: Any) -> str:
        reply = session.post(url, json={**request, **changes}, timeout=10)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["verification_status"])

    assert status() == "SUCCESS"
    assert status(webhook_id="ANOTHER") == "FAILURE"
    assert status(transmission_id="d938e770-8046-11e6-8103-6b62a8a99ac4") == "FAILURE"
    tampered = json.loads(body)
    tampered["resource"]["invoice"]["status"] = "PAID"
    assert status(webhook_event=tampered) == "FAILURE"
    assert status(cert_url="https://api.sandbox.paypal.com/v1/notifications/certs/X") == "FAILURE"
    assert requests.post(url, json=request, timeout=10).status_code == 401  # a token is needed
    missing = {k: v for k, v in request.items() if k != "webhook_id"}
    assert session.post(url, json=missing, timeout=10).status_code == 400
    assert not [c for c in sandbox.paypal.writes() if "notifications" in c.path]
