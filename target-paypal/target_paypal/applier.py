"""Apply every dirty invoice in the store, `max_concurrency` at a time, and record each outcome.

Workers read an invoice's inputs and write PayPal (`apply.InvoiceWriter`); the main thread
persists each outcome. Before writing, the patient's rules (left out, a shared email) and the
approval queue (`store/approvals.py`: a held invoice is a draft, a rejected one stays out) have
their say.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Set
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace

from target_paypal.accounts import Accounts, AccountUnusable, place
from target_paypal.apply import (
    CHUNK,
    INCOMPLETE,
    LOGGER,
    RECIPIENT_GONE,
    UNASSIGNED,
    VOID,
    InvoiceWriter,
    Outcome,
)
from target_paypal.client import PayPalClient, PayPalError
from target_paypal.compose import customer_from_paypal
from target_paypal.progress import Progress
from target_paypal.reader import printable
from target_paypal.reversals import PAID_IN_PAYPAL, decide
from target_paypal.store import InvoiceInputs, Store
from target_paypal.store.approvals import HOLD, STAY_OUT, Gate, gate
from target_paypal.store.directory import others_sharing
from target_paypal.store.kept import recipient_cut
from target_paypal.store.runs import InvoiceOutcome
from target_paypal.templates import fill_templates

WRITE_BATCH = 100  # outcomes written to the store in one transaction
WRITE_SECONDS = 1.0  # ... or as soon as the first of them has waited this long


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
        self.invoices = invoices  # the default PayPal account's writer
        self.accounts = Accounts(invoices)  # and a writer for each business's own account
        self.max_concurrency = max(1, max_concurrency)
        self.run_id = run_id
        self.final = False
        self.shared: dict[str, tuple[str, ...]] = {}
        # Invoices already parked when the run started: logged when first parked, not again
        # on every run that retries them (the run summary counts them).
        self.parked_before: set[str] = set()
        self._unwritten: list[InvoiceOutcome] = []  # recorded, not yet written to the store
        self._since = 0.0  # when the first of them was recorded
        # store/first_writes.py, by account (None: the default), asked on first need
        self._sees_all: dict[str | None, bool] = {}
        self._asking = threading.Lock()

    def apply_now(self, invoice_ids: list[str]) -> dict[str, str]:
        """Apply these invoices at once, if dirty (`paypal-ops approvals ... --apply-now`).

        Returns each one's outcome; one still incomplete stays staged ("waiting").
        """
        pending = self.store.dirty_invoice_ids(among=invoice_ids)
        results: dict[str, str] = {}
        if pending:
            chunks = [pending[start : start + CHUNK] for start in range(0, len(pending), CHUNK)]
            results = self._apply(chunks, len(pending), final=False, asked=set(pending))
        return {i: results.get(i, "not changed since the last run") for i in invoice_ids}

    def apply_dirty(self, final: bool = False) -> None:
        """Apply what changed.

        `final`: the input has ended, so an invoice still incomplete will not complete in this
        run: park it with the reason instead of leaving it staged.
        """
        self.final = final
        total = self.store.count_dirty()
        if total:
            self._apply(self._dirty_chunks(), total, final)
        if final:  # what is closed in PayPal keeps its IDs only from now on (store/kept.py)
            self.store.strip_closed()

    def _dirty_chunks(self) -> Iterator[list[str]]:
        """The dirty invoices' ids, a chunk at a time in id order, read as they are needed."""
        chunk = self.store.dirty_invoice_page("", CHUNK)
        while chunk:
            yield chunk
            chunk = self.store.dirty_invoice_page(chunk[-1], CHUNK)

    def _apply(
        self, chunks: Iterable[list[str]], total: int, final: bool, asked: Set[str] = frozenset()
    ) -> dict[str, str]:
        """Apply these chunks of invoices; return the outcome of those `asked` for.

        Only theirs: a run applies 100,000 invoices and needs none of their outcomes afterwards.
        """
        results: dict[str, str] = {}
        self.shared = self.store.shared_emails()
        self._sees_every_write()  # here, before the workers share it
        progress = Progress(
            total,
            lambda: sum(int(getattr(c, "calls", 0)) for c in self.accounts.clients()),
            float(getattr(self.invoices.client, "max_requests_per_second", 0) or 0),
            self.progress_interval,
            self.clock,
        )
        try:
            with ThreadPoolExecutor(self.max_concurrency) as pool:
                # A chunk at a time: a future for every invoice up front is ~2 KB each, so
                # 100,000 dirty invoices at once would hold ~190 MB until the end; the ids
                # too are read a chunk at a time (`_dirty_chunks`). The chunk's
                # inputs are read in one transaction; each outcome is counted as it finishes
                # (one slow invoice does not hold back the count of those done after it) and
                # written with others (`_record`).
                for ids in chunks:
                    inputs = self.store.invoice_inputs_many(ids)
                    self.store.mark_touched(ids)  # before any write of theirs can go out
                    chunk = [pool.submit(self._apply_one, i, inputs.pop(i)) for i in ids]
                    for done in as_completed(chunk):
                        outcome = self._record(done.result())
                        if outcome.invoice_id in asked:
                            results[outcome.invoice_id] = outcome.result
                        progress.advance()
        finally:  # what PayPal was written with is in the store before anything goes on
            self._write_outcomes()
        # A pass at a STATE message that went by quickly stays quiet; the run's last pass, or
        # every pass when a line after every invoice is asked for, ends with a line.
        progress.finish(always=final or not self.progress_interval)
        return results

    def _apply_one(self, invoice_id: str, inputs: InvoiceInputs | None = None) -> Outcome:
        """What applying one invoice came to (`inputs`: read with its chunk, else here)."""
        inputs = inputs or self.store.invoice_inputs(invoice_id)
        header, customer = inputs.header, inputs.customer
        if header is None:
            return Outcome(invoice_id, "waiting", reason="lines staged, header not yet")
        queue = gate(header, inputs.lines, inputs.approval)
        if queue.verdict == STAY_OUT:  # rejected by a person: treated as void until it changes
            header = {**header, "target_status": VOID}
        elif queue.verdict == HOLD:  # waiting for approval: a complete draft, not sent
            header = {**header, "target_status": "DRAFT"}
        in_paypal = inputs.xref.paypal_status if inputs.xref else None
        reversed_ = decide(header, inputs.reversals, in_paypal)
        if reversed_.park is not None:
            why = "paid or part reversal in Cliniko: see the reason"
            return Outcome(invoice_id, "parked", reason=reversed_.park, summary_reason=why)
        if reversed_.settled:  # our refunds closed it in PayPal: nothing can be written again
            return Outcome(invoice_id, "unchanged", inputs.xref)
        header = reversed_.header
        if header["target_status"] != VOID:  # a patient's rules cannot hold back a void
            held = self._held_by_customer(header, customer, inputs.customer_left_out)
            if held is not None:
                return held
        owner = inputs.owner or UNASSIGNED
        header = fill_templates(
            header, owner, inputs.practitioner, customer, service_date=inputs.service_date
        )
        try:
            placed = place(self.accounts, header, inputs.xref)
        except AccountUnusable as unusable:
            why = str(unusable)
            return Outcome(invoice_id, "parked", reason=why, summary_reason=unusable.summary)
        except PayPalError as error:  # reading where it is now (`place`): tried again next run
            return Outcome(invoice_id, "parked", reason=str(error), debug_id=error.debug_id)
        invoices, xref = placed.writer, placed.xref
        if customer is not None and recipient_cut(header, inputs.lines, customer):
            try:  # read where it is: the invoice carrying it may be in another account
                carrier = self.accounts.writer(inputs.recipient_account).client
            except AccountUnusable as unusable:
                why = str(unusable)
                return Outcome(invoice_id, "parked", reason=why, summary_reason=unusable.summary)
            held_in = carrier.get_invoice(inputs.recipient_in or "") or {}
            customer = customer_from_paypal(customer, held_in)
            if customer is None:
                why = f"patient {header['customer_id']}: {RECIPIENT_GONE}"
                return Outcome(invoice_id, "parked", reason=why)
        if reversed_.refunds and in_paypal in PAID_IN_PAYPAL:
            # Paid in PayPal, so closed there: only its refunds are left to record.
            outcome = Outcome(invoice_id, "unchanged", xref)
        else:
            outcome = invoices.apply(
                header,
                inputs.lines,
                customer,
                xref,
                held=queue.verdict == HOLD,
                untouched=inputs.untouched and self._sees_every_write(placed.key),
            )
        if reversed_.refunds:
            claimed = {r["refund_id"] for r in inputs.reversals if r.get("refund_id")}
            invoices.refund(outcome, reversed_.refunds, claimed, header["currency_code"])
        _note_approval(outcome, queue)
        if outcome.carries == inputs.recipient_in or outcome.result in ("conflict", "parked"):
            outcome.carries = None  # nothing new to note
        # The customer whose recipient it carries: the survivor, for a merged patient's invoice.
        outcome.owner, outcome.customer_id = owner, (customer or header)["customer_id"]
        if outcome.xref is not None:
            outcome.xref = replace(outcome.xref, owner=owner, account=placed.key)
        return outcome

    def _sees_every_write(self, account: str | None = None) -> bool:
        """Whether the store has seen every write to this PayPal account (asked once)."""
        with self._asking:  # a business's account is first asked by workers, once
            if account not in self._sees_all:
                client = self.accounts.writer(account).client
                self._sees_all[account] = self.store.sees_every_write(
                    lambda: self._account_is_empty(client), account
                )
            return self._sees_all[account]

    def _account_is_empty(self, client: PayPalClient) -> bool | None:
        """Ask PayPal; None when it does not answer (the store then asks on a later run)."""
        try:
            return bool(client.account_is_empty())
        except PayPalError as error:
            LOGGER.info(
                "Could not tell whether the PayPal account holds invoices (%s): each invoice "
                "is looked up before it is created",
                error,
            )
            return None

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
        # The survivor's, if merged; five are enough to name in the reason.
        others = others_sharing(self.shared, customer["customer_id"], 5)
        rule = customer.get("shared_email") or "park"
        if not others or rule == "allow":
            return None
        reason = (
            f"patient {customer_id} shares its email with patient(s) {', '.join(others)}: "
            "give each patient their own email or invoice_email in Cliniko, or set the "
            "mapping's customers.shared_email to allow"
        )
        result = "skipped" if rule == "skip" else "parked"
        why = "patient shares its email: give each their own in Cliniko or allow it in the mapping"
        return Outcome(invoice_id, result, reason=reason, summary_reason=why)

    def _record(self, outcome: Outcome) -> Outcome:
        """Persist in the main thread: audit, cross-reference, dead letter, clean flag.

        Outcomes are written `WRITE_BATCH` at a time, or once the first of them has waited
        `WRITE_SECONDS`, and all of them at the end of the pass, before any STATE message is
        passed on. A crash before they are written loses no PayPal write: the invoices are
        still dirty, and the next run finds each by its reference and reads what PayPal did.
        """
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
        new = parked is not None and outcome.invoice_id not in self.parked_before
        if new and parked is not None and LOGGER.isEnabledFor(logging.DEBUG):
            LOGGER.debug(  # the run's end sums parked invoices up by reason (left_out.py)
                "Parked invoice %s: %s: %s",
                printable(outcome.invoice_id),
                printable(parked[0], 500),
                "kept in the dead letters, retried as its reason says "
                "(paypal-ops dead-letters list)",
            )
        carries = None
        if outcome.carries and outcome.customer_id:
            carries = (outcome.customer_id, outcome.carries)
        if not self._unwritten:
            self._since = self.clock()
        self._unwritten.append(
            InvoiceOutcome(
                outcome.invoice_id,
                outcome.audit,
                outcome.xref if outcome.result != "parked" else None,
                parked,
                done=outcome.result not in ("waiting", "parked"),
                result=None if outcome.result == "waiting" else outcome.result,
                reason=outcome.summary_reason or outcome.reason,
                approval=outcome.approval,
                carries=carries,
                refunds=outcome.refunds,
            )
        )
        if len(self._unwritten) >= WRITE_BATCH or self.clock() - self._since >= WRITE_SECONDS:
            self._write_outcomes()
        return outcome

    def _write_outcomes(self) -> None:
        """Write the outcomes not yet written, in one transaction (`Store.record_outcomes`)."""
        unwritten, self._unwritten = self._unwritten, []
        self.store.record_outcomes(self.run_id, unwritten)


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
