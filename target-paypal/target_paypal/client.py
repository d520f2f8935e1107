"""PayPal's REST API for the target: OAuth2 client credentials, Invoicing v2, retries, limits.

Thread-safe: the applier calls it from up to `max_concurrency` workers. Errors carry PayPal's
`name`, issue codes and `debug_id`, never field values (they can hold patient data) and never
the secret or the token.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.message
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyrate_limiter import Limiter, Rate

from target_paypal.transport import TRANSPORT_ERRORS, Answer, Transport, no_connection

PAYPAL_SANDBOX = "https://api-m.sandbox.paypal.com"
# PayPal's invoice statuses, by what the sync may do with an invoice in them.
EDITABLE = {"DRAFT", "SENT", "UNPAID", "SCHEDULED"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OPEN = {"SENT", "UNPAID", "SCHEDULED", "PARTIALLY_PAID"}
PAID = {"PAID", "MARKED_AS_PAID"}
CLOSED_BY_HAND = PAID | {"CANCELLED", "REFUNDED", "PARTIALLY_REFUNDED", "MARKED_AS_REFUNDED"}
LIMITER_BUFFER_MS = 2  # pyrate-limiter adds 50 ms to every wait by default: a third of the budget
# Refresh a token a little before PayPal's expiry: a tenth of its lifetime, at most a minute
# (a fixed minute would refresh a 60-second token on every call).
TOKEN_MARGIN_SHARE = 0.1
TOKEN_MARGIN_SECONDS = 60
RETRIABLE = {429, 500, 502, 503, 504}


@dataclass
class PayPalError(Exception):
    """A refused or failed PayPal call, described without personal data."""

    status: int | None
    name: str
    issues: list[str] = field(default_factory=list)
    debug_id: str | None = None
    operation: str = ""
    unreachable: bool = False  # no connection could be made (refused, unknown host)

    @property
    def retriable(self) -> bool:
        """Whether trying again may help: no answer at all, 429 or a 5xx."""
        return self.status is None or self.status in RETRIABLE

    @property
    def answer_lost(self) -> bool:
        """Whether PayPal may have done what was asked: the request went out, no clear answer.

        A timeout or a dropped connection after sending, or a 5xx (PayPal may fail after it
        committed). A 429 or a connection never made means the request was not carried out.
        """
        return (self.status is None and not self.unreachable) or (
            self.status is not None and self.status >= 500
        )

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        status = f"HTTP {self.status} " if self.status else ""
        issues = f" ({', '.join(self.issues)})" if self.issues else ""
        debug = f" debug_id={self.debug_id}" if self.debug_id else ""
        return f"{where}{status}{self.name}{issues}{debug}"


def _error_from(response: Answer, operation: str) -> PayPalError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    issues = [d.get("issue", "") for d in body.get("details") or [] if isinstance(d, dict)]
    name = body.get("name") or body.get("error") or response.reason or "ERROR"
    return PayPalError(response.status_code, str(name), issues, body.get("debug_id"), operation)


class PayPalClient:
    """Invoicing v2 calls with auth, throttling and retries."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        max_requests_per_second: float = 10,
        max_tries: int = 6,
        backoff_base_seconds: float = 1.0,
        timeout_seconds: float = 60,
        pool_size: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._options: dict[str, Any] = {
            "max_requests_per_second": max_requests_per_second,
            "max_tries": max_tries,
            "backoff_base_seconds": backoff_base_seconds,
            "timeout_seconds": timeout_seconds,
            "pool_size": pool_size,
            "sleep": sleep,
        }
        self._credentials = (client_id, client_secret)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self.max_tries = max_tries
        self.backoff_base = backoff_base_seconds
        self._sleep = sleep
        self.max_requests_per_second = max_requests_per_second
        self._limiter = _limiter(max_requests_per_second)
        self._calls = 0  # HTTP requests sent (every try), for the progress lines
        self._calls_lock = threading.Lock()
        self.transport = Transport(self.base_url, timeout_seconds, pool_size)

    def for_account(self, client_id: str, client_secret: str) -> PayPalClient:
        """A client of another PayPal account: this one's URL, limits and retries."""
        return PayPalClient(self.base_url, client_id, client_secret, **self._options)

    # --- auth ---------------------------------------------------------------------------------
    def access_token(
        self, renew: bool = False, tries: int | None = None, refused: str | None = None
    ) -> str:
        """A valid OAuth2 token, fetched again when `renew`, near its expiry or `refused`.

        Thread-safe: workers that were refused the same token fetch one new token between them.
        """
        with self._token_lock:
            stale = not self._token or time.time() >= self._token_expires
            if renew or stale or (refused is not None and refused == self._token):
                response = self._send(
                    "POST",
                    "/v1/oauth2/token",
                    "token",
                    tries=tries,
                    auth=self._credentials,
                    data={"grant_type": "client_credentials"},
                )
                body = response.json()
                self._token = body["access_token"]
                expires_in = float(body.get("expires_in", 3600))
                self._token_expires = time.time() + expires_in - token_margin(expires_in)
            return self._token  # type: ignore[return-value]

    # --- transport ----------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        operation: str,
        tries: int | None = None,
        write: bool = False,
        bearer: bool = False,
        **kwargs: Any,
    ) -> Answer:
        """One call with retries on 429, 5xx and dropped connections; raises PayPalError.

        A `bearer` call takes the current token on every try, so a try after a long wait never
        sends a token that expired meanwhile; a 401 (PayPal did nothing) fetches a new token and
        tries again at once, within the same `tries`.

        A `write` is not sent again once its answer may be lost (`PayPalError.answer_lost`):
        PayPal's Invoicing API has no idempotency key, so the caller finds out what PayPal did
        before it writes again (see settle.py).
        """
        max_tries = tries or self.max_tries
        headers = kwargs.pop("headers", {})
        refused: str | None = None
        for attempt in range(1, max_tries + 1):
            if bearer:
                token = self.access_token(refused=refused)
                kwargs["headers"] = {**headers, "Authorization": f"Bearer {token}"}
            elif headers:
                kwargs["headers"] = headers
            if self._limiter is not None:
                self._limiter.try_acquire("paypal")
            with self._calls_lock:
                self._calls += 1
            try:
                response = self.transport.request(method, path, **kwargs)
            except TRANSPORT_ERRORS as error:
                failure = PayPalError(None, type(error).__name__, operation=operation)
                failure.unreachable = no_connection(error)
                wait = self._backoff(attempt)
            else:
                if response.status_code < 400:
                    return response
                failure = _error_from(response, operation)
                if failure.status == 401 and path == "/v1/oauth2/token":
                    failure.name = "invalid_client: PayPal refused client_id/client_secret"
                    raise failure
                if failure.status == 401 and bearer:
                    refused = token
                    continue
                if not failure.retriable:
                    raise failure
                wait = _retry_after(response) or self._backoff(attempt)
            if write and failure.answer_lost:
                raise failure
            if attempt < max_tries:
                self._sleep(wait)
        raise failure

    @property
    def calls(self) -> int:
        """HTTP requests sent to PayPal so far, every try counted (thread-safe)."""
        with self._calls_lock:
            return self._calls

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_base * 2 ** (attempt - 1), 60.0) * random.uniform(1.0, 1.3)

    def pause(self, attempt: int) -> None:
        """Wait before trying a write again after finding it was not done (backoff)."""
        self._sleep(self._backoff(attempt))

    def call(self, method: str, path: str, operation: str, **kwargs: Any) -> Answer:
        """An authenticated API call: the token is renewed whenever PayPal refuses it (401)."""
        return self._send(method, path, operation, bearer=True, **kwargs)

    # --- Invoicing v2 -------------------------------------------------------------------------
    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a draft invoice; returns PayPal's copy."""
        response = self.call(
            "POST",
            "/v2/invoicing/invoices",
            "create",
            write=True,
            json=body,
            headers={"Prefer": "return=representation"},
        )
        return response.json()  # type: ignore[no-any-return]

    def get_invoice(self, paypal_id: str) -> dict[str, Any] | None:
        """PayPal's copy of an invoice, or None when PayPal does not know it (404)."""
        try:
            return self.call("GET", f"/v2/invoicing/invoices/{paypal_id}", "get").json()  # type: ignore[no-any-return]
        except PayPalError as error:
            if error.status == 404:
                return None
            raise

    def replace_invoice(self, paypal_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace an invoice in full (PUT) without emailing anyone; returns PayPal's copy."""
        response = self.call(
            "PUT",
            f"/v2/invoicing/invoices/{paypal_id}",
            "update",
            write=True,
            json={**body, "id": paypal_id},
            params={"send_to_recipient": "false", "send_to_invoicer": "false"},
            headers={"Prefer": "return=representation"},
        )
        return response.json()  # type: ignore[no-any-return]

    def delete_invoice(self, paypal_id: str) -> None:
        """Delete an invoice (the applier deletes drafts only; an open one is cancelled)."""
        self.call("DELETE", f"/v2/invoicing/invoices/{paypal_id}", "delete", write=True)

    def send_invoice(self, paypal_id: str, send_to_recipient: bool = True) -> None:
        """Send a draft; the recipient is emailed if `send_to_recipient`, the invoicer never."""
        self.call(
            "POST",
            f"/v2/invoicing/invoices/{paypal_id}/send",
            "send",
            write=True,
            json={"send_to_recipient": send_to_recipient, "send_to_invoicer": False},
        )

    def cancel_invoice(self, paypal_id: str) -> None:
        """Cancel an invoice without emailing anyone."""
        self.call(
            "POST",
            f"/v2/invoicing/invoices/{paypal_id}/cancel",
            "cancel",
            write=True,
            json={"send_to_recipient": False, "send_to_invoicer": False},
        )

    def record_payment(self, paypal_id: str, payment: dict[str, Any]) -> str:
        """Record a payment made outside PayPal; returns PayPal's payment id."""
        response = self.call(
            "POST",
            f"/v2/invoicing/invoices/{paypal_id}/payments",
            "record_payment",
            write=True,
            json=payment,
        )
        return str(response.json().get("payment_id", ""))

    def record_refund(self, paypal_id: str, refund: dict[str, Any]) -> str:
        """Record a refund made outside PayPal (`refund_detail`); returns PayPal's refund id."""
        response = self.call(
            "POST",
            f"/v2/invoicing/invoices/{paypal_id}/refunds",
            "record_refund",
            write=True,
            json=refund,
        )
        return str(response.json().get("refund_id", ""))

    def qr_code(self, paypal_id: str, size: int = 300, action: str = "pay") -> bytes:
        """The QR code of a sent invoice as PNG bytes: its pay page (`pay`) or its details."""
        answer = self.call(
            "POST",
            f"/v2/invoicing/invoices/{paypal_id}/generate-qr-code",
            "generate_qr_code",
            json={"width": size, "height": size, "action": action},
        )
        return png_of(answer.content, answer.headers.get("Content-Type", ""))

    def account_is_empty(self) -> bool:
        """Whether the account holds no invoice at all: one page of one, with the total."""
        body = self.call(
            "GET",
            "/v2/invoicing/invoices",
            "list",
            params={"page": 1, "page_size": 1, "total_required": "true"},
        ).json()
        return not body.get("items") and int(body.get("total_items") or 0) == 0

    def find_by_reference(self, reference: str) -> list[dict[str, Any]]:
        """Invoices whose detail.reference equals `reference` (checked here, not trusted)."""
        return self._search("reference", reference)

    def find_by_number(self, invoice_number: str) -> list[dict[str, Any]]:
        """Invoices whose detail.invoice_number equals `invoice_number` (checked here)."""
        return self._search("invoice_number", invoice_number)

    def _search(self, field_name: str, value: str) -> list[dict[str, Any]]:
        response = self.call(
            "POST",
            "/v2/invoicing/search-invoices",
            "search",
            params={"page": 1, "page_size": 100},
            json={field_name: value},
        )
        found = response.json().get("items") or []
        return [i for i in found if (i.get("detail") or {}).get(field_name) == value]


def png_of(content: bytes, content_type: str = "") -> bytes:
    """The PNG in a generate-qr-code answer.

    PayPal documents a Base64-encoded PNG, sent as multipart; the PNG is taken from a multipart
    body (its first part), Base64 text or PNG bytes alike. Raises ValueError on anything else.
    """
    body = content
    if content_type.lower().startswith("multipart/"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        parts = email.message_from_bytes(head + content).get_payload()
        if isinstance(parts, list) and parts and isinstance(parts[0], email.message.Message):
            # Decoded by its Content-Transfer-Encoding (base64: the PNG; none: as sent).
            payload = parts[0].get_payload(decode=True)
            body = payload if isinstance(payload, bytes) else b""
    if body.startswith(PNG_SIGNATURE):
        return body
    try:
        png = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error:
        png = b""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("PayPal's generate-qr-code answer holds no PNG image")
    return png


def token_margin(expires_in: float) -> float:
    """How long before a token's expiry to fetch a new one: scaled with its lifetime."""
    return min(TOKEN_MARGIN_SECONDS, expires_in * TOKEN_MARGIN_SHARE)


def _retry_after(response: Answer) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _limiter(per_second: float) -> Limiter | None:
    """At most `per_second` calls in any one-second window (0: no limit)."""
    if not per_second:
        return None
    rate = Rate(int(per_second), 1000) if per_second >= 1 else Rate(1, round(1000 / per_second))
    return Limiter(rate, buffer_ms=LIMITER_BUFFER_MS)
