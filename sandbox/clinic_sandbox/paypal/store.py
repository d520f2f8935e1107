"""Thread-safe in-memory PayPal data: invoices (with their payments), tokens, request ids.

Everything handed out is a deep copy, so callers can never change stored data by accident.
Compound read-modify-write operations hold `store.lock` (re-entrant) for their whole duration.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_ID_ALPHABET = string.ascii_uppercase + string.digits
INDEXED = ("reference", "invoice_number")  # detail fields looked up by value


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_invoice_id() -> str:
    """`INV2-XXXX-XXXX-XXXX-XXXX`, as PayPal's ids look."""
    return "INV2-" + "-".join(_random(_ID_ALPHABET, 4) for _ in range(4))


def new_external_payment_id() -> str:
    """Recorded (external) payments look like `EXTR-86F38350LX4353815` [obs]."""
    return "EXTR-" + _random(_ID_ALPHABET, 17)


def new_paypal_transaction_id() -> str:
    """PayPal transaction ids are 17 upper-case alphanumerics."""
    return _random(_ID_ALPHABET, 17)


def new_debug_id() -> str:
    """Debug ids are short lower-case hex strings (e.g. `90957fca61718`)."""
    return secrets.token_hex(7)[:13]


def new_access_token() -> str:
    """A random bearer token shaped like PayPal's (`A21AA` and URL-safe characters)."""
    return "A21AA" + secrets.token_urlsafe(60)


@dataclass(frozen=True)
class Token:
    """An issued bearer token: whose it is and when it was issued and expires (UNIX seconds)."""

    access_token: str
    client_id: str
    issued_at: float
    expires_at: float


class PayPalStore:
    """Invoices keyed by id in creation order, tokens by their string, idempotency replies."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._invoices: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, Token] = {}
        self._replies: dict[tuple[str, str, str], tuple[int, Any]] = {}
        # Ids by `detail.reference` and by `detail.invoice_number`: searching by reference (a
        # client's look-up before every create) and the number check on create would otherwise
        # scan every invoice, quadratic over a 100,000-invoice back-fill.
        self._by_detail: dict[tuple[str, Any], dict[str, None]] = {}
        # Told of every invoice write as (before, after), under the lock (webhooks listen here).
        self.on_put: Callable[[dict[str, Any] | None, dict[str, Any]], None] | None = None

    @contextmanager
    def locked(self) -> Iterator[PayPalStore]:
        """Hold the store's lock for a compound read-modify-write: `with store.locked() as s:`."""
        with self.lock:
            yield self

    # -- invoices ---------------------------------------------------------------------------
    def get(self, invoice_id: str) -> dict[str, Any] | None:
        """A copy of one invoice, or None if there is none."""
        with self.lock:
            found = self._invoices.get(invoice_id)
            return copy.deepcopy(found) if found is not None else None

    def put(self, invoice: dict[str, Any]) -> None:
        """Store a copy of the invoice under its id, reindex it and tell `on_put`."""
        with self.lock:
            before = self._invoices.get(invoice["id"])
            self._unindex(before)
            self._invoices[invoice["id"]] = copy.deepcopy(invoice)
            self._index(self._invoices[invoice["id"]])
            if self.on_put is not None:
                self.on_put(before, self._invoices[invoice["id"]])

    def has(self, invoice_id: str) -> bool:
        """Whether an invoice with this id is stored (no copy made)."""
        with self.lock:
            return invoice_id in self._invoices

    def remove(self, invoice_id: str) -> bool:
        """Delete an invoice; False if there was none."""
        with self.lock:
            removed = self._invoices.pop(invoice_id, None)
            self._unindex(removed)
            return removed is not None

    def _index(self, invoice: dict[str, Any]) -> None:
        for field in INDEXED:
            value = (invoice.get("detail") or {}).get(field)
            if value is not None:
                self._by_detail.setdefault((field, value), {})[invoice["id"]] = None

    def _unindex(self, invoice: dict[str, Any] | None) -> None:
        if invoice is None:
            return
        for field in INDEXED:
            ids = self._by_detail.get((field, (invoice.get("detail") or {}).get(field)))
            if ids is not None:
                ids.pop(invoice["id"], None)

    def _with_detail(self, field: str, value: Any) -> list[dict[str, Any]]:
        """Invoices whose `detail.<field>` is `value`, in creation order (as the scan gives)."""
        ids = self._by_detail.get((field, value)) or {}
        if len(ids) <= 1:
            return [self._invoices[i] for i in ids]
        return [inv for inv in self._invoices.values() if inv["id"] in ids]  # rare: copies

    def all(self) -> list[dict[str, Any]]:
        """Every stored invoice, oldest first."""
        with self.lock:
            return copy.deepcopy(list(self._invoices.values()))

    def matching(self, keep: Callable[[dict[str, Any]], bool],
                 reference: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored invoices for which `keep` is true, oldest first.

        Only those are copied (a search over 100,000 invoices must not deep-copy them all).
        With `reference`, only invoices with that `detail.reference` are looked at.
        """
        with self.lock:
            pool = (self._invoices.values() if reference is None
                    else self._with_detail("reference", reference))
            return copy.deepcopy([inv for inv in pool if keep(inv)])

    def unused_invoice_id(self) -> str:
        """A new invoice id no stored invoice has."""
        with self.lock:
            while (candidate := new_invoice_id()) in self._invoices:
                pass
            return candidate

    def with_number(self, number: str, excluding: str | None = None) -> dict[str, Any] | None:
        """The invoice holding `detail.invoice_number` (deleted ones are gone, so reusable)."""
        with self.lock:
            for invoice in self._with_detail("invoice_number", number):
                if invoice["id"] != excluding:
                    return copy.deepcopy(invoice)
            return None

    def numbers(self) -> list[str]:
        """Every stored invoice number, in creation order."""
        with self.lock:
            return [i["detail"]["invoice_number"] for i in self._invoices.values()
                    if i["detail"].get("invoice_number")]

    # -- tokens -----------------------------------------------------------------------------
    def add_token(self, token: Token) -> None:
        """Store a token, replacing any with the same access token string."""
        with self.lock:
            self._tokens[token.access_token] = token

    def token(self, access_token: str) -> Token | None:
        """The token with this access token string, or None."""
        with self.lock:
            return self._tokens.get(access_token)

    def tokens(self) -> list[Token]:
        """Every issued token, expired ones included."""
        with self.lock:
            return list(self._tokens.values())

    # -- PayPal-Request-Id replies ---------------------------------------------------------------
    def reply(self, key: tuple[str, str, str]) -> tuple[int, Any] | None:
        """The remembered (status, body) for (method, path, PayPal-Request-Id), or None."""
        with self.lock:
            return copy.deepcopy(self._replies.get(key))

    def remember_reply(self, key: tuple[str, str, str], status: int, body: Any) -> None:
        """Keep an answer to replay when the same PayPal-Request-Id comes again."""
        with self.lock:
            self._replies[key] = (status, copy.deepcopy(body))

    def clear(self) -> None:
        """Forget every invoice, token and remembered reply."""
        with self.lock:
            self._invoices.clear()
            self._by_detail.clear()
            self._tokens.clear()
            self._replies.clear()
