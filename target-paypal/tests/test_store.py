"""The store: opening stores old, corrupt or locked, and what each of its parts reads and writes.

What each part does, and an older store's upgrade, run on both backends (`[sqlite]` and
`[postgresql]`, the `store_url` fixture); a corrupt file and SQLite's own lock are SQLite's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from target_paypal.store import Store, StoreError, WebhookEvent, Xref
from target_paypal.store.directory import others_sharing
from target_paypal.store.schema import outcomes
from target_paypal.store.sql import upsert_row


def test_an_older_store_gains_new_columns_and_keeps_its_rows(store_url: str) -> None:
    old = sa.create_engine(store_url)
    timestamp = "DATETIME" if old.dialect.name == "sqlite" else "TIMESTAMP"
    with old.begin() as db:  # the xrefs table as the first release made it
        db.execute(
            sa.text(
                "CREATE TABLE xrefs (invoice_id VARCHAR(40) PRIMARY KEY, paypal_id VARCHAR(40), "
                "invoice_number VARCHAR(25), paypal_status VARCHAR(30), "
                f"applied_hash VARCHAR(64), conflict VARCHAR(300), updated_at {timestamp})"
            )
        )
        db.execute(sa.text("INSERT INTO xrefs (invoice_id, paypal_id) VALUES ('1', 'INV2-A')"))
    old.dispose()
    store = Store(store_url)
    assert store.xref("1") == Xref("1", "INV2-A", None, None, None, None, None)
    store.save_xref(Xref("2", "INV2-B", "CLK-2", "UNPAID", "h", None, owner="Physiotherapy"))
    assert store.xref("2").owner == "Physiotherapy"
    store.engine.dispose()


def test_a_corrupt_store_is_named_and_left_untouched(tmp_path) -> None:
    good = tmp_path / "good.db"
    store = Store(f"sqlite:///{good}")
    store.start_run()
    store.engine.dispose()  # checkpointed into the file itself
    garbage, truncated = tmp_path / "garbage.db", tmp_path / "truncated.db"
    garbage.write_bytes(b"\x00not sqlite\xff" * 300)
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (garbage, truncated):
        before = path.read_bytes()
        with pytest.raises(StoreError) as error:
            Store(f"sqlite:///{path}")
        assert f"the store {path} is corrupt" in str(error.value)
        assert "restore it from a backup" in str(error.value)
        assert path.read_bytes() == before


def test_a_locked_store_is_waited_for_then_refused(tmp_path) -> None:
    path = tmp_path / "store.db"
    Store(f"sqlite:///{path}").engine.dispose()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match=r"is locked by another process \(waited 0.2 s\)"):
            Store(f"sqlite:///{path}", lock_timeout_seconds=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    Store(f"sqlite:///{path}", lock_timeout_seconds=0.2).start_run()  # free again: it opens


# --- what each part of the store does, through Store's public methods ---------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A fresh store on each backend (SQLite file, PostgreSQL database)."""
    store = Store(store_url)
    yield store
    store.engine.dispose()


def customer(customer_id: str, email: str | None) -> dict:
    return {"customer_id": customer_id, "email": email}


def invoice(invoice_id: str, customer_id: str, practitioner_id: str | None = None) -> dict:
    return {
        "invoice_id": invoice_id,
        "customer_id": customer_id,
        "practitioner_id": practitioner_id,
    }


def clean(store: Store, *invoice_ids: str) -> None:
    """Mark invoices applied, as the applier does when it is done with one."""
    for invoice_id in invoice_ids:
        store.record_outcome(None, invoice_id, [], None, None, done=True)


