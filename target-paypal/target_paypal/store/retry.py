"""When a parked invoice is tried again: on every run, or when what holds it back changes.

A run marks dirty, at its start, only the invoices whose letters may clear without anything
new arriving (`RetryPlans.retry_plan`); the others wait for their cause to change:

- `EVERY_RUN`: PayPal refused it or did not answer, its number is taken by another PayPal
  invoice, it was still incomplete when the input ended, its recipient is to be read back from
  PayPal, and any reason this table does not know (the safe default: a new reason can be slow,
  never forgotten).
- `WITH_PATIENT`: held by its patient (the mapper parked the patient, or the patient shares an
  email). Nothing in PayPal can change that; it is tried again when the patient's cause does:
  a customer record staged with a change, or one that starts or ends a shared email
  (`staging.stage_customers`); the patient's reject arriving again (`customers_rejected`); the
  patient's reject letter resolved or discarded (`dead_letters`); and once after the mapping
  rules change (`rules_changed`, from the records' `rules_fingerprint`).
- `WITH_REVERSAL`: held by a reversal in Cliniko (paid then reversed under the `park` rule,
  reversed in part while unpaid, a reversal withdrawn after its refund). A run cannot clear it by
  itself: the invoice or one of its reversals staged again (which marks it dirty) can, or a
  person in PayPal, who then resolves the letter.
- `WITH_RECORD`: the input itself broke the contract (or is in another currency). Only its
  record sent again (staged afresh, which marks the invoice dirty) or `paypal-ops dead-letters
  replay` (which checks it again) can clear it; marking it dirty would only apply again the
  version staged before.

`paypal-ops dead-letters replay` queues any parked invoice for the next run, whatever its kind.
paypal-ops' `parked_reasons.py` sorts the same reasons for the sync-health page (by who acts);
this table sorts them by what can clear them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cliniko_paypal_contract import CLINIKO_STREAM
from target_paypal.store.engine import StoreBase
from target_paypal.store.schema import dead_letters, invoices, writer_settings
from target_paypal.store.sql import IDS_PER_STATEMENT, upsert_by_key

EVERY_RUN = "every run"
WITH_PATIENT = "with its patient"
WITH_RECORD = "with its record"
WITH_REVERSAL = "with its reversal"
# PayPalError's operations (client.py): `<operation>: HTTP <status> <name> ... debug_id=...`.
PAYPAL_OPERATIONS = "token|create|get|update|delete|send|cancel|record_payment|search"
PATIENT_REJECTS = f"rejects:{CLINIKO_STREAM['customers']}"  # the mapper's letters of patients
RULES_ROW = "mapping_rules"  # the writer_settings row holding the last rules fingerprint seen
# What the invoices a run does not retry by itself wait for (the run's log line).
WAITING_FOR = {
    WITH_PATIENT: "their patient to change in Cliniko (or the mapping rules)",
    WITH_RECORD: "their record to be sent again (it broke the contract)",
    WITH_REVERSAL: "their invoice or its reversal to change in Cliniko (a reversal holds them)",
}


@dataclass(frozen=True)
class Cause:
    """One kind of invoice letter: the start of its reason, and when it is tried again."""

    key: str
    retried: str  # EVERY_RUN, WITH_PATIENT or WITH_RECORD
    pattern: str  # matched at the start of the stored reason


# First match wins. The reasons are written by apply.py / settle.py (PayPal, number taken, void
# before), applier.py (the patient's rules, incomplete), reversals.py and sinks.py (the input
# checks).
CAUSES: tuple[Cause, ...] = (
    Cause("paypal-refused", EVERY_RUN, rf"(?:{PAYPAL_OPERATIONS}): "),
    Cause("number-taken", EVERY_RUN, r"invoice number "),
    Cause("incomplete", EVERY_RUN, r"incomplete at the end of the input"),
    Cause("recipient-in-paypal", EVERY_RUN, r"patient \S+: details not kept"),
    Cause("void-before", EVERY_RUN, r"void before "),
    # accounts.py: its business's PayPal account cannot be used, or it is in another one.
    Cause("paypal-account", EVERY_RUN, r"PayPal account \S+: "),
    Cause("patient-parked", WITH_PATIENT, r"patient \S+: parked by the mapper: "),
    Cause("shared-email", WITH_PATIENT, r"patient \S+ shares its email with patient\(s\) "),
    # reversals.py's reasons to park
    Cause("reversed-paid", WITH_REVERSAL, r"invoice \S+ was paid, then reversed in Cliniko "),
    Cause("reversed-in-part", WITH_REVERSAL, r"invoice \S+ is reversed in part in Cliniko "),
    Cause("reversal-withdrawn", WITH_REVERSAL, r"reversal \S+ of invoice \S+ was withdrawn "),
    Cause(
        "input",
        WITH_RECORD,
        r"(?:does not match the contract|currency_code is not |a RECORD for stream )",
    ),
)
UNKNOWN = Cause("other", EVERY_RUN, "")
_COMPILED = tuple((cause, re.compile(cause.pattern)) for cause in CAUSES)


def cause_of(reason: str | None) -> Cause:
    """The kind of an open `invoices` letter, from its reason; UNKNOWN (every run) if none fits."""
    text = reason or ""
    for cause, pattern in _COMPILED:
        if pattern.match(text):
            return cause
    return UNKNOWN


def retried(stream: str, reason: str | None) -> str:
    """When a run tries a letter again by itself.

    Only invoices are tried again by a run; a letter of another stream (a record the mapper or
    the contract refused) waits for its record to come again, or for `paypal-ops dead-letters
    replay`.
    """
    return cause_of(reason).retried if stream == "invoices" else WITH_RECORD


@dataclass
class RetryPlan:
    """The open invoice letters at a run's start, by when they are tried again."""

    by_kind: dict[str, list[str]] = field(default_factory=dict)

    def ids(self, kind: str) -> list[str]:
        """The invoice ids of one kind (EVERY_RUN, WITH_PATIENT, WITH_RECORD)."""
        return self.by_kind.get(kind, [])

    @property
    def parked(self) -> set[str]:
        """Every invoice with an open letter."""
        return {i for ids in self.by_kind.values() for i in ids}

    def described(self) -> list[str]:
        """The run's log lines about them: how many it retries, how many wait, and for what."""
        lines = []
        if self.ids(EVERY_RUN):
            lines.append(f"Retrying {len(self.ids(EVERY_RUN)):,} parked invoices")
        for kind, until in WAITING_FOR.items():
            if self.ids(kind):
                lines.append(
                    f"{len(self.ids(kind)):,} parked invoices wait for {until}: not retried by "
                    "this run (paypal-ops dead-letters list; replay retries them at the next run)"
                )
        return lines


