"""Bring PayPal in line with each staged invoice: create, replace, send, pay, cancel or delete.

Idempotent by construction: before any create it looks the invoice up by `detail.reference`
(the Cliniko id), and it re-reads PayPal's status before changing anything, so a retry, a crash
or a rerun never duplicates an invoice. An invoice paid or cancelled by hand in PayPal is never
overwritten: the applier records a conflict instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
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
    customer_from_paypal,
)
from target_paypal.progress import Progress
from target_paypal.reader import printable
from target_paypal.settle import NumberTaken, SettledWrites, differs
from target_paypal.store import Store, Xref
from target_paypal.store.approvals import HOLD, STAY_OUT, Gate, gate
from target_paypal.store.kept import KEPT, is_kept, recipient_cut

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
    ) -> Outcome:
        """Bring PayPal in line with one invoice, unless unchanged; a PayPal error parks it.

        `held`: waiting for approval, so kept a draft (`target_status` DRAFT); one sent before
        it was held is left as PayPal has it, until approved again.
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
        return self._settle(outcome, wanted, lambda: self._converge(header, body, outcome, held))

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

    def _current(self, header: dict, outcome: Outcome) -> dict | None:
        """PayPal's copy: by our cross-reference, else by reference search (crash recovery)."""
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

    def _converge(self, header: dict, body: dict, outcome: Outcome, held: bool = False) -> None:
        target = header["target_status"]
        current = self._current(header, outcome)
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
            # A paid invoice is sent only to make it payable: the patient is not emailed.
            self.writes.send(paypal_id, outcome.invoice_id, send_to_recipient=target != "PAID")
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
                self.writes.record_payment(paypal_id, outcome.invoice_id, payment)
                self._log(outcome, "record_payment", paypal_id, "MARKED_AS_PAID")
                status = "MARKED_AS_PAID"
        return str(status)

    @staticmethod
    def _xref(header: dict, paypal_id: str | None, status: str) -> Xref:
        return Xref(header["invoice_id"], paypal_id, header["invoice_number"], status, None, None)


def _note_approval(outcome: Outcome, queue: Gate) -> None:
    """Carry the approval queue's decision into the outcome (written with it).

    A held invoice PayPal has as a draft (or as sent before it was held) is `held`; a rejected
    one is `skipped`. Parked or in conflict, the queue is left as it was.
    """
    if outcome.result in ("parked", "conflict", "waiting"):
        return
    outcome.approval = queue
    if queue.note:
        paypal_id = outcome.xref.paypal_id if outcome.xref else None
        outcome.audit.append(
            {
                "invoice_id": outcome.invoice_id,
                "paypal_id": paypal_id,
                "operation": "hold",
                "outcome": queue.note,
            }
        )
    if queue.verdict == HOLD:
        outcome.result = "held"
        outcome.reason = outcome.summary_reason = f"held for approval: {queue.rule}"
    elif queue.verdict == STAY_OUT:
        outcome.result = "skipped"
        outcome.reason = f"rejected in the approval queue by {queue.decided_by}"
        outcome.summary_reason = "rejected in the approval queue"


def _due(invoice: dict) -> Decimal:
    due = invoice.get("due_amount") or invoice.get("amount") or {}
    return Decimal(str(due.get("value", "0")))


