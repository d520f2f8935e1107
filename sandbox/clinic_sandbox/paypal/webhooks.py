"""Signed webhook events, as PayPal sends them when an invoice is paid, cancelled or refunded.

A `WebhookSender` watches every invoice write (API or control route alike). A change of
status or of the paid amount into a paid status gives INVOICING.INVOICE.PAID; into CANCELLED,
INVOICING.INVOICE.CANCELLED; into a refunded status, INVOICING.INVOICE.REFUNDED. Events are built
at once (the invoice as it is then, under `resource.invoice`) and POSTed by one background thread
to the configured URL, so API calls are not slowed.  Each delivery is signed as PayPal documents:
SHA256withRSA over `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body>`, with
a key generated at start-up whose self-signed certificate the sandbox serves at
`/v1/notifications/certs/<cert id>` (the PAYPAL-CERT-URL header). A failed delivery (connection
error or non-2xx) is retried with a new transmission id, as PayPal does (up to `retries` more).
`verify(...)` is the sandbox's `verify-webhook-signature`: the same check, against its own copy
of the event.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import json
import queue
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

PAID_LIKE = frozenset({"PAID", "MARKED_AS_PAID", "PARTIALLY_PAID", "PAYMENT_PENDING"})
REFUNDED_LIKE = frozenset({"REFUNDED", "PARTIALLY_REFUNDED", "MARKED_AS_REFUNDED"})
SUMMARIES = {
    "INVOICING.INVOICE.PAID": "An invoice was paid, partially paid, or payment is made and is "
                              "pending.",
    "INVOICING.INVOICE.CANCELLED": "An invoice was cancelled.",
    "INVOICING.INVOICE.REFUNDED": "An invoice was refunded or partially refunded.",
}
AUTH_ALGO = "SHA256withRSA"
CERT_PATH = "/v1/notifications/certs/"
_ALNUM = string.ascii_uppercase + string.digits


def new_event_id() -> str:
    """`WH-<17>-<17>`, as PayPal's event ids look."""
    return "WH-" + "".join(secrets.choice(_ALNUM) for _ in range(17)) + "-" + \
        "".join(secrets.choice(_ALNUM) for _ in range(17))


def rfc3339(moment: float) -> str:
    """UNIX time `moment` as an RFC 3339 UTC timestamp to the second."""
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_type_for(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """The INVOICING.INVOICE.* event a write from `old` to `new` fires, if any."""
    before = (old or {}).get("status")
    after = new.get("status")
    if after in PAID_LIKE:
        paid = (new.get("payments") or {}).get("paid_amount")
        if before != after or paid != ((old or {}).get("payments") or {}).get("paid_amount"):
            return "INVOICING.INVOICE.PAID"
    if after == "CANCELLED" and before != after:
        return "INVOICING.INVOICE.CANCELLED"
    if after in REFUNDED_LIKE and before != after:
        return "INVOICING.INVOICE.REFUNDED"
    return None


def signed_string(transmission_id: str, transmission_time: str, webhook_id: str,
                  body: bytes) -> bytes:
    """What PayPal signs: transmission id, time, webhook id and the body's CRC32, `|`-joined."""
    crc = binascii.crc32(body) & 0xFFFFFFFF
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{crc}".encode()


@dataclass
class Delivery:
    """One POST the sender made: what a test needs to replay or forge it."""

    event_id: str
    event_type: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # None: no answer (connection error)
    answer: str = ""


@dataclass
class _Config:
    url: str | None = None
    webhook_id: str | None = None
    retries: int = 2


@dataclass
class _Signer:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    cert_id: str = field(default_factory=lambda: "CERT-SANDBOX-" + secrets.token_hex(8))

    @classmethod
    def generate(cls, now: float) -> _Signer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverification.sandbox"
                                             ".paypal.local")])
        start = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(days=1)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + dt.timedelta(days=366))
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
                                ).decode()

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