def test_a_changed_customer_dirties_its_invoices_and_those_of_customers_sharing_its_email(
    store: Store,
) -> None:
    store.stage_customers([customer("1", "a@x.org"), customer("2", "A@x.org"), customer("3", None)])
    store.stage_invoices([invoice("10", "1"), invoice("20", "2"), invoice("30", "3")])
    assert store.dirty_invoice_ids() == ["10", "20", "30"]
    assert store.dirty_invoice_ids(among=["30", "10", "99"]) == ["10", "30"]
    shared = store.shared_emails()
    assert shared == {"1": ("1", "2"), "2": ("1", "2")}
    # One tuple per email, not a list of the others per patient: a plan manager's email shared
    # by 2,500 patients made 6 million references, 180 MB, at every pass (bench, 100k).
    assert shared["1"] is shared["2"]
    assert others_sharing(shared, "2") == ["1"] and others_sharing(shared, "3") == []
    clean(store, "10", "20", "30")
    store.stage_customers([customer("1", "a@x.org")])  # unchanged: nothing to redo
    assert store.dirty_invoice_ids() == []
    store.stage_customers([customer("1", "b@x.org")])  # leaves the shared email
    assert store.dirty_invoice_ids() == ["10", "20"]
    assert store.shared_emails() == {}


def test_lines_and_a_changed_owner_dirty_their_invoices(store: Store) -> None:
    store.stage_invoices([invoice("10", "1", "p1"), invoice("20", "1", "p2")])
    store.stage_practitioners([{"practitioner_id": "p1", "user_id": "u1"}])
    store.stage_practitioners([{"practitioner_id": "p2", "user_id": "u2"}])
    store.stage_owners([{"user_id": "u1", "owner": "Physio"}])
    clean(store, "10", "20")
    store.stage_lines([{"line_id": "l1", "invoice_id": "20"}])
    assert store.dirty_invoice_ids() == ["20"]
    clean(store, "20")
    store.stage_owners([{"user_id": "u1", "owner": "Physio"}])  # unchanged
    assert store.dirty_invoice_ids() == []
    store.stage_owners([{"user_id": "u1", "owner": "Massage"}])
    assert store.dirty_invoice_ids() == ["10"]
    store.stage_practitioners([{"practitioner_id": "p2", "user_id": "u1"}])
    assert store.dirty_invoice_ids() == ["10", "20"]
    assert store.invoice_inputs("20").owner == "Massage"


def test_invoice_inputs_reads_header_lines_customer_owner_and_xref(store: Store) -> None:
    store.stage_invoices([invoice("10", "1", "p1"), invoice("20", "2")])
    store.stage_lines(
        [{"line_id": "l1", "invoice_id": "10"}, {"line_id": "l2", "invoice_id": "10"}]
    )
    store.stage_customers([customer("1", "a@x.org")])
    store.save_xref(Xref("10", "INV2-A", "CLK-10", "UNPAID", "h", None))
    inputs = store.invoice_inputs("10")
    assert inputs.header == invoice("10", "1", "p1") and inputs.customer == customer("1", "a@x.org")
    assert sorted(line["line_id"] for line in inputs.lines) == ["l1", "l2"]
    assert inputs.owner is None and inputs.customer_left_out is None
    assert inputs.xref == Xref("10", "INV2-A", "CLK-10", "UNPAID", "h", None)
    store.skip("customers", "2", "no email")
    assert store.invoice_inputs("20").customer_left_out == ("skip", "no email")
    missing = store.invoice_inputs("99")
    assert missing.header is None and missing.lines == [] and missing.xref is None


def test_a_valid_record_supersedes_what_the_mapper_left_out_in_batches(store: Store) -> None:
    ids = [str(n) for n in range(1, 1201)]  # more than one IN (...) of ids
    for record_id in ids[::2]:
        store.park("rejects:patients", record_id, "no name", record={"id": record_id})
    for record_id in ids[1::2]:
        store.skip("customers", record_id, "filtered")
    assert store.open_dead_letter_count() == 600 and len(store.skipped_ids("customers")) == 600
    store.stage_customers([customer(record_id, None) for record_id in ids])
    assert store.open_dead_letter_count() == 0 and store.skipped_ids("customers") == set()
    store.stage_invoices([invoice(record_id, record_id) for record_id in ids])
    clean(store, *ids)
    store.mark_dirty(ids)
    assert len(store.dirty_invoice_ids()) == 1200


