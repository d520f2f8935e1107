"""Who PayPal emailed on each invoice write: the notification flags, and what they led to.

PayPal emails people depending on flags (invoicing_v2.json):

- `POST .../send` and `.../remind` and `.../cancel` take a `notification` body whose
  `send_to_recipient` defaults to true and `send_to_invoicer` to false;
- `PUT .../invoices/{id}` takes the query parameters `send_to_recipient` and `send_to_invoicer`,
  both defaulting to true ("send the invoice update notification");
- `POST .../payments` (record payment) takes a `payment_detail` body (method, payment_date,
  amount, note, shipping_info) with no notification flag, and its description ("Records a
  payment for the invoice. If no payment is due, the invoice is marked as PAID ...") mentions
  no email: so the sandbox records nobody emailed.

And, whatever the flags say:

- a recipient without `billing_info.email_address` is not emailed ("If you omit this value, the
  invoice is payable and a notification email is not sent");
- resending a sent invoice "has no effect" (invoices.send): nobody is emailed;
- a send that schedules the invoice (future issue date) emails the recipient anyway, on that
  date: "The send_to_recipient parameter does not apply to a future issue date because the
  invoice is scheduled to be sent through PayPal on that date" (recorded as emailed).

UNCONFIRMED: whether PayPal emails anyone about an update (PUT) of a draft that was never sent;
the sandbox records what the flags ask for (a client that wants no email must say so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from .errors import PayPalError, detail
from .store import PayPalStore

T = TypeVar("T")
OPERATIONS = ("send", "update", "cancel", "record_payment", "remind")


@dataclass(frozen=True)
class Notification:
    """One successful write call of a kind that may email people, and who it emailed.

    `send_to_recipient`/`send_to_invoicer` are the flags in effect (defaults applied; None for
    record payment, which has none); `*_emailed` is what PayPal did with them.
    """

    invoice_id: str
    operation: str
    recipient_emailed: bool
    invoicer_emailed: bool
    status_before: str
    status_after: str
    at: float
    send_to_recipient: bool | None = None
    send_to_invoicer: bool | None = None


def body_flags(body: dict[str, Any]) -> tuple[bool, bool]:
    """(send_to_recipient, send_to_invoicer) of a `notification` body: defaults true, false."""
    recipient, invoicer = body.get("send_to_recipient"), body.get("send_to_invoicer")
    return (True if recipient is None else bool(recipient),
            False if invoicer is None else bool(invoicer))


def query_flags(query: Mapping[str, str]) -> tuple[bool, bool]:
    """(send_to_recipient, send_to_invoicer) of a PUT's query: both default true.

    Raises:
        PayPalError: 400 for a value other than true or false.
    """
    flags = []
    for name in ("send_to_recipient", "send_to_invoicer"):
        raw = query.get(name)
        if raw is None:
            flags.append(True)
        elif raw.lower() in ("true", "false"):
            flags.append(raw.lower() == "true")
        else:
            raise PayPalError(400, [detail("INVALID_PARAMETER_SYNTAX", "The value of a field "
                                           "does not conform to the expected format.",
                                           field=name, value=raw, location="query")])
    return flags[0], flags[1]


def has_recipient_email(invoice: dict[str, Any]) -> bool:
    """Whether any primary recipient has an email address PayPal could write to."""
    return any((r.get("billing_info") or {}).get("email_address")
               for r in invoice.get("primary_recipients") or [] if isinstance(r, dict))


def who_is_emailed(operation: str, flags: tuple[bool, bool] | None, before: dict[str, Any],
                   after: dict[str, Any]) -> tuple[bool, bool]:
    """(recipient emailed, invoicer emailed) for a successful call (rules: module docstring)."""
    if operation == "record_payment" or flags is None:
        return False, False
    to_recipient, to_invoicer = flags
    reachable = has_recipient_email(after)
    if operation == "send":
        if before["status"] != "DRAFT":
            return False, False  # "After you send an invoice, resending it has no effect."
        if after["status"] == "SCHEDULED":
            return reachable, to_invoicer
    return to_recipient and reachable, to_invoicer


class NotificationLog:
    """The notifications of the API's write calls, oldest first (thread-safe)."""

    def __init__(self, store: PayPalStore, clock: Callable[[], float]) -> None:
        self._store, self._clock = store, clock
        self._lock = threading.Lock()
        self._entries: list[Notification] = []

    def around(self, invoice_id: str, operation: str, flags: tuple[bool, bool] | None,
               action: Callable[[], T]) -> T:
        """Run `action` (the write) and, if it succeeds, record who it emailed.

        The invoice's status before and after is read under the store's lock, so no other
        write slips in between.
        """
        with self._store.lock:
            before = self._store.get(invoice_id)
            result = action()
            after = self._store.get(invoice_id)
            if before is not None and after is not None:
                recipient, invoicer = who_is_emailed(operation, flags, before, after)
                self._add(Notification(invoice_id, operation, recipient, invoicer,
                                       before["status"], after["status"], self._clock(),
                                       *(flags or (None, None))))
            return result

    def _add(self, entry: Notification) -> None:
        with self._lock:
            self._entries.append(entry)

    def dicts(self, invoice_id: str | None = None) -> list[dict[str, Any]]:
        """The notifications as JSON-ready dicts, for one invoice or all."""
        with self._lock:
            return [asdict(n) for n in self._entries
                    if invoice_id is None or n.invoice_id == invoice_id]

    def clear(self) -> None:
        """Forget every notification."""
        with self._lock:
            self._entries.clear()
