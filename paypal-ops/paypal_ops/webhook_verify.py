"""Checking that a webhook delivery comes from PayPal, as PayPal documents it.

Offline: the signed string is `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the
raw body, unsigned decimal>`; PAYPAL-TRANSMISSION-SIG is its SHA256withRSA signature by the key
of the X.509 certificate at PAYPAL-CERT-URL. The certificate is fetched only from an allowed
origin (PayPal's API hosts over https by default), never through a redirect, cached by URL, and
used only within its validity dates. Online: PayPal's `verify-webhook-signature` endpoint says
SUCCESS or FAILURE for the same fields and the event as received.

Each PayPal account has a webhook id of its own (`WebhookIds`, by account key; None is the
default account). A delivery is PayPal's for the account whose id it verifies for: offline, the
one id the signature verifies for (the id is in the signed string); online, the account whose
PayPal says SUCCESS when asked with its own client, for its own id.

A refusal is a `Refused` with an HTTP status and a one-line reason (no header or body values).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from paypal_ops.accounts import AccountClients, AccountUnusable
from target_paypal.client import PayPalClient, PayPalError

DEFAULT_CERT_HOSTS = ("api.paypal.com", "api.sandbox.paypal.com")
ALGORITHMS = {"SHA256withRSA": hashes.SHA256}
FUTURE_SKEW = dt.timedelta(seconds=60)  # clocks differ a little; more than this is refused
CERT_FETCH_TIMEOUT = 10
HEADERS = {
    "transmission_id": "paypal-transmission-id",
    "transmission_time": "paypal-transmission-time",
    "transmission_sig": "paypal-transmission-sig",
    "cert_url": "paypal-cert-url",
    "auth_algo": "paypal-auth-algo",
}
WebhookIds = Mapping[str | None, str]  # account key (None: the default) -> its webhook id


class Refused(Exception):
    """A delivery the receiver will not record; `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Delivery:
    """One POST from PayPal: the signature headers and the raw body, byte for byte."""

    transmission_id: str
    transmission_time: str
    transmission_sig: str
    cert_url: str
    auth_algo: str
    body: bytes

    @classmethod
    def from_request(cls, headers: Mapping[str, str], body: bytes) -> Delivery:
        """The delivery from the request's headers (any case); a missing header refuses it."""
        lower = {k.lower(): v for k, v in headers.items()}
        missing = [h.upper() for h in HEADERS.values() if not lower.get(h)]
        if missing:
            raise Refused(400, f"missing header {missing[0]}")
        return cls(**{field: lower[h] for field, h in HEADERS.items()}, body=body)

    def signed_string(self, webhook_id: str) -> bytes:
        """What PayPal signs: transmission id, time, webhook id and the body's CRC32, `|`-joined."""
        crc = binascii.crc32(self.body) & 0xFFFFFFFF
        return f"{self.transmission_id}|{self.transmission_time}|{webhook_id}|{crc}".encode()

    def sent_at(self) -> dt.datetime:
        """The transmission time; refused unless it is an RFC 3339 time with a zone."""
        try:
            moment = dt.datetime.fromisoformat(self.transmission_time.replace("Z", "+00:00"))
        except ValueError:
            raise Refused(400, "PAYPAL-TRANSMISSION-TIME is not an RFC 3339 time") from None
        if moment.tzinfo is None:
            raise Refused(400, "PAYPAL-TRANSMISSION-TIME has no time zone")
        return moment


def check_fresh(delivery: Delivery, now: dt.datetime, max_age: dt.timedelta) -> None:
    """Refuse a delivery sent more than `max_age` ago or more than a minute from now."""
    sent = delivery.sent_at()
    if now - sent > max_age:
        raise Refused(400, f"stale: sent more than {int(max_age.total_seconds())} s ago")
    if sent - now > FUTURE_SKEW:
        raise Refused(400, "transmission time is in the future")


@dataclass(frozen=True)
class Origin:
    """Where a certificate may come from: scheme, host and port."""

    scheme: str
    host: str
    port: int


def _origin(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = -1
    return Origin(scheme, (parts.hostname or "").lower(), port)


def parse_allowed(spec: str | list[str] | tuple[str, ...]) -> frozenset[Origin]:
    """The allowed certificate origins, from comma-separated entries.

    A bare host means https on 443; `scheme://host[:port]` is taken as it is (for a local
    sandbox, e.g. `http://127.0.0.1:8766`).
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    entries = [item.strip() for item in items if item.strip()]
    return frozenset(_origin(e if "://" in e else f"https://{e}") for e in entries)


class Verifier(Protocol):
    """A signature check, offline or online."""

    def account(self, delivery: Delivery, webhook_ids: WebhookIds) -> str | None:
        """The account for whose webhook id PayPal signed the delivery; Refused if none."""
        ...


