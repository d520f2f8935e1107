"""Bring PayPal in line with each staged invoice: create, replace, send, pay, cancel or delete.

Idempotent by construction: before any create it looks the invoice up by `detail.reference`
(the Cliniko id), and it re-reads PayPal's status before changing anything, so a retry, a crash
or a rerun never duplicates an invoice. An invoice paid or cancelled by hand in PayPal is never
overwritten: the applier records a conflict instead.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from target_paypal.client import CLOSED_BY_HAND, EDITABLE, OPEN, PAID, PayPalClient, PayPalError
from target_paypal.compose import Invoicer, LeftOut, NotReady, compose, content_hash
from target_paypal.reader import printable
from target_paypal.store import Store, Xref

NEVER_CREATED = "void in Cliniko (closed, archived or deleted) and never in PayPal"
UNASSIGNED = "unassigned"  # the owner of an invoice whose practitioner is not known
LOGGER = logging.getLogger("target-paypal")
CHUNK = 500  # invoices handed to the workers at a time (bounds memory; the tail wait is short)


@dataclass
class Outcome:
    """What happened to one invoice; the main thread persists it."""

    invoice_id: str
    result: str  # created, updated, unchanged, conflict, parked, waiting, skipped
    xref: Xref | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why, with IDs: logged and kept with a dead letter
    debug_id: str | None = None
    owner: str | None = None
    summary_reason: str | None = None  # the same without IDs, to group a run's reasons


class InvoiceWriter:
    """Applies one invoice at a time; safe to run for different invoices in parallel."""

    def __init__(self, client: PayPalClient, invoicer: Invoicer, send_invoices: bool) -> None:
        self.client = client
        self.invoicer = invoicer
        self.send_invoices = send_invoices

    def apply(
        self, header: dict, lines: list[dict], customer: dict | None, xref: Xref | None
    ) -> Outcome:
        """Bring PayPal in line with one invoice, unless unchanged; a PayPal error parks it."""
        invoice_id = header["invoice_id"]
        outcome = Outcome(invoice_id, "unchanged", xref)
        try:
            body = compose(header, lines, customer, self.invoicer)
        except NotReady as why:
            outcome.result, outcome.reason = "waiting", str(why)
            return outcome
        except LeftOut as why:
            outcome.result, outcome.reason = "skipped", str(why)
            return outcome
        wanted = content_hash(body, header)
        if xref is not None and xref.applied_hash == wanted:
            return outcome
        try:
            self._converge(header, body, outcome)
        except PayPalError as error:
            outcome.result, outcome.reason, outcome.debug_id = "parked", str(error), error.debug_id
            return outcome
        if outcome.result not in ("conflict",):
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

    def _current(self, header: dict, outcome: Outcome) -> dict | None:
        """PayPal's copy: by our cross-reference, else by reference search (crash recovery)."""
        if outcome.xref and outcome.xref.paypal_id:
            found = self.client.get_invoice(outcome.xref.paypal_id)
            if found is not None:
                return found
        matches = self.client.find_by_reference(header["invoice_id"])
        live = [m for m in matches if m.get("status") != "CANCELLED"] or matches
        return live[0] if live else None

    def _converge(self, header: dict, body: dict, outcome: Outcome) -> None:
        target = header["target_status"]
        current = self._current(header, outcome)
        if current is None:
            if target == "VOID":
                outcome.result, outcome.reason = "skipped", NEVER_CREATED
                outcome.xref = self._xref(header, None, "NONE")
                return
            current = self.client.create_invoice(body)
            self._log(outcome, "create", current["id"], "DRAFT")
            outcome.result = "created"
        elif self._changed_by_hand(current, outcome, target):
            outcome.result = "conflict"
            outcome.reason = f"{current['status']} in PayPal, not by this sync: left as it is"
            outcome.xref = replace(
                self._xref(header, current["id"], current["status"]), conflict=outcome.reason
            )
            self._log(outcome, "conflict", current["id"], current["status"])
            return
        elif current["status"] in EDITABLE and target != "VOID" and _differs(current, body):
            current = self.client.replace_invoice(current["id"], body)
            self._log(outcome, "update", current["id"], current["status"])
            outcome.result = "updated"
        status = self._move(current, header, outcome)
        if outcome.result == "unchanged" and status != current["status"]:
            outcome.result = "updated"
        outcome.xref = self._xref(header, current["id"], status)

    def _changed_by_hand(self, current: dict, outcome: Outcome, target: str) -> bool:
        """Closed in PayPal by someone else.

        A closed status Cliniko also wants is ours (a crash can stop us between the PayPal call
        and saving the cross-reference).
        """
        status = current["status"]
        known = outcome.xref.paypal_status if outcome.xref else None
        wanted = (target == "PAID" and status in PAID) or (
            target == "VOID" and status == "CANCELLED"
        )
        return status in CLOSED_BY_HAND and status != known and not wanted

    def _move(self, current: dict, header: dict, outcome: Outcome) -> str:
        """Walk PayPal's status machine towards what Cliniko says; returns the new status."""
        paypal_id, status, target = current["id"], current["status"], header["target_status"]
        if target == "VOID":
            if status == "DRAFT":
                self.client.delete_invoice(paypal_id)
                self._log(outcome, "delete", paypal_id, "DELETED")
                return "DELETED"
            if status in OPEN:
                self.client.cancel_invoice(paypal_id)
                self._log(outcome, "cancel", paypal_id, "CANCELLED")
                return "CANCELLED"
            return status
        wants_sent = target == "PAID" or (target == "SENT" and self.send_invoices)
        if status == "DRAFT" and wants_sent:
            self.client.send_invoice(paypal_id, send_to_recipient=target != "PAID")
            self._log(outcome, "send", paypal_id, "SENT")
            if target == "PAID":  # the amount due is only known after sending
                current = self.client.get_invoice(paypal_id) or current
                status = current["status"]
            else:
                status = "UNPAID"
        if target == "PAID" and status in OPEN:
            due = _due(current)
            if due > 0:
                payment = {
                    "method": header.get("payment_method") or "OTHER",
                    "amount": {"currency_code": header["currency_code"], "value": str(due)},
                }
                if header.get("payment_date"):
                    payment["payment_date"] = header["payment_date"]
                self.client.record_payment(paypal_id, payment)
                self._log(outcome, "record_payment", paypal_id, "MARKED_AS_PAID")
                status = "MARKED_AS_PAID"
        return str(status)

    @staticmethod
    def _xref(header: dict, paypal_id: str | None, status: str) -> Xref:
        return Xref(header["invoice_id"], paypal_id, header["invoice_number"], status, None, None)


