"""Dead letters: records that could not be applied, kept with why until replayed or discarded.

A letter's stream is the target stream that failed ("invoices", "invoice_lines", ...) or, for a
record the mapper rejected, "rejects:<Cliniko stream>". Each record has at most one open letter.

A letter keeps its record only while it is open: resolving, superseding or discarding it drops
the record (the letter stays, with its IDs and reason). An open letter's record is dropped too
once it is older than `dead_letter_retention_days` (`drop_expired_records`); the letter is
then marked (`record_dropped_at`) and replaying it needs Cliniko's record again
(`REREAD_FROM_CLINIKO`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_paypal.store.engine import StoreBase
from target_paypal.store.ids_only import ids_only
from target_paypal.store.retry import PATIENT_REJECTS, mark_customers_invoices_dirty
from target_paypal.store.schema import audit, dead_letters, invoices, skipped
from target_paypal.store.sql import IDS_PER_STATEMENT, utc_now

REREAD_FROM_CLINIKO = (
    "re-read from Cliniko to replay: its kept record was dropped after "
    "dead_letter_retention_days; change the record in Cliniko (the next sync brings it) or run "
    "`meltano run --full-refresh cliniko-to-paypal`"
)
# What closing a letter sets: the record goes, the IDs and the reason stay.
CLOSED = {"record": sa.null()}


def has_record() -> sa.ColumnElement[bool]:
    """A letter still keeping a record (not SQL NULL, nor the JSON null older stores wrote)."""
    return sa.and_(
        dead_letters.c.record.is_not(None), sa.cast(dead_letters.c.record, sa.Text) != "null"
    )


def park_letter(
    conn: Connection,
    stream: str,
    record_id: str | None,
    reason: str,
    record: dict | None,
    debug_id: str | None,
) -> None:
    """Open a dead letter for a record, or count one more attempt on its open letter."""
    open_letter = conn.execute(
        sa.select(dead_letters.c.id, dead_letters.c.attempts).where(
            dead_letters.c.stream == stream,
            dead_letters.c.record_id == record_id,
            dead_letters.c.resolved_at.is_(None),
        )
    ).one_or_none()
    values: dict[str, Any] = {
        "reason": ids_only(reason)[:500],
        "debug_id": debug_id,
        "record": sa.null(),
    }
    if record is not None:  # kept again (read anew): no longer dropped
        values.update(record=record, record_dropped_at=None)
    if open_letter is None:
        conn.execute(
            dead_letters.insert().values(
                stream=stream, record_id=record_id, created_at=utc_now(), attempts=1, **values
            )
        )
    else:
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.id == open_letter.id)
            .values(attempts=open_letter.attempts + 1, **values)
        )


def supersede_rejects(conn: Connection, stream: str, source: str, record_ids: list[str]) -> None:
    """Let valid records replace what the mapper had left out under the same ids.

    The mapper's open letters ("rejects:<source>") are resolved and its skips of `stream` are
    forgotten. Two statements per batch of ids rather than per record: staging is most of a
    first run's store work.
    """
    for start in range(0, len(record_ids), IDS_PER_STATEMENT):
        chunk = record_ids[start : start + IDS_PER_STATEMENT]
        conn.execute(
            dead_letters.update()
            .where(
                dead_letters.c.stream == f"rejects:{source}",
                dead_letters.c.record_id.in_(chunk),
                dead_letters.c.resolved_at.is_(None),
            )
            .values(resolved_at=utc_now(), resolution="superseded by a valid record", **CLOSED)
        )
        conn.execute(
            skipped.delete().where(skipped.c.stream == stream, skipped.c.record_id.in_(chunk))
        )


class DeadLetters(StoreBase):
    """The store's part that parks records, lists open letters, and resolves or discards them."""

    def park(
        self,
        stream: str,
        record_id: str | None,
        reason: str,
        record: dict | None = None,
        debug_id: str | None = None,
    ) -> None:
        """Keep a record that could not be applied, with why; one open letter per record."""
        with self.begin() as conn:
            park_letter(conn, stream, record_id, reason, record, debug_id)

    def resolve(self, stream: str, record_id: str, resolution: str) -> None:
        """Close a record's open letter, saying how it was resolved.

        A patient's letter closed: its invoices, held by it, are looked at again next run.
        """
        with self.begin() as conn:
            conn.execute(
                dead_letters.update()
                .where(
                    dead_letters.c.stream == stream,
                    dead_letters.c.record_id == record_id,
                    dead_letters.c.resolved_at.is_(None),
                )
                .values(resolved_at=utc_now(), resolution=resolution, **CLOSED)
            )
            if stream == PATIENT_REJECTS:
                mark_customers_invoices_dirty(conn, [record_id])

    def discard(self, letter_id: int, why: str) -> None:
        """Close one dead letter by hand, with the reason, and say so in the audit log.

        A discarded invoice stops being dirty, so the next run does not retry it; a discarded
        patient's invoices, held by it, are looked at again next run.
        """
        with self.begin() as conn:
            letter = conn.execute(
                sa.select(dead_letters.c.stream, dead_letters.c.record_id).where(
                    dead_letters.c.id == letter_id
                )
            ).one()
            conn.execute(
                dead_letters.update()
                .where(dead_letters.c.id == letter_id)
                .values(resolved_at=utc_now(), resolution=f"discarded: {why}"[:300], **CLOSED)
            )
            conn.execute(
                audit.insert().values(
                    at=utc_now(),
                    invoice_id=letter.record_id if letter.stream == "invoices" else None,
                    operation=f"discard {letter.stream}"[:40],
                    outcome=ids_only(f"dead letter {letter_id} ({letter.record_id}): {why}")[:300],
                )
            )
            if letter.stream == "invoices":
                conn.execute(
                    invoices.update()
                    .where(invoices.c.invoice_id == letter.record_id)
                    .values(dirty=False)
                )
            elif letter.stream == PATIENT_REJECTS:
                mark_customers_invoices_dirty(conn, [letter.record_id])

    def open_dead_letters(self, stream: str | None = None) -> list[dict[str, Any]]:
        """Return the open letters, oldest first, of one stream or of all."""
        query = sa.select(dead_letters).where(dead_letters.c.resolved_at.is_(None))
        if stream:
            query = query.where(dead_letters.c.stream == stream)
        with self.begin() as conn:
            return [dict(r) for r in conn.execute(query.order_by(dead_letters.c.id)).mappings()]

    def parked_lines(self, invoice_id: str) -> list[str]:
        """Return the ids of an invoice's lines kept as open letters (by the mapper or target)."""
        streams = ("invoice_lines", "rejects:invoice_items")
        query = sa.select(dead_letters.c.record_id, dead_letters.c.record).where(
            dead_letters.c.resolved_at.is_(None), dead_letters.c.stream.in_(streams)
        )
        with self.begin() as conn:
            rows = conn.execute(query).all()
        return sorted(
            str(record_id)
            for record_id, record in rows
            if isinstance(record, dict) and str(record.get("invoice_id")) == invoice_id
        )

    def open_dead_letter_ids(self, stream: str) -> list[str]:
        """Return the record ids of a stream's open letters, without loading the kept records."""
        query = sa.select(dead_letters.c.record_id).where(
            dead_letters.c.resolved_at.is_(None), dead_letters.c.stream == stream
        )
        with self.begin() as conn:
            return [r for r in conn.execute(query.order_by(dead_letters.c.id)).scalars() if r]

    def open_dead_letter_count(self) -> int:
        """Return how many letters are open, in every stream."""
        query = sa.select(sa.func.count()).where(dead_letters.c.resolved_at.is_(None))
        with self.begin() as conn:
            return int(conn.execute(query.select_from(dead_letters)).scalar_one())


def expired_open(cutoff: dt.datetime) -> sa.ColumnElement[bool]:
    """Open letters parked before `cutoff` that still keep a record."""
    return sa.and_(
        dead_letters.c.resolved_at.is_(None), dead_letters.c.created_at < cutoff, has_record()
    )


def closed_with_record() -> sa.ColumnElement[bool]:
    """Closed letters still keeping a record (closed by an earlier version, which kept it)."""
    return sa.and_(dead_letters.c.resolved_at.is_not(None), has_record())


def drop_expired_records(conn: Connection, cutoff: dt.datetime) -> tuple[int, int]:
    """Drop the records of open letters parked before `cutoff`, and of closed letters.

    Returns (open letters marked "re-read from Cliniko", closed letters emptied).
    """
    expired = conn.execute(
        dead_letters.update()
        .where(expired_open(cutoff))
        .values(record=sa.null(), record_dropped_at=utc_now())
    ).rowcount
    closed = conn.execute(
        dead_letters.update().where(closed_with_record()).values(**CLOSED)
    ).rowcount
    return int(expired or 0), int(closed or 0)