class WebhookSender:
    """Configured by `configure(url, webhook_id)`; off (events dropped) until then."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.base_url = ""  # where the sandbox serves its certificate; set by the server
        self._signer_made: _Signer | None = None
        self._config = _Config()
        self._lock = threading.Condition()
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._pending = 0
        self._events: dict[str, bytes] = {}  # event id -> body as sent (for verify)
        self._deliveries: list[Delivery] = []
        self._session = requests.Session()
        self._thread: threading.Thread | None = None

    @property
    def _signer(self) -> _Signer:
        """Key and certificate, made on first use (a 2048-bit key takes a moment)."""
        with self._lock:
            if self._signer_made is None:
                self._signer_made = _Signer.generate(self.clock())
            return self._signer_made

    # -- configuration ----------------------------------------------------------------------
    def configure(self, url: str | None, webhook_id: str | None, retries: int = 2) -> None:
        """Send events to `url` for `webhook_id`, retrying failures; a None url stops sending."""
        with self._lock:
            self._config = _Config(url or None, webhook_id or None, max(0, int(retries)))
            self._signer  # noqa: B018 (make the key now, not on the first event)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks",
                                                daemon=True)
                self._thread.start()

    def settings(self) -> dict[str, Any]:
        """The configuration, certificate URL and number of undelivered events, as JSON data."""
        with self._lock:
            return {"url": self._config.url, "webhook_id": self._config.webhook_id,
                    "retries": self._config.retries, "cert_url": self.cert_url,
                    "pending": self._pending}

    @property
    def cert_id(self) -> str:
        """Id of the signing certificate (the last part of `cert_url`)."""
        return self._signer.cert_id

    def serves_cert(self, cert_id: str) -> bool:
        """Whether `cert_id` is this sender's certificate (never makes a key to find out)."""
        with self._lock:
            return self._signer_made is not None and self._signer_made.cert_id == cert_id

    @property
    def cert_url(self) -> str:
        """Where receivers fetch the signing certificate (`PAYPAL-CERT-URL`)."""
        return f"{self.base_url}{CERT_PATH}{self._signer.cert_id}"

    def certificate_pem(self) -> bytes:
        """The self-signed signing certificate, PEM-encoded."""
        return self._signer.pem()

    # -- events -----------------------------------------------------------------------------
    def notice(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """Called on every invoice write: queue the event it fires (if any, and if on)."""
        event_type = event_type_for(old, new)
        with self._lock:
            if event_type is None or not self._config.url:
                return
            event = self._event(event_type, new)
            self._events[event["id"]] = _dumps(event)
            self._pending += 1
        self._queue.put(event)

    def _event(self, event_type: str, invoice: dict[str, Any]) -> dict[str, Any]:
        event_id = new_event_id()
        href = f"{self.base_url}/v1/notifications/webhooks-events/{event_id}"
        resource = copy.deepcopy(invoice)
        resource["links"] = [{"href": f"{self.base_url}/v2/invoicing/invoices/{invoice['id']}",
                              "rel": "self", "method": "GET"}]
        return {"id": event_id, "create_time": rfc3339(self.clock()),
                "resource_type": "invoices", "event_type": event_type,
                "summary": SUMMARIES[event_type], "resource": {"invoice": resource},
                "resource_version": "2.0", "event_version": "1.0",
                "links": [{"href": href, "rel": "self", "method": "GET"},
                          {"href": href + "/resend", "rel": "resend", "method": "POST"}]}

    def resend(self, event_id: str) -> None:
        """Deliver an event again (a new transmission of the same event, as PayPal retries)."""
        with self._lock:
            body = self._events[event_id]
            self._pending += 1
        self._queue.put(json.loads(body))

    def headers_for(self, body: bytes, webhook_id: str,
                    transmission_time: str | None = None) -> dict[str, str]:
        """PayPal's signature headers for `body` (tests forge deliveries from these)."""
        transmission_id = str(uuid.uuid1())
        sent = transmission_time or rfc3339(self.clock())
        return {"Content-Type": "application/json",
                "PAYPAL-TRANSMISSION-ID": transmission_id,
                "PAYPAL-TRANSMISSION-TIME": sent,
                "PAYPAL-TRANSMISSION-SIG": self._signer.sign(
                    signed_string(transmission_id, sent, webhook_id, body)),
                "PAYPAL-CERT-URL": self.cert_url,
                "PAYPAL-AUTH-ALGO": AUTH_ALGO}

    # -- delivery ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                self._deliver(event)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def _deliver(self, event: dict[str, Any]) -> None:
        with self._lock:
            config = self._config
            body = self._events.get(event["id"])
        if not config.url or body is None:
            return
        for _attempt in range(config.retries + 1):
            headers = self.headers_for(body, config.webhook_id or "")
            delivery = Delivery(event["id"], event["event_type"], config.url, headers, body)
            try:
                reply = self._session.post(config.url, data=body, headers=headers, timeout=10)
                delivery.status, delivery.answer = reply.status_code, reply.text[:200]
            except requests.RequestException as error:
                delivery.answer = type(error).__name__
            with self._lock:
                self._deliveries.append(delivery)
            if delivery.status is not None and 200 <= delivery.status < 300:
                return

    def wait_idle(self, timeout: float = 10) -> bool:
        """Block until every queued event was delivered (or given up); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)

    def deliveries(self) -> list[Delivery]:
        """Every delivery attempt so far, oldest first."""
        with self._lock:
            return list(self._deliveries)

    def events(self) -> list[dict[str, Any]]:
        """Every event fired so far, as sent."""
        with self._lock:
            return [json.loads(body) for body in self._events.values()]

    def clear(self) -> None:
        """Forget the events and deliveries (the configuration stays)."""
        with self._lock:
            self._deliveries.clear()
            self._events.clear()

    # -- verify-webhook-signature -----------------------------------------------------------
    def verify(self, request: dict[str, Any]) -> bool:
        """PayPal's postback check of a `verify-webhook-signature` request.

        It passes for our own certificate, the configured webhook id, the event as we sent it,
        and a valid signature over it.
        """
        event = request.get("webhook_event")
        with self._lock:
            webhook_id = self._config.webhook_id
            sent = self._events.get(event.get("id", "")) if isinstance(event, dict) else None
        if sent is None or json.loads(sent) != event or webhook_id is None:
            return False
        if request.get("auth_algo") != AUTH_ALGO or request.get("cert_url") != self.cert_url:
            return False
        if request.get("webhook_id") != webhook_id:
            return False
        try:
            signature = base64.b64decode(str(request.get("transmission_sig")), validate=True)
            message = signed_string(str(request.get("transmission_id")),
                                    str(request.get("transmission_time")), webhook_id, sent)
            self._signer.key.public_key().verify(signature, message, padding.PKCS1v15(),
                                                 hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def _dumps(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