def test_a_parked_patient_is_what_keeps_its_invoice_out(store: Store) -> None:
    store.stage_invoices([invoice("10", "1")])
    store.park("rejects:patients", "1", "no name")
    assert store.invoice_inputs("10").customer_left_out == ("park", "no name")


def test_dead_letters_are_kept_once_per_record_then_resolved_or_discarded(store: Store) -> None:
    store.stage_invoices([invoice("10", "1")])
    store.park("invoices", "10", "PayPal said no", debug_id="d1")
    store.park("invoices", "10", "PayPal said no again", debug_id="d2")
    [letter] = store.open_dead_letters("invoices")
    assert (letter["attempts"], letter["reason"], letter["debug_id"]) == (
        2,
        "PayPal said no again",
        "d2",
    )
    assert store.open_dead_letter_ids("invoices") == ["10"]
    store.park("invoice_lines", "l1", "bad", record={"invoice_id": "10"})
    store.park("rejects:invoice_items", "l2", "bad", record={"invoice_id": 10})
    store.park("rejects:invoice_items", "l3", "bad", record={"invoice_id": "11"})
    assert store.parked_lines("10") == ["l1", "l2"]
    store.resolve("invoice_lines", "l1", "fixed")
    assert store.parked_lines("10") == ["l2"]
    store.discard(letter["id"], "not ours")
    assert store.open_dead_letter_ids("invoices") == [] and store.dirty_invoice_ids() == []
    [entry] = store.audit_log()
    assert entry["operation"] == "discard invoices" and entry["invoice_id"] == "10"
    assert entry["outcome"] == f"dead letter {letter['id']} (10): not ours"


def test_an_invoice_outcome_is_written_in_one_go(store: Store) -> None:
    run_id = store.start_run()
    store.stage_invoices([invoice("10", "1"), invoice("20", "1")])
    xref = Xref("10", "INV2-A", "CLK-10", "UNPAID", "h", None)
    entry = {"invoice_id": "10", "paypal_id": "INV2-A", "operation": "create", "http_status": 201}
    store.record_outcome(run_id, "10", [entry], xref, None, done=True, result="created")
    store.record_outcome(
        run_id, "20", [], None, ("PayPal is down", "d9"), done=False, result="parked", reason="down"
    )
    assert store.xref("10") == xref and store.xrefs() == [xref]
    assert [e["operation"] for e in store.audit_log(run_id)] == ["create"]
    assert store.run_invoice_outcomes(run_id) == {"10": "created", "20": "parked"}
    assert store.dirty_invoice_ids() == []
    assert [d["record_id"] for d in store.open_dead_letters()] == ["20"]
    store.record_outcome(run_id, "20", [], None, None, done=True, result="created")
    assert store.open_dead_letters() == []
    assert store.invoice_headers({"10", "99"}) == {"10": invoice("10", "1")}


def test_runs_count_outcomes_and_name_what_they_newly_parked(store: Store) -> None:
    store.park("invoices", "10", "old trouble")
    run_id = store.start_run()
    assert store.run(run_id)["status"] == "running"
    store.park("invoices", "20", "new trouble")
    store.park("rejects:patients", "7", "no name")
    for stream, record_id, outcome, reason in [
        ("invoices", "10", "parked", "old trouble"),
        ("invoices", "20", "parked", "new trouble"),
        ("customers", "7", "parked", "no name"),
        ("customers", "8", "skipped", "filtered"),
        ("invoices", "30", "created", None),
        ("invoices", "30", "updated", None),  # the last outcome counts
    ]:
        store.note_outcome(run_id, stream, record_id, outcome, reason)
    assert store.run_outcomes(run_id) == {
        "invoices": {"parked": 2, "updated": 1},
        "customers": {"parked": 1, "skipped": 1},
    }
    assert store.run_reasons(run_id, "skipped") == [("customers", "filtered", 1)]
    assert store.new_parked(run_id) == [
        ("customers", "7", "no name"),
        ("invoices", "20", "new trouble"),
    ]
    assert store.skipped_ids("customers") == {"8"}
    store.finish_run(run_id, "succeeded", {"created": 1})
    [run] = store.runs()
    assert (run["status"], run["counts"], run["finished_at"] is not None) == (
        "succeeded",
        {"created": 1},
        True,
    )
    assert store.run(run_id + 1) is None and store.new_parked(run_id + 1) == []


