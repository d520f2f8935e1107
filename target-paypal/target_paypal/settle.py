"""PayPal writes whose answer may be lost: find out what PayPal did before writing again.

PayPal's Invoicing API has no idempotency key. After a timeout, a dropped connection or a 5xx
on a write, PayPal may or may not have done it, so each write here reads back first:

* create: search by reference (the Cliniko id) and by invoice number; a live invoice of ours
  is adopted. A 422 DUPLICATE_INVOICE_NUMBER is settled the same way: ours is adopted, anyone
  else's number is reported (`NumberTaken`), never guessed at;
* update: the invoice already holds what we sent;
* send, cancel, delete: the invoice's status (or its absence);
* record payment: a payment carrying our note (`payment_note`) is on the invoice;
* record refund: a refund of that date and amount that no other reversal claims is on it.

Only when PayPal did not do it is the write sent again (with backoff, at most the client's
`max_tries` times). Every decision is logged with IDs only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from target_paypal.client import PayPalClient, PayPalError

LOGGER = logging.getLogger("target-paypal")
DUPLICATE_NUMBER = "DUPLICATE_INVOICE_NUMBER"
Result = TypeVar("Result")


class NumberTaken(Exception):
    """The invoice number is used in PayPal by an invoice that is not this Cliniko invoice's."""


def payment_note(invoice_id: str) -> str:
    """The note on every payment this sync records: tells ours apart after a lost answer."""
    return f"Recorded by target-paypal for Cliniko invoice {invoice_id}"


