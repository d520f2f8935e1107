"""The store's reversals: which invoices are reversed, and the PayPal refund noted for each.

A reversal is never an invoice in PayPal (map_cliniko_paypal/reversals.py). Staging one marks
the invoice it reverses dirty; the reversal's own lines, which negate the original's, are no
invoice's lines: those staged are dropped, and those the mapper parked (a negative quantity)
are closed as left out on purpose, now and whenever they come again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_paypal.store.engine import StoreBase
from target_paypal.store.schema import dead_letters, invoice_lines, invoices, outcomes, reversals
from target_paypal.store.sql import id_batches, upsert_rows, utc_now

LINE_LETTERS = "rejects:invoice_items"
NOT_A_LINE = "a line of a reversal, which is not an invoice in PayPal"


def reversals_of(conn: Connection, invoice_ids: Sequence[str]) -> dict[str, list[dict]]:
    """Each invoice's reversals: their records, with `refund_id` (the refund noted, if any)."""
    found: dict[str, list[dict]] = {}
    for batch in id_batches(list(invoice_ids)):
        query = sa.select(reversals.c.invoice_id, reversals.c.record, reversals.c.refund_id)
        for invoice_id, record, refund_id in conn.execute(
            query.where(reversals.c.invoice_id.in_(batch)).order_by(reversals.c.reversal_id)
        ):
            found.setdefault(invoice_id, []).append({**record, "refund_id": refund_id})
    return found


def reversal_ids(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Which of these invoice ids are reversals."""
    known: set[str] = set()
    for batch in id_batches(sorted(set(ids))):
        query = sa.select(reversals.c.reversal_id).where(reversals.c.reversal_id.in_(batch))
        known.update(conn.execute(query).scalars())
    return known


class Reversals(StoreBase):
    """The store's part that stages reversals and notes the refunds recorded for them."""

    def stage_reversals(self, records: Iterable[dict[str, Any]], run_id: int | None = None) -> None:
        """Upsert reversals (a refund already noted is kept); their invoices become dirty.

        Their lines' letters this run (`run_id`) opened count as skipped in it, not parked.
        """
        rows = {r["reversal_id"]: r for r in records}
        with self.begin() as conn:
            ids = sorted(rows)
            upsert_rows(
                conn,
                reversals,
                ("reversal_id",),
                [
                    {"reversal_id": i, "invoice_id": rows[i]["invoice_id"], "record": rows[i],
                     "staged_at": utc_now()}
                    for i in ids
                ],
            )
            originals = sorted({r["invoice_id"] for r in rows.values()})
            for batch in id_batches(originals):
                conn.execute(
                    invoices.update().where(invoices.c.invoice_id.in_(batch)).values(dirty=True)
                )
            for batch in id_batches(ids):
                conn.execute(invoice_lines.delete().where(invoice_lines.c.invoice_id.in_(batch)))
            closed = _close_line_letters(conn, set(ids))
            for batch in id_batches(closed):
                conn.execute(
                    outcomes.update()
                    .where(
                        outcomes.c.run_id == run_id,
                        outcomes.c.stream == "invoice_lines",
                        outcomes.c.record_id.in_(batch),
                    )
                    .values(outcome="skipped", reason=f"skipped: {NOT_A_LINE}")
                )

    def reversal_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these invoice ids are reversals (their lines are no invoice's)."""
        with self.begin() as conn:
            return reversal_ids(conn, ids)

    def note_refunds(self, refunds: Sequence[tuple[str, str]]) -> None:
        """Note the PayPal refund recorded for each (reversal id, refund id)."""
        with self.begin() as conn:
            for reversal_id, refund_id in refunds:
                conn.execute(
                    reversals.update()
                    .where(reversals.c.reversal_id == reversal_id)
                    .values(refund_id=refund_id)
                )


def _close_line_letters(conn: Connection, reversal_ids: set[str]) -> list[str]:
    """Close the open letters of these reversals' lines, as left out on purpose; their ids."""
    open_lines = conn.execute(
        sa.select(dead_letters.c.id, dead_letters.c.record).where(
            dead_letters.c.stream == LINE_LETTERS, dead_letters.c.resolved_at.is_(None)
        )
    ).all()
    theirs = {
        letter_id: str(record.get("record_id") or "")
        for letter_id, record in open_lines
        if isinstance(record, dict) and str(record.get("invoice_id")) in reversal_ids
    }
    for batch in id_batches(list(theirs)):  # type: ignore[arg-type]
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.id.in_(batch))
            .values(resolved_at=utc_now(), resolution=NOT_A_LINE, record=sa.null())
        )
    return sorted(theirs.values())