def test_outcomes_of_runs_long_past_are_forgotten(store: Store) -> None:
    first = store.start_run()
    store.note_outcome(first, "invoices", "10", "created", None)
    for _ in range(99):
        store.finish_run(store.start_run(), "succeeded", {})
    assert store.run_outcomes(first) == {"invoices": {"created": 1}}
    store.finish_run(store.start_run(), "succeeded", {})  # the 100th run after it
    assert store.run_outcomes(first) == {}
    assert len(store.runs(limit=1000)) == 101


def test_each_alert_is_noted_once(store: Store) -> None:
    assert not store.notified("run:1")
    store.note_notified("run:1", "run", 1, delivered=1, channels=2)
    store.note_notified("run:1", "run", 1, delivered=2, channels=2)
    assert store.notified("run:1")


def test_webhook_deliveries_are_recorded_once_and_only_newer_events_set_the_status(
    store: Store,
) -> None:
    store.stage_invoices([invoice("10", "1")])
    store.save_xref(Xref("10", "INV2-A", "CLK-10", "UNPAID", "h", None))

    def event(event_id: str, status: str, created_at: str) -> WebhookEvent:
        return WebhookEvent(event_id, "INVOICING.INVOICE.PAID", "INV2-A", status, created_at)

    seen: list[tuple] = []

    def hand_closed(status: str, xref: Xref, staged: dict | None) -> str | None:
        seen.append((status, xref.invoice_id, staged))
        return "paid in PayPal"

    paid = event("E1", "PAID", "2026-01-02T00:00:00Z")
    assert store.record_webhook("T1", paid, hand_closed) == "recorded"
    assert store.record_webhook("T1", paid, hand_closed) == "replayed"
    assert store.record_webhook("T2", paid, hand_closed) == "duplicate"
    assert (
        store.record_webhook("T3", event("E2", "PAID", "x"), hand_closed, keep=False) == "ignored"
    )
    assert seen == [("PAID", "10", invoice("10", "1"))]
    xref = store.xref("10")
    assert (xref.paypal_status, xref.conflict) == ("PAID", "paid in PayPal")
    older = event("E3", "UNPAID", "2026-01-01T00:00:00Z")
    assert store.record_webhook("T4", older, hand_closed) == "recorded"
    assert store.xref("10").paypal_status == "PAID"
    assert [(e["event_id"], e["invoice_id"]) for e in store.webhook_events()] == [
        ("E1", "10"),
        ("E3", "10"),
    ]


def test_upsert_row_inserts_then_replaces_by_a_composite_key(store: Store) -> None:
    keys = {"run_id": 1, "stream": "invoices", "record_id": "10"}
    with store.begin() as conn:
        upsert_row(conn, outcomes, keys, {"outcome": "parked", "reason": "down"})
        upsert_row(conn, outcomes, keys, {"outcome": "created", "reason": None})
        upsert_row(conn, outcomes, {**keys, "record_id": "20"}, {"outcome": "skipped"})
        rows = conn.execute(sa.select(outcomes).order_by(outcomes.c.record_id)).all()
    assert [tuple(r) for r in rows] == [
        (1, "invoices", "10", "created", None),
        (1, "invoices", "20", "skipped", None),
    ]