class CertificateSource:
    """Certificates by URL from allowed origins only, cached (thread-safe)."""

    def __init__(
        self,
        allowed: frozenset[Origin],
        session: requests.Session | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.allowed = allowed
        self.session = session or requests.Session()
        self.clock = clock
        self._cache: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        """The certificate at `url`; refused unless from an allowed origin and valid now."""
        if _origin(url) not in self.allowed:
            raise Refused(401, "PAYPAL-CERT-URL is not on an allowed certificate host")
        with self._lock:
            cert = self._cache.get(url)
        if cert is None:
            cert = self._fetch(url)
            with self._lock:
                self._cache[url] = cert
        now = self.clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise Refused(401, "the signing certificate is outside its validity dates")
        return cert

    def _fetch(self, url: str) -> x509.Certificate:
        try:
            reply = self.session.get(url, timeout=CERT_FETCH_TIMEOUT, allow_redirects=False)
        except requests.RequestException as error:
            reason = f"cannot fetch the signing certificate ({type(error).__name__})"
            raise Refused(503, reason) from None
        if reply.status_code != 200:
            raise Refused(503, f"cannot fetch the signing certificate (HTTP {reply.status_code})")
        try:
            return x509.load_pem_x509_certificates(reply.content)[0]
        except ValueError:
            raise Refused(401, "PAYPAL-CERT-URL does not hold a PEM certificate") from None


class OfflineVerifier:
    """PayPal's self-verification: CRC32, signed string, RSA PKCS#1 v1.5 signature."""

    def __init__(self, certificates: CertificateSource) -> None:
        self.certificates = certificates

    def account(self, delivery: Delivery, webhook_ids: WebhookIds) -> str | None:
        """Check the signature here, with the RSA key of the certificate PayPal points to."""
        algorithm = ALGORITHMS.get(delivery.auth_algo)
        if algorithm is None:
            raise Refused(400, "unsupported PAYPAL-AUTH-ALGO")
        try:
            signature = base64.b64decode(delivery.transmission_sig, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(401, "PAYPAL-TRANSMISSION-SIG is not base64") from None
        key = self.certificates.get(delivery.cert_url).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Refused(401, "the signing certificate does not hold an RSA key")
        for account, webhook_id in webhook_ids.items():
            signed = delivery.signed_string(webhook_id)
            try:
                key.verify(signature, signed, padding.PKCS1v15(), algorithm())
            except InvalidSignature:
                continue
            return account
        raise Refused(401, "signature does not verify")


class OnlineVerifier:
    """POST /v1/notifications/verify-webhook-signature, the event sent exactly as received.

    Each account's webhook is asked about with that account's own client (PayPal checks an id
    of the app asking only), the default account's first.
    """

    def __init__(self, clients: AccountClients) -> None:
        self.clients = clients
        self._lock = threading.Lock()  # AccountClients makes each client once, unguarded

    def account(self, delivery: Delivery, webhook_ids: WebhookIds) -> str | None:
        """Ask PayPal: 401 when it says no for every account, 503 when one cannot be asked."""
        if delivery.auth_algo not in ALGORITHMS:
            raise Refused(400, "unsupported PAYPAL-AUTH-ALGO")
        try:
            json.loads(delivery.body)
        except ValueError:
            raise Refused(400, "the body is not JSON") from None
        refusals = []
        for account, webhook_id in webhook_ids.items():
            try:
                self._ask(account, delivery, webhook_id)
            except Refused as refused:
                refusals.append(refused)
            else:
                return account
        # An account PayPal could not be asked about may be the delivery's: 503, PayPal retries.
        raise max(refusals, key=lambda r: r.status, default=Refused(401, "no webhook id"))

    def _client(self, account: str | None) -> PayPalClient:
        try:
            with self._lock:
                return self.clients.client(account)
        except AccountUnusable as unusable:
            raise Refused(503, str(unusable)) from None
        except PayPalError as error:
            raise Refused(503, f"PayPal account {account}: no token ({error})") from None

    def _ask(self, account: str | None, delivery: Delivery, webhook_id: str) -> None:
        fields = {
            "auth_algo": delivery.auth_algo,
            "cert_url": delivery.cert_url,
            "transmission_id": delivery.transmission_id,
            "transmission_sig": delivery.transmission_sig,
            "transmission_time": delivery.transmission_time,
            "webhook_id": webhook_id,
        }
        # Re-serialising the event could change its bytes (and so its CRC): splice it in as is.
        payload = json.dumps(fields)[:-1].encode() + b', "webhook_event": ' + delivery.body + b"}"
        try:
            reply = self._client(account).call(
                "POST",
                "/v1/notifications/verify-webhook-signature",
                "verify_webhook",
                data=payload,
                headers={"Content-Type": "application/json"},
            )
        except PayPalError as error:
            if error.status is not None and 400 <= error.status < 500:
                raise Refused(401, f"PayPal refused the verification request ({error})") from None
            raise Refused(503, f"PayPal's verification is unavailable ({error})") from None
        if reply.json().get("verification_status") != "SUCCESS":
            raise Refused(401, "PayPal says the signature does not verify")
