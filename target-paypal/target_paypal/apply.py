"""Bring PayPal in line with each staged invoice: create, replace, send, pay, cancel or delete.

Idempotent by construction: before any create it looks the invoice up by `detail.reference`
(the Cliniko id), and it re-reads PayPal's status before changing anything, so a retry, a crash
or a rerun never duplicates an invoice. An invoice paid or cancelled by hand in PayPal is never
overwritten: the applier records a conflict instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from target_paypal.client import CLOSED_BY_HAND, EDITABLE, OPEN, PAID, PayPalClient, PayPalError
from target_paypal.compose import (
    Invoicer,
    LeftOut,
    NotReady,
    compose,
    content_hash,
)
from target_paypal.reversals import refund_body
from target_paypal.settle import NumberTaken, SettledWrites, differs
from target_paypal.store import Xref
from target_paypal.store.approvals import Gate
from target_paypal.store.kept import KEPT, is_kept

VOID = "VOID"
NEVER_CREATED = "void in Cliniko (closed, archived or deleted) and never in PayPal"
INCOMPLETE = "incomplete at the end of the input"
RECIPIENT_GONE = "details not kept and their PayPal invoice unreadable: edit the patient in Cliniko"
UNASSIGNED = "unassigned"  # the owner of an invoice whose practitioner is not known
LOGGER = logging.getLogger("target-paypal")
CHUNK = 500  # invoices handed to the workers at a time (bounds memory; the tail wait is short)


@dataclass
class Outcome:
    """What happened to one invoice; the main thread persists it."""

    invoice_id: str
    result: str  # created, updated, unchanged, held, conflict, parked, waiting, skipped
    xref: Xref | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why, with IDs: logged and kept with a dead letter
    debug_id: str | None = None
    owner: str | None = None
    summary_reason: str | None = None  # the same without IDs, to group a run's reasons
    carries: str | None = None  # a PayPal invoice now holding the customer's recipient
    customer_id: str | None = None
    approval: Gate | None = None  # what the approval queue decided, written with the outcome
    refunds: list[tuple[str, str]] = field(default_factory=list)  # (reversal id, refund id)


# The run's reason for an invoice created or updated for a third party (a plan manager...).
TO_PAYER = "addressed to a third-party payer"


def _to_payer(body: dict[str, Any]) -> bool:
    recipients = body.get("primary_recipients") or [{}]
    return bool((recipients[0].get("billing_info") or {}).get("business_name"))


class InvoiceWriter:
    """Applies one invoice at a time; safe to run for different invoices in parallel."""

    def __init__(self, client: PayPalClient, invoicer: Invoicer, send_invoices: bool) -> None:
        self.client = client
        self.writes = SettledWrites(client)
        self.invoicer = invoicer
        self.send_invoices = send_invoices

    def apply(
        self,
        header: dict,
        lines: list[dict],
        customer: dict | None,
        xref: Xref | None,
        held: bool = False,
        untouched: bool = False,
    ) -> Outcome:
        """Bring PayPal in line with one invoice, unless unchanged; a PayPal error parks it.

        `held`: waiting for approval, so kept a draft (`target_status` DRAFT); one sent before
        it was held is left as PayPal has it, until approved again. `untouched`: no PayPal
        write ever went out for it (store/first_writes.py), so it is created without a search.
        """
        outcome = Outcome(header["invoice_id"], "unchanged", xref)
        if header["target_status"] == VOID:
            # Void needs neither lines nor customer: whatever arrived, it must not stay payable.
            wanted = content_hash({}, header)
            return self._settle(outcome, wanted, lambda: self._void(header, outcome))
        if is_kept(header) or any(is_kept(line) for line in lines):
            # Closed in PayPal, so cut down to its IDs: nothing to compose, nothing to write.
            wanted = content_hash({KEPT: True}, header)
            return self._settle(outcome, wanted, lambda: self._closed(header, outcome))
        try:
            body = compose(header, lines, customer, self.invoicer)
        except NotReady as why:
            outcome.result, outcome.reason = "waiting", str(why)
            outcome.summary_reason = why.summary
            return outcome
        except LeftOut as why:
            outcome.result, outcome.reason = "skipped", str(why)
            return outcome
        wanted, xref = content_hash(body, header), outcome.xref
        if xref is not None and xref.applied_hash == wanted and xref.paypal_status in EDITABLE:
            outcome.carries = xref.paypal_id  # brought in line with this body when last editable

        def converge() -> None:
            self._converge(header, body, outcome, held, untouched)

        self._settle(outcome, wanted, converge)
        if outcome.result in ("created", "updated") and _to_payer(body):
            outcome.summary_reason = TO_PAYER  # counted by the run's summary
        return outcome

    def refund(
        self, outcome: Outcome, reversals: tuple[dict, ...], claimed: set[str], currency: str
    ) -> None:
        """Record the refunds of these reversals on the invoice PayPal now holds as paid.

        A refusal parks the invoice; the refunds recorded before it are noted all the same.
        """
        xref = outcome.xref
        if xref is None or not xref.paypal_id or outcome.result in ("parked", "conflict"):
            return
        try:
            for reversal in reversals:
                refund_id = self.writes.record_refund(
                    xref.paypal_id, outcome.invoice_id, refund_body(reversal, currency), claimed
                )
                claimed.add(refund_id)
                outcome.refunds.append((reversal["reversal_id"], refund_id))
                self._log(outcome, "record_refund", xref.paypal_id, "refunded")
        except PayPalError as error:
            outcome.result, outcome.reason, outcome.debug_id = "parked", str(error), error.debug_id
            outcome.summary_reason = f"PayPal refused a refund: {replace(error, debug_id=None)}"
        now = self.client.get_invoice(xref.paypal_id) or {}
        outcome.xref = replace(xref, paypal_status=now.get("status", xref.paypal_status))
        if outcome.refunds and outcome.result == "unchanged":
            outcome.result = "updated"

    def _settle(self, outcome: Outcome, wanted: str, converge: Callable[[], None]) -> Outcome:
        """Run `converge` unless already applied; a refusal parks the invoice."""
        if outcome.xref is not None and outcome.xref.applied_hash == wanted:
            return outcome
        try:
            converge()
        except PayPalError as error:
            outcome.result, outcome.reason, outcome.debug_id = "parked", str(error), error.debug_id
            outcome.summary_reason = f"PayPal refused it: {replace(error, debug_id=None)}"
            return outcome
        except NumberTaken as why:
            outcome.result, outcome.reason = "parked", str(why)
            outcome.summary_reason = "its invoice number is used by another PayPal invoice"
            return outcome
        if outcome.result != "conflict":
            outcome.xref = replace(outcome.xref, applied_hash=wanted)  # type: ignore[arg-type,type-var]
        return outcome

    # --- steps --------------------------------------------------------------------------------
    def _log(self, outcome: Outcome, operation: str, paypal_id: str | None, result: str) -> None:
        outcome.audit.append(
            {
                "invoice_id": outcome.invoice_id,
                "paypal_id": paypal_id,
                "operation": operation,
                "outcome": result,
            }
        )

    def _current(self, header: dict, outcome: Outcome, untouched: bool = False) -> dict | None:
        """PayPal's copy: by our cross-reference, else by reference search (crash recovery).

        None without a search for an invoice no write ever went out for (`untouched`).
        """
        if untouched and outcome.xref is None:
            return None
        if outcome.xref and outcome.xref.paypal_id:
            found = self.client.get_invoice(outcome.xref.paypal_id)
            if found is not None:
                return found
        matches = self.client.find_by_reference(header["invoice_id"])
        live = [m for m in matches if m.get("status") != "CANCELLED"] or matches
        return live[0] if live else None

    def _void(self, header: dict, outcome: Outcome) -> None:
        """Void in Cliniko: a draft is deleted, an open invoice cancelled, a paid one a conflict."""
        current = self._current(header, outcome)
        if current is None:
            outcome.result, outcome.reason = "skipped", NEVER_CREATED
            outcome.xref = self._xref(header, None, "NONE")
            return
        paypal_id, status = current["id"], current["status"]
        if status in PAID or status == "PARTIALLY_PAID":
            outcome.result = "conflict"
            outcome.reason = (
                f"{status} in PayPal but void in Cliniko (closed, archived or deleted): refund "
                "it in PayPal, or reopen it in Cliniko"
            )
            outcome.summary_reason = "paid in PayPal but void in Cliniko"
            outcome.xref = replace(self._xref(header, paypal_id, status), conflict=outcome.reason)
            self._log(outcome, "conflict", paypal_id, status)
            return
        if status == "DRAFT":
            self.writes.delete(paypal_id, outcome.invoice_id)
            self._log(outcome, "delete", paypal_id, "DELETED")
            status, outcome.result = "DELETED", "updated"
        elif status in OPEN:
            self.writes.cancel(paypal_id, outcome.invoice_id)
            self._log(outcome, "cancel", paypal_id, "CANCELLED")
            status, outcome.result = "CANCELLED", "updated"
        outcome.xref = self._xref(header, paypal_id, status)

    def _converge(
        self, header: dict, body: dict, outcome: Outcome, held: bool, untouched: bool
    ) -> None:
        target = header["target_status"]
        current = self._current(header, outcome, untouched)
        if current is None:
            current = self.writes.create(body)
            self._log(outcome, "create", current["id"], current["status"])
            outcome.result = "created"
        elif self._changed_by_hand(current, outcome, target):
            self._by_hand(header, current, outcome)
            return
        elif held and current["status"] != "DRAFT":
            # Sent before a rule held it: PayPal keeps what was sent until it is approved.
            outcome.xref = self._xref(header, current["id"], current["status"])
            return
        if current["status"] in EDITABLE:
            if differs(current, body):
                current = self.writes.replace(current["id"], outcome.invoice_id, body)
                self._log(outcome, "update", current["id"], current["status"])
                if outcome.result == "unchanged":
                    outcome.result = "updated"
            outcome.carries = current["id"]
        status = self._move(current, header, outcome)
        if outcome.result == "unchanged" and status != current["status"]:
            outcome.result = "updated"
        outcome.xref = self._xref(header, current["id"], status)

    def _by_hand(self, header: dict, current: dict, outcome: Outcome) -> None:
        outcome.result, status = "conflict", current["status"]
        outcome.reason = f"{status} in PayPal, not by this sync: left as it is"
        outcome.xref = replace(self._xref(header, current["id"], status), conflict=outcome.reason)
        self._log(outcome, "conflict", current["id"], current["status"])

    def _closed(self, header: dict, outcome: Outcome) -> None:
        """An invoice cut down once closed: PayPal is read, never written (kept.py)."""
        known = outcome.xref.paypal_status if outcome.xref else None
        current = self._current(header, outcome) if known in CLOSED_BY_HAND else None
        if current is None:  # void before, never in PayPal or deleted; now wanted again
            outcome.result = "parked"
            outcome.reason = outcome.summary_reason = (
                f"void before ({known or 'not in PayPal'}), so its details were not kept: "
                "read it again from Cliniko (meltano run --full-refresh) to send it"
            )
            return
        if self._changed_by_hand(current, outcome, header["target_status"]):
            self._by_hand(header, current, outcome)
            return
        outcome.xref = self._xref(header, current["id"], current["status"])

    def _changed_by_hand(self, current: dict, outcome: Outcome, target: str) -> bool:
        """Closed in PayPal by someone else.

        A paid status Cliniko also wants is ours (a crash can stop us between the PayPal call
        and saving the cross-reference).
        """
        status = current["status"]
        known = outcome.xref.paypal_status if outcome.xref else None
        wanted = target == "PAID" and status in PAID
        return status in CLOSED_BY_HAND and status != known and not wanted

    def _move(self, current: dict, header: dict, outcome: Outcome) -> str:
        """Walk PayPal's status machine towards what Cliniko says; returns the new status."""
        paypal_id, status, target = current["id"], current["status"], header["target_status"]
        wants_sent = target == "PAID" or (target == "SENT" and self.send_invoices)
        if status == "DRAFT" and wants_sent:
            # A paid invoice is sent only to make it payable: the patient is not emailed; nor
            # is a recipient without an email (customers.missing_email: without_email).
            emailed = target != "PAID" and _has_email(current)
            self.writes.send(paypal_id, outcome.invoice_id, send_to_recipient=emailed)
            self._log(outcome, "send", paypal_id, "SENT")
            status = "UNPAID"
            # Sending changes neither the total nor what was paid: the draft's amount due, in
            # PayPal's full copy (from create or update), is what is due once sent. A copy
            # without it (a search result) is read again.
            if target == "PAID" and "due_amount" not in current:
                current = self.client.get_invoice(paypal_id) or current
                status = current["status"]
        if target == "PAID" and status in OPEN:
            due = _due(current)
            if due > 0:
                payment = {
                    "method": header.get("payment_method") or "OTHER",
                    "amount": {"currency_code": header["currency_code"], "value": str(due)},
                }
                if header.get("payment_date"):
                    payment["payment_date"] = header["payment_date"]
                self.writes.record_payment(paypal_id, outcome.invoice_id, payment)
                self._log(outcome, "record_payment", paypal_id, "MARKED_AS_PAID")
                status = "MARKED_AS_PAID"
        return str(status)

    @staticmethod
    def _xref(header: dict, paypal_id: str | None, status: str) -> Xref:
        return Xref(header["invoice_id"], paypal_id, header["invoice_number"], status, None, None)


def _due(invoice: dict) -> Decimal:
    due = invoice.get("due_amount") or invoice.get("amount") or {}
    return Decimal(str(due.get("value", "0")))


def _has_email(invoice: dict) -> bool:
    """Whether PayPal's copy of an invoice names a recipient's email.

    A copy without recipients may be a search result that leaves them out: the recipient is
    then emailed, as before.
    """
    recipients = invoice.get("primary_recipients")
    if recipients is None:
        return True
    return any((r.get("billing_info") or {}).get("email_address") for r in recipients)
