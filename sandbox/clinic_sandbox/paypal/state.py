"""`PayPalState`: everything one simulated PayPal merchant account holds.

It also has the switches and Python API tests use to act on the account "by hand" (as a person
would in PayPal's web UI).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .auth import OBSERVED_EXPIRES_IN, Credentials, TokenIssuer
from .lifecycle import Invoicing, InvoicingRules
from .notices import NotificationLog
from .store import PayPalStore
from .webhooks import WebhookSender

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_PATH = "/v1/oauth2/token"
READ_ONLY_POSTS = {TOKEN_PATH, "/v2/invoicing/search-invoices",
                   "/v1/notifications/verify-webhook-signature"}


def is_write(method: str, path: str) -> bool:
    """Whether a call could change PayPal data: a write method, not a read-only POST.

    Fetching a token, searching invoices and verifying a webhook signature are POSTs that
    change nothing.
    """
    return method in WRITE_METHODS and path not in READ_ONLY_POSTS


@dataclass(frozen=True)
class ApiCall:
    """One API request as the sandbox answered it (control routes are not logged).

    `status` is what the client got (0: the connection was dropped).  `answer_lost` marks a
    write the API carried out whose answer was then replaced by a 5xx or a dropped connection
    (the `answer_lost` fault).
    """

    method: str
    path: str
    status: int
    at: float
    query: str = ""
    answer_lost: bool = False

    @property
    def is_write(self) -> bool:
        """Whether the call could change PayPal data (see `is_write`)."""
        return is_write(self.method, self.path)

    @property
    def succeeded(self) -> bool:
        """Whether the API carried the call out (a 2xx), even if its answer was then lost."""
        return self.answer_lost or 200 <= self.status < 300


class PayPalState:
    """A merchant account: invoices, tokens, credentials, outage switch and call log.

    `clock` returns UNIX seconds and drives token expiry, timestamps and "today" (UTC).
    `honour_request_id` replays the first answer to a repeated `PayPal-Request-Id` POST
    (off by default: Invoicing v2 documents no idempotency, notes §5).
    `stale_token_body` picks the 401 body for unknown/expired tokens: "rest" (the spec's
    AUTHENTICATION_FAILURE) or "oauth" (`invalid_token`, as seen in the wild).
    """

    def __init__(self, client_id: str = "sandbox-client-id",
                 client_secret: str = "sandbox-client-secret",
                 token_expires_in: int = OBSERVED_EXPIRES_IN,
                 clock: Callable[[], float] = time.time,
                 rules: InvoicingRules | None = None,
                 honour_request_id: bool = False,
                 stale_token_body: Literal["rest", "oauth"] = "rest") -> None:
        self.clock = clock
        self.store = PayPalStore()
        self.rules = rules or InvoicingRules()
        self.invoicing = Invoicing(self.store, self.rules, clock)
        self.tokens = TokenIssuer(self.store, Credentials(client_id, client_secret), clock,
                                  token_expires_in)
        self.honour_request_id = honour_request_id
        self.stale_token_body = stale_token_body
        self._outage = False
        self.webhooks = WebhookSender(clock)  # signed INVOICING.INVOICE.* events, when set up
        self.store.on_put = self.webhooks.notice
        self._log_lock = threading.Condition()
        self._calls: list[ApiCall] = []
        self.notices = NotificationLog(self.store, clock)  # who the API's writes emailed
        # Set by `PayPalAccounts`: whether another account on the same sandbox holds an id.
        self.elsewhere: Callable[[str], bool] | None = None

    # -- invoices, as a person would see and change them in PayPal --------------------------
    def invoices(self) -> list[dict[str, Any]]:
        """Every stored invoice, oldest first (deep copies)."""
        return self.store.all()

    def invoice(self, invoice_id: str) -> dict[str, Any] | None:
        """A copy of one stored invoice, or None if there is no such invoice."""
        return self.store.get(invoice_id)

    def belongs_elsewhere(self, invoice_id: str) -> bool:
        """Whether `invoice_id` is not this account's but another account's on this sandbox."""
        return (self.elsewhere is not None and not self.store.has(invoice_id)
                and self.elsewhere(invoice_id))

    def add_invoice(self, body: dict[str, Any], send: bool = False) -> dict[str, Any]:
        """Create an invoice as if made in PayPal's web UI (same checks as the API)."""
        invoice = self.invoicing.create(body)
        return self.invoicing.send(invoice["id"], {}) if send else invoice

    def mark_paid(self, invoice_id: str, value: str | None = None) -> str:
        """The patient pays through PayPal; returns the PayPal transaction id.

        The whole due amount unless `value` is given: the invoice becomes PAID or PARTIALLY_PAID.
        """
        return self.invoicing.pay_in_paypal(invoice_id, value)

    def record_payment(self, invoice_id: str, method: str = "CASH",
                       value: str | None = None) -> str:
        """The merchant records an external payment by hand → MARKED_AS_PAID/PARTIALLY_PAID."""
        body: dict[str, Any] = {"method": method}
        if value is not None:
            currency = self.invoicing.get(invoice_id)["detail"]["currency_code"]
            body["amount"] = {"currency_code": currency, "value": value}
        return self.invoicing.record_payment(invoice_id, body)

    def refund(self, invoice_id: str) -> str:
        """The merchant refunds a paid invoice in full; returns the refund id.

        The invoice becomes REFUNDED, or MARKED_AS_REFUNDED when every payment was recorded by
        hand.
        """
        return self.invoicing.refund(invoice_id)

    def record_refund(self, invoice_id: str, body: dict[str, Any]) -> str:
        """Record a refund as the API does (refunds.py), e.g. one whose answer a client lost."""
        return self.invoicing.record_refund(invoice_id, body)

    def cancel(self, invoice_id: str) -> None:
        """The merchant cancels in PayPal's web UI (same status rules as the API)."""
        self.invoicing.cancel(invoice_id, {}, by=f"{self.rules.merchant_email} (web)")

    def set_total(self, invoice_id: str, value: str) -> dict[str, Any]:
        """Overwrite `amount.value` (and due) without recomputing: a hand-edited total."""
        return self.invoicing.set_total(invoice_id, value)

    def edit(self, invoice_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """JSON merge-patch any field (amounts recomputed unless `amount` is patched)."""
        return self.invoicing.edit(invoice_id, patch)

    def delete(self, invoice_id: str) -> bool:
        """Remove an invoice whatever its status (gone from PayPal); False if unknown."""
        return self.store.remove(invoice_id)

    # -- switches ---------------------------------------------------------------------------
    @property
    def outage(self) -> bool:
        """Whether the outage switch is on (every API call answers 503)."""
        return self._outage

    def set_outage(self, down: bool) -> None:
        """While down, every API call (token included) answers 503 SERVICE_UNAVAILABLE."""
        self._outage = bool(down)

    def set_credentials(self, client_id: str, client_secret: str) -> None:
        """Rotate the app's credentials; tokens of the old client id stop working."""
        self.tokens.credentials = Credentials(client_id, client_secret)

    @property
    def credentials(self) -> Credentials:
        """The client id and secret the token endpoint accepts now."""
        return self.tokens.credentials

    def set_token_expiry(self, seconds: int) -> None:
        """Lifetime of tokens issued from now on."""
        self.tokens.expires_in = int(seconds)

    def expire_tokens(self) -> None:
        """Make every issued token stale, so clients must fetch a new one."""
        self.tokens.expire_all()

    # -- call log ---------------------------------------------------------------------------
    def log_call(self, method: str, path: str, status: int, query: str = "",
                 answer_lost: bool = False) -> None:
        """Append an answered API call to the log and wake `wait_for_calls`."""
        with self._log_lock:
            self._calls.append(ApiCall(method, path, status, self.clock(), query, answer_lost))
            self._log_lock.notify_all()

    def call_count(self) -> int:
        """How many API calls were logged since the last clear."""
        with self._log_lock:
            return len(self._calls)

    def wait_for_calls(self, count: int, timeout: float) -> bool:
        """Block until `count` API calls were logged (tests kill a client mid-run with it)."""
        with self._log_lock:
            return self._log_lock.wait_for(lambda: len(self._calls) >= count, timeout)

    @property
    def call_log(self) -> list[ApiCall]:
        """A copy of the logged API calls, oldest first."""
        with self._log_lock:
            return list(self._calls)

    def writes(self) -> list[ApiCall]:
        """The API calls that could change PayPal data (token requests excluded)."""
        return [call for call in self.call_log if call.is_write]

    def lost_answers(self) -> list[ApiCall]:
        """The writes PayPal carried out whose answer the client never got (`answer_lost`)."""
        return [call for call in self.call_log if call.answer_lost]

    def clear_call_log(self) -> None:
        """Forget the logged calls (`DELETE /_sandbox/paypal/calls`)."""
        with self._log_lock:
            self._calls.clear()

    def call_log_dicts(self) -> list[dict[str, Any]]:
        """The call log as JSON-ready dicts, each with its `is_write` and `succeeded` flags."""
        return [asdict(call) | {"is_write": call.is_write, "succeeded": call.succeeded}
                for call in self.call_log]

    # -- notifications ----------------------------------------------------------------------
    def notifications(self, invoice_id: str | None = None) -> list[dict[str, Any]]:
        """Who each successful send/update/cancel/remind/record-payment API call emailed.

        Oldest first, for one invoice or all: dicts with `invoice_id`, `operation` ("send",
        "update", "cancel", "remind" or "record_payment"), `recipient_emailed`,
        `invoicer_emailed`, `status_before`, `status_after`, `at` (the clock's time) and the
        flags in effect, `send_to_recipient` and `send_to_invoicer` (None for record payment).
        The rules (flag defaults, what PayPal documents) are in `notices.py`.
        """
        return self.notices.dicts(invoice_id)

    def reset(self) -> None:
        """Forget invoices, tokens, idempotency replies, calls and notifications; end any outage."""
        self.store.clear()
        self.webhooks.clear()
        self.clear_call_log()
        self.notices.clear()
        self._outage = False
