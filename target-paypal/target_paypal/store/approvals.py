"""The approval queue: invoices a mapping rule holds as PayPal drafts until a person decides.

The mapper marks an invoice a rule holds with `approval` {rule, basis, alert_after_days}. Each
time the applier meets an invoice, `gate` decides from the invoice's row here:

- held, and no row, a rejection of an earlier version of the invoice, or an approval given for
  another basis (the rule holds it again for a different reason, e.g. its total rose): it waits
  (`held_since` now) and PayPal gets it as a draft;
- held and waiting: it stays a draft, kept up to date with Cliniko;
- held and approved for this basis, or not held: it goes through like any other invoice;
- rejected, and the invoice unchanged in Cliniko since: it stays out (its draft deleted).

An invoice no rule holds any more leaves the queue (an approval is kept: it stands again if
the rule comes back for the same reason). `approve` and `reject` are a person's decisions
(`paypal-ops approvals`): each is written to the audit log with who decided, and marks the
invoice dirty so the next run, or `--apply-now`, acts on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_paypal.store.engine import StoreBase
from target_paypal.store.ids_only import ids_only
from target_paypal.store.kept import content_of
from target_paypal.store.schema import (
    approvals,
    audit,
    invoice_lines,
    invoices,
    writer_settings,
    xrefs,
)
from target_paypal.store.sql import IDS_PER_STATEMENT, as_utc, upsert_by_key, utc_now

WAITING, APPROVED, REJECTED = "waiting", "approved", "rejected"
GO, HOLD, STAY_OUT = "go", "hold", "rejected"


@dataclass(frozen=True)
class Approval:
    """One invoice's row in the approval queue, with its PayPal id and status when listed."""

    invoice_id: str
    rule: str
    basis: str
    state: str
    held_since: dt.datetime
    alert_after_days: int | None = None
    invoice_number: str | None = None
    total: str | None = None
    currency_code: str | None = None
    content: str | None = None
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    why: str | None = None
    paypal_id: str | None = None
    paypal_status: str | None = None

    def waited(self, now: dt.datetime | None = None) -> dt.timedelta:
        """How long it has waited since it was (last) held."""
        return (now or utc_now()) - as_utc(self.held_since)

    def overdue(self, now: dt.datetime | None = None) -> bool:
        """Whether it has waited longer than its rule's `alert_after_days`."""
        days = self.alert_after_days
        return days is not None and self.waited(now) > dt.timedelta(days=days)


@dataclass(frozen=True)
class Gate:
    """What the queue says of one invoice: go, hold (a draft) or stay out; the row to write."""

    verdict: str
    row: dict[str, Any] | None = None  # the invoice's new row (None: leave it)
    drop: bool = False  # the invoice leaves the queue
    read: str | None = None  # the row's state when read: written only if it still holds it
    note: str | None = None  # an audit entry's outcome: why it (re)entered the queue
    rule: str | None = None
    decided_by: str | None = None


def _from_row(row: Any) -> Approval:
    values = dict(row)
    for name in ("held_since", "decided_at"):
        if values.get(name) is not None:
            values[name] = as_utc(values[name])
    return Approval(**{k: values[k] for k in Approval.__dataclass_fields__ if k in values})


def read_approval(conn: Connection, invoice_id: str) -> Approval | None:
    """The invoice's row in the queue, or None."""
    row = (
        conn.execute(sa.select(approvals).where(approvals.c.invoice_id == invoice_id))
        .mappings()
        .one_or_none()
    )
    return None if row is None else _from_row(row)


def read_approvals(conn: Connection, invoice_ids: list[str]) -> dict[str, Approval]:
    """The rows in the queue of those of these invoices that have one."""
    found: dict[str, Approval] = {}
    for start in range(0, len(invoice_ids), IDS_PER_STATEMENT):
        batch = invoice_ids[start : start + IDS_PER_STATEMENT]
        query = sa.select(approvals).where(approvals.c.invoice_id.in_(batch))
        found.update((row["invoice_id"], _from_row(row)) for row in conn.execute(query).mappings())
    return found


