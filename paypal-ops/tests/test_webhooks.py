"""PayPal webhooks: the sandbox signs and sends INVOICING.INVOICE.* events, the receiver
(`paypal-ops webhooks`) verifies them and records them in the store.

Every refusal is checked against a positive control (the same event, signed properly, is
accepted), so a receiver that accepted everything or refused everything would fail here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from webhook_harness import Served, poll

from clinic_sandbox.paypal.webhooks import rfc3339, signed_string
from paypal_ops.accounts import AccountClients
from paypal_ops.report import conflicts
from paypal_ops.webhook_verify import (
    CertificateSource,
    OfflineVerifier,
    OnlineVerifier,
    Refused,
    parse_allowed,
)
from paypal_ops.webhooks import PATH, create_app
from target_paypal.client import PayPalClient
from target_paypal.store import Store, Xref

WEBHOOK_ID = "8PT597110X687430LKGECATA"
EMAIL = "jane.citizen@example.com"






@dataclass
class Receiver:
    sandbox: object
    store: Store
    url: str

    def post(self, body: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(self.url, data=body, headers=headers, timeout=10)


def paid_invoice_body(reference: str) -> dict:
    return {
        "detail": {"currency_code": "AUD", "reference": reference, "invoice_date": "2026-03-01"},
        "primary_recipients": [
            {
                "billing_info": {
                    "name": {"given_name": "Jane", "surname": "Citizen"},
                    "email_address": EMAIL,
                }
            }
        ],
        "items": [
            {
                "name": "Initial consultation",
                "quantity": "1",
                "unit_amount": {"currency_code": "AUD", "value": "100.00"},
            }
        ],
    }


@pytest.fixture
def make_receiver(make_sandbox, tmp_path) -> Iterator[Callable[..., Receiver]]:
    served: list[Served] = []

    def make(verify: str = "offline", max_age: float = 300, **source_kwargs) -> Receiver:
        sandbox = make_sandbox(patients=5, invoices=5)
        store = Store(f"sqlite:///{tmp_path / f'store{len(served)}.db'}")
        verifier: OfflineVerifier | OnlineVerifier
        if verify == "online":
            client = PayPalClient(
                sandbox.paypal_url, sandbox.paypal_client_id, sandbox.paypal_client_secret
            )
            verifier = OnlineVerifier(AccountClients(client))
        else:
            allowed = parse_allowed(sandbox.paypal_cert_origin)
            verifier = OfflineVerifier(CertificateSource(allowed, **source_kwargs))
        app = Served(create_app(store, {None: WEBHOOK_ID}, verifier, max_age))
        served.append(app)
        sandbox.set_paypal_webhook(app.url, WEBHOOK_ID)
        return Receiver(sandbox, store, app.url)

    yield make
    for app in served:
        app.stop()


def open_invoice(receiver: Receiver, cliniko_id: str = "300000000000000001") -> str:
    """An UNPAID invoice in the sandbox that the store knows as Cliniko invoice `cliniko_id`."""
    invoice = receiver.sandbox.paypal.add_invoice(paid_invoice_body(cliniko_id), send=True)
    receiver.store.save_xref(Xref(cliniko_id, invoice["id"], "CLN-1", invoice["status"], "h", None))
    return str(invoice["id"])


def events_of(store: Store, paypal_id: str) -> list[dict]:
    return [e for e in store.webhook_events() if e["paypal_id"] == paypal_id]


def test_genuine_event_updates_the_store_within_a_second(make_receiver, caplog):
    """The sync-health page lists the conflict at once (it reads the cross-references)."""
    caplog.set_level(logging.INFO, logger="paypal_ops.webhooks")
    receiver = make_receiver()
    paypal_id = open_invoice(receiver)

    started = time.monotonic()
    receiver.sandbox.paypal.mark_paid(paypal_id)
    xref = poll(
        lambda: (x := receiver.store.xref("300000000000000001")).paypal_status == "PAID" and x, 1.0
    )
    elapsed = time.monotonic() - started

    assert xref, f"store not updated within 1 s: {receiver.store.xref('300000000000000001')}"
    assert xref.conflict == "PAID in PayPal, not by this sync: left as it is"
    assert [x.invoice_id for x in conflicts(receiver.store.xrefs())] == [xref.invoice_id]
    [event] = events_of(receiver.store, paypal_id)
    assert event["event_type"] == "INVOICING.INVOICE.PAID"
    assert event["event_id"].startswith("WH-")
    assert event["invoice_id"] == "300000000000000001"
    assert elapsed < 1.0
    print(f"paid -> store updated in {elapsed * 1000:.0f} ms")
    assert receiver.sandbox.paypal.webhooks.wait_idle(5)  # the sender notes the answer last
    [delivery] = receiver.sandbox.paypal.webhooks.deliveries()
    assert (delivery.status, delivery.answer.strip()) == (200, "recorded")
    assert EMAIL.encode() in delivery.body  # the event carries the payer...
    assert "@" not in caplog.text  # ...and the receiver's log does not
    assert paypal_id in caplog.text and event["event_id"] in caplog.text


def test_cancel_and_refund_are_recorded_and_a_resend_is_not_recorded_twice(make_receiver):
    receiver = make_receiver()
    cancelled = open_invoice(receiver, "300000000000000002")
    refunded = open_invoice(receiver, "300000000000000003")
    paypal = receiver.sandbox.paypal
    paypal.cancel(cancelled)
    paypal.record_payment(refunded)
    paypal.refund(refunded)
    assert paypal.webhooks.wait_idle(10)

    assert receiver.store.xref("300000000000000002").paypal_status == "CANCELLED"
    assert receiver.store.xref("300000000000000003").paypal_status == "MARKED_AS_REFUNDED"
    assert [e["event_type"] for e in events_of(receiver.store, refunded)] == [
        "INVOICING.INVOICE.PAID",
        "INVOICING.INVOICE.REFUNDED",
    ]
    [cancel_event] = events_of(receiver.store, cancelled)

    paypal.webhooks.resend(cancel_event["event_id"])  # PayPal's retry: new transmission
    assert paypal.webhooks.wait_idle(10)
    last = paypal.webhooks.deliveries()[-1]
    assert (last.status, last.answer.strip()) == (200, "duplicate")
    assert len(events_of(receiver.store, cancelled)) == 1


@pytest.fixture
def genuine(make_receiver):
    """A receiver, one event it recorded, and a new event body it has not seen yet."""
    receiver = make_receiver()
    paypal_id = open_invoice(receiver)
    receiver.sandbox.paypal.cancel(paypal_id)
    assert receiver.sandbox.paypal.webhooks.wait_idle(10)
    [delivery] = receiver.sandbox.paypal.webhooks.deliveries()
    event = json.loads(delivery.body)
    event["id"] = "WH-NEW0000000000000-00000000000000000"
    fresh = json.dumps(event).encode()
    return receiver, delivery, fresh


def sign(receiver: Receiver, body: bytes, **overrides: str) -> dict[str, str]:
    headers = receiver.sandbox.paypal.webhooks.headers_for(body, WEBHOOK_ID)
    return {**headers, **overrides}


def recorded_ids(receiver: Receiver) -> set[str]:
    return {e["event_id"] for e in receiver.store.webhook_events()}


def refused(receiver: Receiver, body: bytes, headers: dict[str, str], status: int) -> str:
    before = recorded_ids(receiver)
    reply = receiver.post(body, headers)
    assert reply.status_code == status, reply.text
    assert recorded_ids(receiver) == before
    assert "@" not in reply.text and len(reply.text.splitlines()) == 1
    return reply.text


def test_forged_signature_is_refused(genuine):
    receiver, _, fresh = genuine
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = sign(receiver, fresh)
    message = signed_string(
        headers["PAYPAL-TRANSMISSION-ID"], headers["PAYPAL-TRANSMISSION-TIME"], WEBHOOK_ID, fresh
    )
    forged = base64.b64encode(other_key.sign(message, padding.PKCS1v15(), hashes.SHA256()))
    text = refused(receiver, fresh, {**headers, "PAYPAL-TRANSMISSION-SIG": forged.decode()}, 401)
    assert "signature does not verify" in text
    assert receiver.post(fresh, sign(receiver, fresh)).status_code == 200  # control


def test_wrong_webhook_id_tampered_body_and_bad_headers_are_refused(genuine):
    receiver, _, fresh = genuine
    webhooks = receiver.sandbox.paypal.webhooks
    refused(receiver, fresh, webhooks.headers_for(fresh, "SOME-OTHER-WEBHOOK"), 401)
    tampered = fresh.replace(b'"CANCELLED"', b'"PAID"', 1)
    assert tampered != fresh
    refused(receiver, tampered, sign(receiver, fresh), 401)
    refused(receiver, fresh, {**sign(receiver, fresh), "PAYPAL-AUTH-ALGO": "SHA1withRSA"}, 400)
    huge = fresh[:-1] + b', "padding": "' + b"x" * 1_000_000 + b'"}'
    assert "too large" in refused(receiver, huge, sign(receiver, huge), 413)
    headers = sign(receiver, fresh)
    del headers["PAYPAL-TRANSMISSION-SIG"]
    assert "PAYPAL-TRANSMISSION-SIG" in refused(receiver, fresh, headers, 400)
    assert receiver.post(fresh, sign(receiver, fresh)).status_code == 200  # control


def test_certificates_only_from_allowed_hosts(genuine):
    receiver, _, fresh = genuine
    cert_url = receiver.sandbox.paypal.webhooks.cert_url
    port = receiver.sandbox.paypal_port
    for elsewhere in (
        cert_url.replace("127.0.0.1", "localhost"),  # same server, another origin
        cert_url.replace(f":{port}", f":{port + 1}"),
        cert_url.replace("http://", "https://"),
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
    ):
        text = refused(
            receiver, fresh, sign(receiver, fresh, **{"PAYPAL-CERT-URL": elsewhere}), 401
        )
        assert "allowed certificate host" in text
    assert receiver.post(fresh, sign(receiver, fresh)).status_code == 200  # control


def test_default_allow_list_is_paypal_over_https():
    allowed = parse_allowed("api.paypal.com,api.sandbox.paypal.com")
    source = CertificateSource(allowed)
    for url in (
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://evil.example/v1/notifications/certs/CERT-1",
    ):
        with pytest.raises(Refused, match="allowed certificate host"):
            source.get(url)


def test_expired_certificate_is_refused(make_receiver):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    receiver = make_receiver(clock=lambda: later)
    paypal_id = open_invoice(receiver)
    receiver.sandbox.paypal.mark_paid(paypal_id)
    assert receiver.sandbox.paypal.webhooks.wait_idle(10)
    statuses = {(d.status, d.answer.strip()) for d in receiver.sandbox.paypal.webhooks.deliveries()}
    assert statuses == {(401, "refused: the signing certificate is outside its validity dates")}
    assert receiver.store.webhook_events() == []
    assert receiver.store.xref("300000000000000001").paypal_status == "UNPAID"


def test_stale_and_future_transmissions_are_refused(genuine):
    receiver, _, fresh = genuine
    webhooks = receiver.sandbox.paypal.webhooks
    now = time.time()
    stale = webhooks.headers_for(fresh, WEBHOOK_ID, rfc3339(now - 301))
    assert "stale" in refused(receiver, fresh, stale, 400)
    future = webhooks.headers_for(fresh, WEBHOOK_ID, rfc3339(now + 600))
    assert "future" in refused(receiver, fresh, future, 400)
    recent = webhooks.headers_for(fresh, WEBHOOK_ID, rfc3339(now - 200))
    assert receiver.post(fresh, recent).status_code == 200  # control


def test_replayed_transmission_is_refused(genuine):
    receiver, delivery, fresh = genuine
    assert "replayed" in refused(receiver, delivery.body, delivery.headers, 400)
    headers = sign(receiver, fresh)
    assert receiver.post(fresh, headers).status_code == 200
    assert "replayed" in refused(receiver, fresh, headers, 400)
    assert len(receiver.store.webhook_events()) == 2


def test_online_verification_against_the_sandbox(make_receiver):
    receiver = make_receiver(verify="online")
    paypal_id = open_invoice(receiver)
    receiver.sandbox.paypal.mark_paid(paypal_id)
    # The 1 s promise is checked offline and end to end; online adds a round trip to PayPal.
    assert receiver.sandbox.paypal.webhooks.wait_idle(5)
    assert poll(lambda: events_of(receiver.store, paypal_id), 5.0)
    [delivery] = receiver.sandbox.paypal.webhooks.deliveries()
    event = json.loads(delivery.body)
    event["id"] = "WH-NEW0000000000000-00000000000000001"
    unknown = json.dumps(event).encode()  # signed right, but PayPal never sent it
    refused(receiver, unknown, sign(receiver, unknown), 401)
    event = json.loads(delivery.body)
    event["resource"]["invoice"]["status"] = "REFUNDED"
    tampered = json.dumps(event).encode()
    refused(receiver, tampered, sign(receiver, delivery.body), 401)
    refused(
        receiver,
        delivery.body,
        receiver.sandbox.paypal.webhooks.headers_for(delivery.body, "SOME-OTHER-WEBHOOK"),
        401,
    )
    verify_calls = [
        c for c in receiver.sandbox.paypal.call_log if c.path.endswith("verify-webhook-signature")
    ]
    assert len(verify_calls) == 4 and all(c.status == 200 for c in verify_calls)
    assert receiver.sandbox.paypal.writes() == [
        c for c in receiver.sandbox.paypal.writes() if "notifications" not in c.path
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_end_to_end_invoice_from_the_target_paid_by_hand(target, clinic, tmp_path):
    """`target-paypal` creates the invoices; `paypal-ops webhooks` runs as a process; the
    patient pays one in PayPal; the receiver records it and the cross-reference changes."""
    sandbox = target.sandbox
    made = clinic(customers=3, invoices=6)
    result = target.run(made.messages())
    assert result.returncode == 0, result.stderr[-2000:]
    store = Store(target.config["store_url"])
    open_ones = [x for x in store.xrefs() if x.paypal_status == "UNPAID"]
    assert open_ones, [x.paypal_status for x in store.xrefs()]
    xref = open_ones[0]

    port = free_port()
    env = {
        **os.environ,
        "PAYPAL_OPS_STORE_URL": target.config["store_url"],
        "PAYPAL_WEBHOOK_ID": WEBHOOK_ID,
    }
    log_path = tmp_path / "webhooks.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from paypal_ops.cli import main; main()",
                "webhooks",
                "--port",
                str(port),
                "--allowed-cert-hosts",
                sandbox.paypal_cert_origin,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        health = f"http://127.0.0.1:{port}/healthz"
        assert poll(lambda: _up(health), 20), Path(log_path).read_text()
        sandbox.set_paypal_webhook(f"http://127.0.0.1:{port}{PATH}", WEBHOOK_ID)
        started = time.monotonic()
        sandbox.paypal.mark_paid(xref.paypal_id)
        changed = poll(lambda: store.xref(xref.invoice_id).paypal_status == "PAID", 1.0)
        elapsed = time.monotonic() - started
        assert changed, Path(log_path).read_text()
        assert elapsed < 1.0
        print(f"paid by hand -> xref changed in {elapsed * 1000:.0f} ms")
        assert store.xref(xref.invoice_id).conflict
        [event] = store.webhook_events()
        assert (event["invoice_id"], event["paypal_id"]) == (xref.invoice_id, xref.paypal_id)
    finally:
        process.terminate()
        process.wait(10)
    logged = log_path.read_text()
    assert xref.paypal_id in logged and "@" not in logged
    assert not any(c["email"] in logged for c in made.customers.values())


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False
