"""Retention on both backends: a closed letter keeps no record, an open one keeps it for
`dead_letter_retention_days`, the audit log and runs for `audit_retention_days`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from paypal_ops.dead_letters import Selection, replay
from target_paypal.store import RetentionDays, Store
from target_paypal.store.schema import audit, dead_letters, outcomes, runs

PATIENT = {"customer_id": "7", "email": "ann@example.com", "given_name": "Ann"}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    yield store
    store.engine.dispose()


def kept(store: Store) -> dict[str, tuple[bool, bool]]:
    """Each letter's record id -> (its record is SQL NULL, it is open), read from the table."""
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(
                dead_letters.c.record_id,
                dead_letters.c.record.is_(None),
                dead_letters.c.resolved_at.is_(None),
            )
        ).all()
    return {record_id: (bool(gone), bool(is_open)) for record_id, gone, is_open in rows}


def days_ago(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


def test_closing_a_letter_drops_its_record(store: Store) -> None:
    for record_id in ("resolved", "discarded", "open"):
        store.park("customers", record_id, "email is not valid", record=PATIENT)
    store.park("rejects:invoice_items", "l1", "negative line", record={"line_id": "l1"})
    store.resolve("customers", "resolved", "fixed")
    [discard] = [d for d in store.open_dead_letters() if d["record_id"] == "discarded"]
    store.discard(discard["id"], "billed by hand")
    store.park("invoices", "applied", "breaks the contract", record={"invoice_id": "applied"})
    store.record_outcome(None, "applied", [], None, None, True, "created")
    store.stage_lines(
        [
            {
                "line_id": "l1",
                "invoice_id": "9",
                "name": "x",
                "quantity": "1",
                "unit_amount": "1.00",
                "tax_name": "GST",
                "tax_percent": "10",
            }
        ]
    )
    assert kept(store) == {
        "resolved": (True, False),
        "discarded": (True, False),
        "applied": (True, False),
        "open": (False, True),
        "l1": (True, False),
    }


def test_an_open_letter_loses_its_record_after_the_retention_and_replay_says_what_to_do(
    store: Store,
) -> None:
    store.park("customers", "old", "email is not valid", record=PATIENT)
    store.park("rejects:patients", "old-reject", "no usable email", record={"record_id": "x"})
    store.park("customers", "recent", "email is not valid", record=PATIENT)
    with store.begin() as conn:  # parked 91 days ago
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.record_id.in_(["old", "old-reject"]))
            .values(created_at=days_ago(91))
        )
    [preview] = [r for r in store.retention_preview(RetentionDays()) if "open" in r.what]
    assert preview.count == 2 and preview.oldest is not None
    assert kept(store)["old"] == (False, True), "a preview removes nothing"

    removed = store.apply_retention(RetentionDays(dead_letters=90))
    assert removed["dead_letter_records_expired"] == 2
    letters = {d["record_id"]: d for d in store.open_dead_letters()}
    assert set(letters) == {"old", "old-reject", "recent"}, "the letters stay"
    assert letters["old"]["record"] is None and letters["old"]["reason"] == "email is not valid"
    assert letters["old"]["record_dropped_at"] is not None
    assert letters["recent"]["record"] == PATIENT and letters["recent"]["record_dropped_at"] is None
    assert store.dropped_letter_count() == 2

    done = replay(store, Selection(every=True))
    assert sorted(done.dropped) == ["customers old", "rejects:patients old-reject"]
    assert done.restaged == ["customers recent"]
    assert {d["record_id"] for d in store.open_dead_letters()} == {"old", "old-reject"}

    # Cliniko's record read again and still failing: kept again, no longer marked dropped.
    store.park("customers", "old", "email is not valid", record=PATIENT)
    assert {d["record_id"]: d["record_dropped_at"] for d in store.open_dead_letters()}[
        "old"
    ] is None


def test_audit_runs_and_outcomes_past_the_retention_are_deleted(store: Store) -> None:
    old, new = store.start_run(), store.start_run()
    for run_id in (old, new):
        store.note_outcome(run_id, "invoices", f"i{run_id}", "created", None)
        store.record_outcome(
            run_id,
            f"i{run_id}",
            [{"invoice_id": f"i{run_id}", "operation": "create", "outcome": "created"}],
            None,
            None,
            True,
        )
    with store.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == old).values(started_at=days_ago(2558)))
        conn.execute(audit.update().where(audit.c.run_id == old).values(at=days_ago(2558)))
    preview = {
        r.table: r for r in store.retention_preview(RetentionDays()) if r.table != "dead_letters"
    }
    assert {t: r.count for t, r in preview.items()} == {"audit_log": 1, "outcomes": 1, "runs": 1}
    assert preview["runs"].oldest is not None and preview["runs"].oldest < days_ago(2557)

    removed = store.apply_retention(RetentionDays())
    assert (removed["audit_log"], removed["outcomes"], removed["runs"]) == (1, 1, 1)
    assert [r["id"] for r in store.runs()] == [new]
    assert [e["run_id"] for e in store.audit_log()] == [new]
    with store.begin() as conn:
        assert conn.execute(sa.select(outcomes.c.run_id)).scalars().all() == [new]
