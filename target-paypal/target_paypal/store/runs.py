"""Runs and what they did: run history, each record's outcome, the audit log, alerts sent.

The audit log is append-only: every PayPal write with its IDs, HTTP status and PayPal debug_id,
no personal data (an email in a reason is replaced: `ids_only`). Outcomes are kept for the last
`KEEP_OUTCOMES_OF_RUNS` runs; the audit log, outcomes and runs for `audit_retention_days`
(`delete_audit_before`, run by `retention`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cliniko_paypal_contract import CLINIKO_STREAM
from target_paypal.store.approvals import Gate, write_gate
from target_paypal.store.dead_letters import CLOSED
from target_paypal.store.directory import Xref, write_xrefs
from target_paypal.store.engine import StoreBase
from target_paypal.store.ids_only import ids_only
from target_paypal.store.parking import Letter, park_letters
from target_paypal.store.schema import (
    audit,
    customers,
    dead_letters,
    invoices,
    notifications,
    outcomes,
    reversals,
    runs,
)
from target_paypal.store.sql import as_utc, id_batches, upsert_by_key, upsert_rows, utc_now

KEEP_OUTCOMES_OF_RUNS = 100
AUDIT_COLUMNS = {c.name: None for c in audit.columns if c.name != "id"}


OUTCOME_KEY = ("run_id", "stream", "record_id")
# The PayPal invoice now holding a customer's recipient (`kept`), for many in one executemany.
REFUNDED = (
    reversals.update()
    .where(reversals.c.reversal_id == sa.bindparam("b_id"))
    .values(refund_id=sa.bindparam("b_refund"))
)
CARRIED = (
    customers.update()
    .where(customers.c.customer_id == sa.bindparam("b_id"))
    .values(recipient_in=sa.bindparam("b_in"))
)


@dataclass
class InvoiceOutcome:
    """What one invoice's outcome writes to the store (`RunHistory.record_outcomes`)."""

    invoice_id: str
    audit: list[dict[str, Any]]
    xref: Xref | None
    parked: tuple[str, str | None] | None  # (reason, PayPal's debug_id): a dead letter
    done: bool
    result: str | None = None  # its outcome in the run (None: none, e.g. still waiting)
    reason: str | None = None
    approval: Gate | None = None
    carries: tuple[str, str] | None = None  # (customer_id, paypal_id) holding its recipient
    refunds: list[tuple[str, str]] = field(default_factory=list)  # (reversal, PayPal refund)


def outcome_row(
    run_id: int, stream: str, record_id: str, outcome: str, reason: str | None
) -> dict[str, Any]:
    """A row of the outcomes table: the reason without emails, cut to its column."""
    return {
        "run_id": run_id,
        "stream": stream,
        "record_id": record_id,
        "outcome": outcome,
        "reason": ids_only(reason or "")[:500] or None,
    }


def write_outcome(
    conn: Connection, run_id: int, stream: str, record_id: str, outcome: str, reason: str | None
) -> None:
    """Set a record's outcome in a run, replacing any earlier outcome it had in that run."""
    upsert_rows(
        conn, outcomes, OUTCOME_KEY, [outcome_row(run_id, stream, record_id, outcome, reason)]
    )


def _audit_row(run_id: int | None, entry: dict[str, Any]) -> dict[str, Any]:
    """An audit log row: the entry, its time and run, its outcome text without emails.

    Every column but the id is in it (None when the entry has no value), so that rows of
    entries with other fields go into one executemany.
    """
    outcome = entry.get("outcome")
    return {
        **AUDIT_COLUMNS,
        "at": utc_now(),
        "run_id": run_id,
        **entry,
        "outcome": ids_only(str(outcome))[:300] if outcome is not None else None,
    }