def rules_changed(fingerprint: str, held: int) -> str:
    """The log line of a run that noted new mapping rules (`RetryPlans.rules_changed`)."""
    return (
        f"The mapping rules changed (rules_fingerprint {fingerprint}): retrying once the "
        f"{held:,} parked invoices held by their patient"
    )


def _open_invoice_letters(conn: Connection) -> list[tuple[str, str]]:
    """(invoice id, reason) of every open `invoices` letter, oldest first; no kept records."""
    query = sa.select(dead_letters.c.record_id, dead_letters.c.reason).where(
        dead_letters.c.resolved_at.is_(None), dead_letters.c.stream == "invoices"
    )
    return [(r, why) for r, why in conn.execute(query.order_by(dead_letters.c.id)) if r]


def _plan(letters: Iterable[tuple[str, str]]) -> RetryPlan:
    plan = RetryPlan()
    for invoice_id, reason in letters:
        plan.by_kind.setdefault(cause_of(reason).retried, []).append(invoice_id)
    return plan


def _mark_dirty(conn: Connection, invoice_ids: list[str]) -> None:
    for start in range(0, len(invoice_ids), IDS_PER_STATEMENT):
        chunk = invoice_ids[start : start + IDS_PER_STATEMENT]
        conn.execute(invoices.update().where(invoices.c.invoice_id.in_(chunk)).values(dirty=True))


def mark_customers_invoices_dirty(conn: Connection, customer_ids: Iterable[str]) -> None:
    """Mark dirty every invoice of these customers (their patient's cause changed)."""
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        chunk = ids[start : start + IDS_PER_STATEMENT]
        conn.execute(invoices.update().where(invoices.c.customer_id.in_(chunk)).values(dirty=True))


class RetryPlans(StoreBase):
    """The store's part that decides which parked invoices a run tries again."""

    def retry_plan(self) -> RetryPlan:
        """The open invoice letters, by when they are tried again (ids and reasons only)."""
        with self.begin() as conn:
            return _plan(_open_invoice_letters(conn))

    def customers_rejected(self, customer_ids: Iterable[str]) -> None:
        """Mark dirty the invoices of patients the mapper rejected (parked or skipped) again.

        Their invoices' reason, or outcome (parked, skipped), may change with the reject's.
        """
        ids = list(customer_ids)
        if ids:
            with self.begin() as conn:
                mark_customers_invoices_dirty(conn, ids)

    def rules_changed(self, fingerprint: str) -> list[str] | None:
        """Note the mapping rules' fingerprint the input carries; None if the store had it.

        When it differs from the last one noted (or none was), every invoice held by its
        patient is marked dirty, once, in the same transaction: the new rules may map the
        patient differently. Returns those invoices.
        """
        with self.begin() as conn:
            seen = conn.execute(
                sa.select(writer_settings.c.value).where(writer_settings.c.name == RULES_ROW)
            ).scalar_one_or_none()
            if isinstance(seen, dict) and seen.get("fingerprint") == fingerprint:
                return None
            upsert_by_key(
                conn,
                writer_settings,
                "name",
                {"name": RULES_ROW, "value": {"fingerprint": fingerprint}},
            )
            held = _plan(_open_invoice_letters(conn)).ids(WITH_PATIENT)
            _mark_dirty(conn, held)
            return held