def _differs(current: dict, body: dict) -> bool:
    """Compare what we own in PayPal's copy with the body we would send."""
    fields = ("detail", "primary_recipients", "items", "configuration")
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


def _due(invoice: dict) -> Decimal:
    due = invoice.get("due_amount") or invoice.get("amount") or {}
    return Decimal(str(due.get("value", "0")))


class DirtyInvoiceApplier:
    """Applies every dirty invoice in the store, `max_concurrency` at a time."""

    def __init__(
        self, store: Store, invoices: InvoiceWriter, max_concurrency: int, run_id: int | None
    ) -> None:
        self.store = store
        self.invoices = invoices
        self.max_concurrency = max(1, max_concurrency)
        self.run_id = run_id
        self.final = False
        self.shared: dict[str, list[str]] = {}
        # Invoices already parked when the run started: logged when first parked, not again
        # on every run that retries them (the run summary counts them).
        self.parked_before: set[str] = set()

    def apply_dirty(self, final: bool = False) -> None:
        """Apply what changed.

        `final`: the input has ended, so an invoice still incomplete will not complete in this
        run: park it with the reason instead of leaving it staged.
        """
        self.final = final
        pending = self.store.dirty_invoice_ids()
        if not pending:
            return
        self.shared = self.store.shared_emails()
        with ThreadPoolExecutor(self.max_concurrency) as pool:
            # A chunk at a time: `pool.map` makes a future for every item up front, ~2 KB
            # each, so 100,000 dirty invoices at once would hold ~190 MB until the end.
            for start in range(0, len(pending), CHUNK):
                for outcome in pool.map(self._apply_one, pending[start : start + CHUNK]):
                    self._record(outcome)

    def _apply_one(self, invoice_id: str) -> Outcome:
        inputs = self.store.invoice_inputs(invoice_id)
        header, customer = inputs.header, inputs.customer
        if header is None:
            return Outcome(invoice_id, "waiting", reason="lines staged, header not yet")
        held = self._held_by_customer(header, customer, inputs.customer_left_out)
        if held is not None:
            return held
        owner = inputs.owner or UNASSIGNED
        if header.get("memo"):
            header = {**header, "memo": header["memo"].replace("{owner}", owner)[:500]}
        outcome = self.invoices.apply(header, inputs.lines, customer, inputs.xref)
        outcome.owner = owner
        if outcome.xref is not None:
            outcome.xref = replace(outcome.xref, owner=owner)
        return outcome

    def _held_by_customer(
        self, header: dict, customer: dict | None, left_out: tuple[str, str] | None
    ) -> Outcome | None:
        """The patient's rules come first: left out by the mapper, or sharing an email."""
        invoice_id, customer_id = header["invoice_id"], header["customer_id"]
        if customer is None:
            if left_out is None:
                return Outcome(invoice_id, "waiting", reason=f"patient {customer_id} not received")
            action, why = left_out
            result = "skipped" if action == "skip" else "parked"
            return Outcome(
                invoice_id,
                result,
                reason=f"patient {customer_id}: {why}",
                summary_reason=f"patient {why}",
            )
        others = self.shared.get(customer_id)
        rule = customer.get("shared_email") or "park"
        if not others or rule == "allow":
            return None
        reason = (
            f"patient {customer_id} shares its email with patient(s) {', '.join(others[:5])}: "
            "give each patient their own email or invoice_email in Cliniko, or set the "
            "mapping's customers.shared_email to allow"
        )
        result = "skipped" if rule == "skip" else "parked"
        return Outcome(invoice_id, result, reason=reason, summary_reason="patient shares its email")

    def _record(self, outcome: Outcome) -> None:
        """Persist in the main thread: audit, cross-reference, dead letter, clean flag."""
        parked = None
        if outcome.result == "waiting" and self.final:
            outcome.result = "parked"
            outcome.reason = f"incomplete at the end of the input: {outcome.reason}"
            lines = self.store.parked_lines(outcome.invoice_id)
            if lines:
                outcome.reason += f" (parked line(s): {', '.join(lines[:5])})"
        if outcome.result == "parked":
            parked = (outcome.reason or "failed", outcome.debug_id)
        if parked is not None and outcome.invoice_id not in self.parked_before:
            LOGGER.warning(
                "Parked invoice %s: %s: %s",
                printable(outcome.invoice_id),
                printable(parked[0], 500),
                "kept in the dead letters and retried on every run (paypal-ops dead-letters list)",
            )
        self.store.record_outcome(
            self.run_id,
            outcome.invoice_id,
            outcome.audit,
            outcome.xref if outcome.result != "parked" else None,
            parked,
            done=outcome.result not in ("waiting", "parked"),
            result=None if outcome.result == "waiting" else outcome.result,
            reason=outcome.summary_reason or outcome.reason,
        )