class DirtyInvoiceApplier:
    """Applies every dirty invoice in the store, `max_concurrency` at a time."""

    def __init__(
        self,
        store: Store,
        invoices: InvoiceWriter,
        max_concurrency: int,
        run_id: int | None,
        progress_interval: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.progress_interval = progress_interval
        self.clock = clock
        self.invoices = invoices
        self.max_concurrency = max(1, max_concurrency)
        self.run_id = run_id
        self.final = False
        self.shared: dict[str, list[str]] = {}
        # Invoices already parked when the run started: logged when first parked, not again
        # on every run that retries them (the run summary counts them).
        self.parked_before: set[str] = set()
        self.results: dict[str, str] = {}  # each invoice's last outcome in this applier

    def apply_now(self, invoice_ids: list[str]) -> dict[str, str]:
        """Apply these invoices at once, if dirty (`paypal-ops approvals ... --apply-now`).

        Returns each one's outcome; one still incomplete stays staged ("waiting").
        """
        wanted = set(invoice_ids)
        pending = [i for i in self.store.dirty_invoice_ids() if i in wanted]
        if pending:
            self._apply(pending, final=False)
        return {i: self.results.get(i, "not changed since the last run") for i in invoice_ids}

    def apply_dirty(self, final: bool = False) -> None:
        """Apply what changed.

        `final`: the input has ended, so an invoice still incomplete will not complete in this
        run: park it with the reason instead of leaving it staged.
        """
        self.final = final
        pending = self.store.dirty_invoice_ids()
        if pending:
            self._apply(pending, final)
        if final:  # what is closed in PayPal keeps its IDs only from now on (store/kept.py)
            self.store.strip_closed()

    def _apply(self, pending: list[str], final: bool) -> None:
        self.shared = self.store.shared_emails()
        client = self.invoices.client
        progress = Progress(
            len(pending),
            lambda: int(getattr(client, "calls", 0)),
            float(getattr(client, "max_requests_per_second", 0) or 0),
            self.progress_interval,
            self.clock,
        )
        with ThreadPoolExecutor(self.max_concurrency) as pool:
            # A chunk at a time: a future for every invoice up front is ~2 KB each, so 100,000
            # dirty invoices at once would hold ~190 MB until the end. Each is recorded as it
            # finishes: one slow invoice does not hold back the count of those done after it.
            for start in range(0, len(pending), CHUNK):
                chunk = [pool.submit(self._apply_one, i) for i in pending[start : start + CHUNK]]
                for done in as_completed(chunk):
                    self._record(done.result())
                    progress.advance()
        # A pass at a STATE message that went by quickly stays quiet; the run's last pass, or
        # every pass when a line after every invoice is asked for, ends with a line.
        progress.finish(always=final or not self.progress_interval)

    def _apply_one(self, invoice_id: str) -> Outcome:
        inputs = self.store.invoice_inputs(invoice_id)
        header, customer = inputs.header, inputs.customer
        if header is None:
            return Outcome(invoice_id, "waiting", reason="lines staged, header not yet")
        queue = gate(header, inputs.lines, inputs.approval)
        if queue.verdict == STAY_OUT:  # rejected by a person: treated as void until it changes
            header = {**header, "target_status": VOID}
        elif queue.verdict == HOLD:  # waiting for approval: a complete draft, not sent
            header = {**header, "target_status": "DRAFT"}
        if header["target_status"] != VOID:  # a patient's rules cannot hold back a void
            held = self._held_by_customer(header, customer, inputs.customer_left_out)
            if held is not None:
                return held
        owner = inputs.owner or UNASSIGNED
        if header.get("memo"):
            header = {**header, "memo": header["memo"].replace("{owner}", owner)[:500]}
        if customer is not None and recipient_cut(header, inputs.lines, customer):
            held_in = self.invoices.client.get_invoice(inputs.recipient_in or "") or {}
            customer = customer_from_paypal(customer, held_in)
            if customer is None:
                why = f"patient {header['customer_id']}: {RECIPIENT_GONE}"
                return Outcome(invoice_id, "parked", reason=why)
        outcome = self.invoices.apply(
            header, inputs.lines, customer, inputs.xref, held=queue.verdict == HOLD
        )
        _note_approval(outcome, queue)
        if outcome.carries == inputs.recipient_in or outcome.result in ("conflict", "parked"):
            outcome.carries = None  # nothing new to note
        outcome.owner, outcome.customer_id = owner, header["customer_id"]
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
                # The patient's id stays in the run's reason: the alert names it.
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
        why = "patient shares its email: give each their own in Cliniko or allow it in the mapping"
        return Outcome(invoice_id, result, reason=reason, summary_reason=why)

    def _record(self, outcome: Outcome) -> None:
        """Persist in the main thread: audit, cross-reference, dead letter, clean flag."""
        self.results[outcome.invoice_id] = outcome.result
        parked = None
        if outcome.result == "waiting" and self.final:
            outcome.result = "parked"
            outcome.summary_reason = f"{INCOMPLETE}: {outcome.summary_reason or outcome.reason}"
            outcome.reason = f"{INCOMPLETE}: {outcome.reason}"
            lines = self.store.parked_lines(outcome.invoice_id)
            if lines:
                outcome.reason += f" (parked line(s): {', '.join(lines[:5])})"
        if outcome.result == "parked":
            parked = (outcome.reason or "failed", outcome.debug_id)
        if parked is not None and outcome.invoice_id not in self.parked_before:
            LOGGER.debug(  # the run's end sums parked invoices up by reason (left_out.py)
                "Parked invoice %s: %s: %s",
                printable(outcome.invoice_id),
                printable(parked[0], 500),
                "kept in the dead letters and retried on every run (paypal-ops dead-letters list)",
            )
        if outcome.carries and outcome.customer_id:
            self.store.carried(outcome.customer_id, outcome.carries)
        self.store.record_outcome(
            self.run_id,
            outcome.invoice_id,
            outcome.audit,
            outcome.xref if outcome.result != "parked" else None,
            parked,
            done=outcome.result not in ("waiting", "parked"),
            result=None if outcome.result == "waiting" else outcome.result,
            reason=outcome.summary_reason or outcome.reason,
            approval=outcome.approval,
        )
