"""Parking many records at once: `dead_letters.park_letter`'s rules, a few statements a batch.

A run parks thousands of invoices and rejects; one by one, each letter cost a SELECT and an
INSERT or UPDATE built anew. Here the open letters of a batch are read in one SELECT per batch
of ids, and the new and the existing ones written with one executemany each. The rows written
are those `park_letter` writes for the same letters in the same order
(`tests/test_store_round_trips.py` compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_paypal.store.dead_letters import park_letter
from target_paypal.store.ids_only import ids_only
from target_paypal.store.schema import dead_letters
from target_paypal.store.sql import id_batches, utc_now


@dataclass(frozen=True)
class Letter:
    """One record to park (`park_letter`'s arguments but the stream)."""

    record_id: str | None
    reason: str
    record: dict[str, Any] | None = None  # kept with the letter; None keeps none
    debug_id: str | None = None


def park_letters(conn: Connection, stream: str, letters: Sequence[Letter]) -> None:
    """Open a dead letter for each record, or count one more attempt on its open letter.

    A record twice in `letters` counts two attempts and keeps the last one's reason, as
    parking it twice does.
    """
    if any(letter.record_id is None for letter in letters):  # not by id: one at a time
        for letter in letters:
            park_letter(conn, stream, letter.record_id, letter.reason, letter.record, None)
        return
    attempts: dict[str, int] = {}
    last: dict[str, Letter] = {}
    for letter in letters:
        key = str(letter.record_id)
        attempts[key] = attempts.get(key, 0) + 1
        last[key] = letter
    open_letters: dict[str, tuple[int, int]] = {}
    for batch in id_batches(list(last)):
        rows = conn.execute(
            sa.select(dead_letters.c.record_id, dead_letters.c.id, dead_letters.c.attempts).where(
                dead_letters.c.stream == stream,
                dead_letters.c.record_id.in_(batch),
                dead_letters.c.resolved_at.is_(None),
            )
        )
        open_letters.update((record_id, (id_, n)) for record_id, id_, n in rows)
    now = utc_now()
    new: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    again: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for record_id, letter in last.items():
        kept = letter.record is not None
        values = {
            "b_reason": ids_only(letter.reason)[:500],
            "b_debug_id": letter.debug_id,
            **({"b_record": letter.record} if kept else {}),
        }
        if record_id in open_letters:
            id_, before = open_letters[record_id]
            again[kept].append({**values, "b_id": id_, "b_attempts": before + attempts[record_id]})
        else:
            new[kept].append(
                {**values, "b_record_id": record_id, "b_at": now, "b_attempts": attempts[record_id]}
            )
    for kept in (True, False):
        if new[kept]:
            conn.execute(_insert(stream, kept), new[kept])
        if again[kept]:
            conn.execute(_UPDATE[kept], again[kept])


def _values(kept: bool) -> dict[str, Any]:
    """What a letter is written with; a letter parked without a record keeps none (NULL)."""
    values: dict[str, Any] = {
        "reason": sa.bindparam("b_reason"),
        "debug_id": sa.bindparam("b_debug_id"),
        "record": sa.null(),
    }
    if kept:  # kept again (read anew): no longer dropped
        values.update(
            record=sa.bindparam("b_record", type_=dead_letters.c.record.type),
            record_dropped_at=None,
        )
    return values


def _insert(stream: str, kept: bool) -> sa.Insert:
    return dead_letters.insert().values(
        stream=stream,
        record_id=sa.bindparam("b_record_id"),
        created_at=sa.bindparam("b_at", type_=dead_letters.c.created_at.type),
        attempts=sa.bindparam("b_attempts"),
        **_values(kept),
    )


_UPDATE = {
    kept: dead_letters.update()
    .where(dead_letters.c.id == sa.bindparam("b_id"))
    .values(attempts=sa.bindparam("b_attempts"), **_values(kept))
    for kept in (True, False)
}