class RunHistory(StoreBase):
    """The store's part that records runs, record outcomes, PayPal writes and alerts sent."""

    def start_run(self) -> int:
        """Record a run as running, and return its id."""
        with self.begin() as conn:
            result = conn.execute(runs.insert().values(started_at=utc_now(), status="running"))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(self, run_id: int, status: str, counts: dict[str, Any]) -> None:
        """Record how a run ended and its summary counts; forget outcomes of runs long past."""
        with self.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(finished_at=utc_now(), status=status, counts=json.loads(json.dumps(counts)))
            )
            conn.execute(
                outcomes.delete().where(outcomes.c.run_id <= run_id - KEEP_OUTCOMES_OF_RUNS)
            )

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Return the last `limit` runs, newest first."""
        with self.begin() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(limit)).mappings()
            return [dict(r) for r in rows]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """Return one run, or None when there is no such run."""
        with self.begin() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one_or_none()
        return None if row is None else dict(row)

    def note_outcome(
        self, run_id: int, stream: str, record_id: str | None, outcome: str, reason: str | None
    ) -> None:
        """Set how a record ended this run ("created", "skipped", "parked", ...) and why."""
        with self.begin() as conn:
            write_outcome(conn, run_id, stream, record_id or "(no id)", outcome, reason)

    def run_outcomes(self, run_id: int) -> dict[str, dict[str, int]]:
        """Map stream -> outcome -> how many records ended the run that way."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(outcomes.c.stream, outcomes.c.outcome, sa.func.count())
                .where(outcomes.c.run_id == run_id)
                .group_by(outcomes.c.stream, outcomes.c.outcome)
            ).all()
        found: dict[str, dict[str, int]] = {}
        for stream, outcome, count in rows:
            found.setdefault(stream, {})[outcome] = count
        return found

    def run_reasons(self, run_id: int, outcome: str) -> list[tuple[str, str, int]]:
        """Return (stream, reason, count) of the records that ended the run with `outcome`."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(outcomes.c.stream, outcomes.c.reason, sa.func.count())
                .where(outcomes.c.run_id == run_id, outcomes.c.outcome == outcome)
                .group_by(outcomes.c.stream, outcomes.c.reason)
                .order_by(sa.func.count().desc())
            ).all()
        return [(s, r or "", n) for s, r, n in rows]

    def run_invoice_outcomes(self, run_id: int) -> dict[str, str]:
        """Map each invoice id the run dealt with to how it ended."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(outcomes.c.record_id, outcomes.c.outcome).where(
                    outcomes.c.run_id == run_id, outcomes.c.stream == "invoices"
                )
            )
            return {record_id: outcome for record_id, outcome in rows}

    def new_parked(self, run_id: int) -> list[tuple[str, str, str]]:
        """Return (stream, record_id, reason) of the records this run newly parked.

        New means their open dead letter was made during the run: a retry still parked is not
        new.
        """
        run = self.run(run_id)
        if run is None:
            return []
        with self.begin() as conn:
            parked = conn.execute(
                sa.select(outcomes.c.stream, outcomes.c.record_id, outcomes.c.reason)
                .where(outcomes.c.run_id == run_id, outcomes.c.outcome == "parked")
                .order_by(outcomes.c.stream, outcomes.c.record_id)
            ).all()
            letters = conn.execute(
                sa.select(dead_letters.c.stream, dead_letters.c.record_id).where(
                    dead_letters.c.resolved_at.is_(None),
                    dead_letters.c.created_at >= as_utc(run["started_at"]),
                )
            ).all()
        opened = {(stream, record_id) for stream, record_id in letters}
        found = []
        for stream, record_id, reason in parked:
            source = f"rejects:{CLINIKO_STREAM.get(stream, stream)}"
            if (stream, record_id) in opened or (source, record_id) in opened:
                found.append((stream, record_id, reason or ""))
        return found

    def new_conflicts(self, run_id: int) -> list[tuple[str, str]]:
        """Return (invoice_id, reason) of the invoices this run first found in conflict.

        An invoice already in conflict in an earlier run is not new: it was alerted then.
        """
        with self.begin() as conn:
            earlier = (
                sa.select(outcomes.c.record_id)
                .where(
                    outcomes.c.run_id < run_id,
                    outcomes.c.stream == "invoices",
                    outcomes.c.outcome == "conflict",
                )
                .scalar_subquery()
            )
            rows = conn.execute(
                sa.select(outcomes.c.record_id, outcomes.c.reason)
                .where(
                    outcomes.c.run_id == run_id,
                    outcomes.c.stream == "invoices",
                    outcomes.c.outcome == "conflict",
                    outcomes.c.record_id.not_in(earlier),
                )
                .order_by(outcomes.c.record_id)
            ).all()
        return [(record_id, reason or "") for record_id, reason in rows]

    def record_outcome(
        self,
        run_id: int | None,
        invoice_id: str,
        audit_entries: list[dict],
        xref: Xref | None,
        parked: tuple[str, str | None] | None,
        done: bool,
        result: str | None = None,
        reason: str | None = None,
        approval: Gate | None = None,
    ) -> None:
        """Write everything one invoice's outcome changes, in one transaction."""
        outcome = InvoiceOutcome(
            invoice_id, audit_entries, xref, parked, done, result, reason, approval
        )
        self.record_outcomes(run_id, [outcome])

    def record_outcomes(self, run_id: int | None, done_with: Sequence[InvoiceOutcome]) -> None:
        """Write everything these invoices' outcomes change, in one transaction.

        Each one's outcome in the run, its audit entries, cross-reference, place in the
        approval queue and the PayPal invoice now holding its customer's recipient; then either
        a dead letter (`parked` is (reason, debug_id)) or, when `done`, its open letter
        resolved. Parked or done, the invoice is no longer dirty. A few statements for them
        all (one executemany or one UPDATE per batch of ids each), not five per invoice.
        """
        if not done_with:
            return
        with self.begin() as conn:
            done = {o.invoice_id: o.done for o in done_with}
            for o in done_with:
                if o.approval is not None and not write_gate(conn, o.invoice_id, o.approval):
                    done[o.invoice_id] = False  # a person decided meanwhile: the next run acts
            carried = [{"b_id": o.carries[0], "b_in": o.carries[1]} for o in done_with if o.carries]
            if carried:
                conn.execute(CARRIED, carried)
            refunded = [{"b_id": r, "b_refund": f} for o in done_with for r, f in o.refunds]
            if refunded:
                conn.execute(REFUNDED, refunded)
            if run_id is not None:
                rows = [
                    outcome_row(run_id, "invoices", o.invoice_id, o.result, o.reason)
                    for o in done_with
                    if o.result is not None
                ]
                upsert_rows(conn, outcomes, OUTCOME_KEY, rows)
            entries = [_audit_row(run_id, entry) for o in done_with for entry in o.audit]
            if entries:
                conn.execute(audit.insert(), entries)
            write_xrefs(conn, [o.xref for o in done_with if o.xref is not None])
            parked = [
                Letter(o.invoice_id, o.parked[0], debug_id=o.parked[1])
                for o in done_with
                if o.parked is not None
            ]
            park_letters(conn, "invoices", parked)
            resolved: dict[str, list[str]] = {}
            for o in done_with:
                if o.parked is None and done[o.invoice_id]:
                    resolved.setdefault(o.result or "applied", []).append(o.invoice_id)
            now = utc_now()
            for resolution, ids in resolved.items():
                for batch in id_batches(ids):
                    conn.execute(
                        dead_letters.update()
                        .where(
                            dead_letters.c.stream == "invoices",
                            dead_letters.c.record_id.in_(batch),
                            dead_letters.c.resolved_at.is_(None),
                        )
                        .values(resolved_at=now, resolution=resolution, **CLOSED)
                    )
            clean = [o.invoice_id for o in done_with if done[o.invoice_id] or o.parked]
            for batch in id_batches(clean):
                conn.execute(
                    invoices.update().where(invoices.c.invoice_id.in_(batch)).values(dirty=False)
                )

    def audit_log(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Return the audit log in the order written, of one run or of all."""
        query = sa.select(audit).order_by(audit.c.id)
        if run_id is not None:
            query = query.where(audit.c.run_id == run_id)
        with self.begin() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def notified(self, subject: str) -> bool:
        """Say whether the alert on `subject` ("run:5", ...) was already sent."""
        with self.begin() as conn:
            return (
                conn.execute(
                    sa.select(notifications.c.subject).where(notifications.c.subject == subject)
                ).first()
                is not None
            )

    def note_notified(
        self, subject: str, kind: str, run_id: int | None, delivered: int, channels: int
    ) -> None:
        """Record that the alert on `subject` was sent, and to how many of its channels."""
        with self.begin() as conn:
            upsert_by_key(
                conn,
                notifications,
                "subject",
                {
                    "subject": subject,
                    "kind": kind,
                    "run_id": run_id,
                    "sent_at": utc_now(),
                    "delivered": delivered,
                    "channels": channels,
                },
            )


def runs_before(cutoff: dt.datetime) -> sa.ColumnElement[bool]:
    """Runs started before `cutoff`."""
    return runs.c.started_at < cutoff


def outcomes_of_runs_before(cutoff: dt.datetime) -> sa.ColumnElement[bool]:
    """Record outcomes of the runs started before `cutoff`."""
    return outcomes.c.run_id.in_(sa.select(runs.c.id).where(runs_before(cutoff)))


def audit_before(cutoff: dt.datetime) -> sa.ColumnElement[bool]:
    """Audit log entries written before `cutoff`."""
    return audit.c.at < cutoff


def delete_audit_before(conn: Connection, cutoff: dt.datetime) -> dict[str, int]:
    """Delete the audit log, the outcomes and the runs older than `cutoff`; counts by table."""
    return {
        "audit_log": int(conn.execute(audit.delete().where(audit_before(cutoff))).rowcount or 0),
        "outcomes": int(
            conn.execute(outcomes.delete().where(outcomes_of_runs_before(cutoff))).rowcount or 0
        ),
        "runs": int(conn.execute(runs.delete().where(runs_before(cutoff))).rowcount or 0),
    }