def invoice_content(header: dict[str, Any], lines: Iterable[dict[str, Any]]) -> str:
    """The hash of an invoice as staged (header and lines): a rejection holds while it stands."""
    parts = [content_of(header), *sorted(content_of(line) for line in lines)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def gate(header: dict[str, Any], lines: list[dict[str, Any]], row: Approval | None) -> Gate:
    """Decide whether an invoice goes through, waits as a draft, or stays out (rejected)."""
    # Read only when the queue has a say: an invoice no rule holds and never queued needs none.
    held = header.get("approval")
    content = invoice_content(header, lines) if row is not None or held else ""
    if row is not None and row.state == REJECTED and row.content == content:
        return Gate(STAY_OUT, rule=row.rule, decided_by=row.decided_by)
    if not held:
        drop = row is not None and row.state != APPROVED
        return Gate(GO, drop=drop, read=row.state if row else None)
    rule, basis = str(held["rule"]), str(held["basis"])
    if row is not None and row.state == APPROVED and (row.rule, row.basis) == (rule, basis):
        return Gate(GO, rule=rule, decided_by=row.decided_by)
    new = {
        "invoice_id": header["invoice_id"],
        "rule": rule[:200],
        "basis": basis[:64],
        "state": WAITING,
        "alert_after_days": held.get("alert_after_days"),
        "invoice_number": header.get("invoice_number"),
        "total": header.get("total"),
        "currency_code": header.get("currency_code"),
        "content": content,
        "decided_by": None,
        "decided_at": None,
        "why": None,
    }
    if row is not None and row.state == WAITING:
        return Gate(HOLD, {**new, "held_since": row.held_since}, read=WAITING, rule=rule)
    if row is None:
        note = f"held for approval: {rule}"
    elif row.state == APPROVED:
        note = f"back in the approval queue, approved before for other values: {rule}"
    else:
        note = f"back in the approval queue after a change in Cliniko: {rule}"
    read = row.state if row else None
    return Gate(HOLD, {**new, "held_since": utc_now()}, read=read, note=note, rule=rule)


def write_gate(conn: Connection, invoice_id: str, result: Gate) -> bool:
    """Write what `gate` decided for the invoice, in the caller's transaction.

    Only over the row as it was read: False when a person decided meanwhile (the run then
    leaves the invoice dirty, and the next run acts on the decision).
    """
    if not (result.drop or result.row):
        return True
    same = approvals.c.invoice_id == invoice_id
    if result.read is None:
        exists = conn.execute(sa.select(approvals.c.state).where(same)).scalar_one_or_none()
        if exists is not None:
            return False
        if result.row:
            conn.execute(approvals.insert().values(result.row))
        return True
    still = sa.and_(same, approvals.c.state == result.read)
    if result.drop:
        return conn.execute(approvals.delete().where(still)).rowcount == 1
    values = {k: v for k, v in (result.row or {}).items() if k != "invoice_id"}
    return conn.execute(approvals.update().where(still).values(values)).rowcount == 1


def _audit(invoice_id: str, operation: str, outcome: str) -> dict[str, Any]:
    return {
        "at": utc_now(),
        "run_id": None,
        "invoice_id": invoice_id,
        "operation": operation,
        "outcome": ids_only(outcome)[:300],
    }


class Approvals(StoreBase):
    """The store's part that keeps the approval queue and a person's decisions."""

    def approval_queue(self, states: Iterable[str] = (WAITING,)) -> list[Approval]:
        """The invoices in these states, longest waiting first, with their PayPal id."""
        query = (
            sa.select(approvals, xrefs.c.paypal_id, xrefs.c.paypal_status)
            .select_from(approvals.outerjoin(xrefs, xrefs.c.invoice_id == approvals.c.invoice_id))
            .where(approvals.c.state.in_(list(states)))
            .order_by(approvals.c.held_since, approvals.c.invoice_id)
        )
        with self.begin() as conn:
            return [_from_row(row) for row in conn.execute(query).mappings()]

    def approve(self, invoice_ids: Iterable[str], by: str) -> list[str]:
        """Approve these waiting invoices; returns those approved (others were not waiting)."""
        return self._decide(list(invoice_ids), APPROVED, by, None)

    def reject(self, invoice_id: str, by: str, why: str) -> bool:
        """Reject a waiting invoice, or an approved one not yet sent (its draft goes).

        It stays out until it changes in Cliniko.
        """
        return bool(self._decide([invoice_id], REJECTED, by, why))

    def _decide(self, ids: list[str], state: str, by: str, why: str | None) -> list[str]:
        decided: list[str] = []
        with self.begin() as conn:
            for start in range(0, len(ids), IDS_PER_STATEMENT):
                chunk = ids[start : start + IDS_PER_STATEMENT]
                found = conn.execute(
                    sa.select(approvals.c.invoice_id)
                    .select_from(
                        approvals.outerjoin(xrefs, xrefs.c.invoice_id == approvals.c.invoice_id)
                    )
                    .where(approvals.c.invoice_id.in_(chunk), _decidable(state))
                ).scalars()
                decided.extend(found)
            for invoice_id in decided:
                values: dict[str, Any] = {
                    "state": state,
                    "decided_by": by[:100],
                    "decided_at": utc_now(),
                    "why": ids_only(why or "")[:300] or None,
                }
                if state == REJECTED:
                    values["content"] = _staged_content(conn, invoice_id)
                conn.execute(
                    approvals.update().where(approvals.c.invoice_id == invoice_id).values(values)
                )
                operation = "approve" if state == APPROVED else "reject"
                outcome = f"{state} by {by}" + (f": {why}" if why else "")
                conn.execute(audit.insert(), [_audit(invoice_id, operation, outcome)])
                conn.execute(
                    invoices.update().where(invoices.c.invoice_id == invoice_id).values(dirty=True)
                )
        return decided

    def save_writer_settings(self, settings: dict[str, Any]) -> None:
        """Keep what this run writes PayPal with (no secrets), for `--apply-now`."""
        with self.begin() as conn:
            upsert_by_key(conn, writer_settings, "name", {"name": "writer", "value": settings})

    def writer_settings(self) -> dict[str, Any] | None:
        """What the last run wrote PayPal with, or None before any run."""
        with self.begin() as conn:
            value = conn.execute(
                sa.select(writer_settings.c.value).where(writer_settings.c.name == "writer")
            ).scalar_one_or_none()
        return dict(value) if value else None


def _decidable(state: str) -> sa.ColumnElement[bool]:
    """Which rows a decision may change.

    Waiting ones; a rejection also an approved one that PayPal still has as a draft.
    """
    if state == APPROVED:
        return approvals.c.state == WAITING
    not_sent = sa.or_(xrefs.c.paypal_status.is_(None), xrefs.c.paypal_status == "DRAFT")
    return sa.or_(approvals.c.state == WAITING, sa.and_(approvals.c.state == APPROVED, not_sent))


def _staged_content(conn: Connection, invoice_id: str) -> str | None:
    header = conn.execute(
        sa.select(invoices.c.record).where(invoices.c.invoice_id == invoice_id)
    ).scalar_one_or_none()
    if header is None:
        return None
    lines = conn.execute(
        sa.select(invoice_lines.c.record).where(invoice_lines.c.invoice_id == invoice_id)
    ).scalars()
    return invoice_content(header, lines)