class SettledWrites:
    """The applier's PayPal writes, each settled by reading back after an ambiguous answer."""

    def __init__(self, client: PayPalClient) -> None:
        self.client = client

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a draft, or adopt ours if PayPal already has it; raises NumberTaken."""
        invoice_id = body["detail"]["reference"]
        number = body["detail"]["invoice_number"]

        def landed() -> dict[str, Any] | None:
            return self._ours(invoice_id, number)

        try:
            return self._settled(
                "create", invoice_id, lambda: self.client.create_invoice(body), landed
            )
        except PayPalError as error:
            if error.status != 422 or DUPLICATE_NUMBER not in error.issues:
                raise
        found = landed()
        if found is not None:
            _decided("create", invoice_id, found["id"], "number already used by our own: adopted")
            return found
        raise NumberTaken(self._taken_by(invoice_id, number))

    def replace(self, paypal_id: str, invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace an invoice in full; PayPal's copy afterwards."""

        def landed() -> dict[str, Any] | None:
            found = self.client.get_invoice(paypal_id)
            return found if found is not None and not differs(found, body) else None

        return self._settled(
            "update", invoice_id, lambda: self.client.replace_invoice(paypal_id, body), landed
        )

    def send(self, paypal_id: str, invoice_id: str, send_to_recipient: bool) -> None:
        """Send a draft (it leaves DRAFT)."""
        self._settled(
            "send",
            invoice_id,
            lambda: self.client.send_invoice(paypal_id, send_to_recipient=send_to_recipient),
            lambda: self._status_is(paypal_id, lambda status: status not in (None, "DRAFT")),
        )

    def cancel(self, paypal_id: str, invoice_id: str) -> None:
        """Cancel a sent invoice."""
        self._settled(
            "cancel",
            invoice_id,
            lambda: self.client.cancel_invoice(paypal_id),
            lambda: self._status_is(paypal_id, lambda status: status == "CANCELLED"),
        )

    def delete(self, paypal_id: str, invoice_id: str) -> None:
        """Delete a draft (PayPal no longer knows it)."""
        self._settled(
            "delete",
            invoice_id,
            lambda: self.client.delete_invoice(paypal_id),
            lambda: self._status_is(paypal_id, lambda status: status is None),
        )

    def record_payment(self, paypal_id: str, invoice_id: str, payment: dict[str, Any]) -> None:
        """Record a payment made outside PayPal, noted as ours."""
        note = payment_note(invoice_id)

        def landed() -> bool | None:
            found = self.client.get_invoice(paypal_id) or {}
            transactions = (found.get("payments") or {}).get("transactions") or []
            return True if any(t.get("note") == note for t in transactions) else None

        self._settled(
            "record_payment",
            invoice_id,
            lambda: self.client.record_payment(paypal_id, {**payment, "note": note}),
            landed,
        )

    def record_refund(
        self, paypal_id: str, invoice_id: str, refund: dict[str, Any], claimed: set[str]
    ) -> str:
        """Record a refund, unless PayPal holds it already; returns its refund id.

        A refund carries no note, so ours is told by its date and amount among the refunds
        no other reversal has claimed: one recorded before a crash is adopted, not repeated.
        """

        def landed() -> str | None:
            found = self.client.get_invoice(paypal_id) or {}
            for t in (found.get("refunds") or {}).get("transactions") or []:
                amount = (t.get("amount") or {}).get("value")
                if (
                    t.get("refund_id") not in claimed
                    and t.get("refund_date") == refund.get("refund_date")
                    and amount is not None
                    and Decimal(amount) == Decimal(refund["amount"]["value"])
                ):
                    return str(t["refund_id"])
            return None

        earlier = landed()
        if earlier is not None:
            _decided("record_refund", invoice_id, paypal_id, "already in PayPal: adopted")
            return earlier
        return self._settled(
            "record_refund",
            invoice_id,
            lambda: self.client.record_refund(paypal_id, refund),
            landed,
        )

    # --- reading back -------------------------------------------------------------------------
    def _settled(
        self,
        operation: str,
        invoice_id: str,
        write: Callable[[], Result],
        landed: Callable[[], Result | None],
    ) -> Result:
        """Write; after a lost answer, carry on from what PayPal did, or write again."""
        attempt = 1
        while True:
            try:
                return write()
            except PayPalError as error:
                if not error.answer_lost:
                    raise
                found = landed()
                if found is not None:
                    _decided(operation, invoice_id, None, f"answer lost ({error}); it was done")
                    return found
                if attempt >= self.client.max_tries:
                    raise
                _decided(operation, invoice_id, None, f"answer lost ({error}); not done: again")
                self.client.pause(attempt)
                attempt += 1

    def _status_is(self, paypal_id: str, wanted: Callable[[str | None], bool]) -> bool | None:
        found = self.client.get_invoice(paypal_id)
        return True if wanted(found["status"] if found is not None else None) else None

    def _ours(self, invoice_id: str, number: str) -> dict[str, Any] | None:
        """A live invoice with our reference, found by reference or by number."""
        found = self.client.find_by_reference(invoice_id) + [
            i for i in self.client.find_by_number(number) if _reference(i) == invoice_id
        ]
        live = [i for i in found if i.get("status") != "CANCELLED"]
        if not live:
            return None
        return self.client.get_invoice(live[0]["id"]) or live[0]

    def _taken_by(self, invoice_id: str, number: str) -> str:
        holders = [
            f"{i.get('id')} ({i.get('status')}, reference {_reference(i)})"
            for i in self.client.find_by_number(number)
        ]
        held = ", ".join(holders) or "an invoice the search does not show yet"
        return (
            f"invoice number {number} is already used in PayPal by {held}, not by Cliniko "
            f"invoice {invoice_id}: cancel or renumber one of them in PayPal, then replay"
        )


def _reference(invoice: dict[str, Any]) -> Any:
    return (invoice.get("detail") or {}).get("reference")


def _decided(operation: str, invoice_id: str, paypal_id: str | None, what: str) -> None:
    where = f" (PayPal {paypal_id})" if paypal_id else ""
    LOGGER.info("%s of Cliniko invoice %s%s: %s", operation, invoice_id, where, what)


def differs(current: dict, body: dict) -> bool:
    """Compare what we own in PayPal's copy with the body we would send."""
    fields = ("detail", "primary_recipients", "items", "configuration", "invoicer")
    mine = {k: body.get(k) for k in fields}
    theirs = {k: current.get(k) for k in fields}
    return not _contains(theirs, mine)


def _contains(theirs: Any, mine: Any) -> bool:
    """True when every value we set is in PayPal's copy (PayPal adds ids, amounts, metadata)."""
    if isinstance(mine, dict):
        return isinstance(theirs, dict) and all(
            _contains(theirs.get(k), v) for k, v in mine.items()
        )
    if isinstance(mine, list):
        return (
            isinstance(theirs, list)
            and len(theirs) == len(mine)
            and all(_contains(t, m) for t, m in zip(theirs, mine, strict=True))
        )
    if isinstance(mine, str) and isinstance(theirs, str):
        try:
            return Decimal(mine) == Decimal(theirs)
        except ArithmeticError:
            return mine == theirs
    return bool(theirs == mine)
