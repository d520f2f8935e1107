"""Many clinics in one store, under concurrency: isolation, one run per clinic, no races.

Each test runs on SQLite and on a real PostgreSQL (the sandbox plugin's `store_url` fixture);
the deadlock tests need PostgreSQL's own deadlock detector.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from target_paypal.store import Store, StoreError, Xref
from target_paypal.store.conflicts import CONFLICT_TRIES, retry_conflicts
from target_paypal.store.schema import customers, invoices, outcomes
from target_paypal.store.sql import upsert_row, utc_now


def invoice(invoice_id: str, customer_id: str, note: str) -> dict:
    return {"invoice_id": invoice_id, "customer_id": customer_id, "note": note}


def test_each_clinic_reads_and_writes_only_its_own_records(store_url) -> None:
    north, south = Store(store_url, clinic="north"), Store(store_url, clinic="south")
    north.stage_invoices([invoice("1", "10", "north's"), invoice("2", "10", "north's")])
    south.stage_invoices([invoice("1", "20", "south's")])
    south.save_xref(Xref("1", "INV2-SOUTH", "S-1", "UNPAID", "h", None))

    assert north.dirty_invoice_ids() == ["1", "2"]
    assert south.dirty_invoice_ids() == ["1"]
    assert north.invoice_headers({"1"})["1"]["note"] == "north's"
    assert south.invoice_inputs("1").header["note"] == "south's"
    assert north.xref("1") is None, "north read south's cross-reference"
    # North marking "its" invoice 1 clean, parked or dirty leaves south's invoice 1 alone.
    north.record_outcome(None, "1", [], None, ("refused", None), done=False)
    assert south.dirty_invoice_ids() == ["1"] and south.open_dead_letter_ids("invoices") == []
    # The store without a clinic is a third, separate one.
    assert Store(store_url).dirty_invoice_ids() == []


def test_a_second_run_of_a_clinic_is_refused_until_the_first_ends(store_url) -> None:
    first = Store(store_url, clinic="north")
    first.hold_run_lock()
    with pytest.raises(StoreError) as refused:
        Store(store_url, clinic="north").hold_run_lock()
    line = str(refused.value)
    assert line.startswith("another run of clinic north has held the store since 20"), line
    assert "nothing was written" in line and "\n" not in line
    Store(store_url, clinic="south").hold_run_lock()  # another clinic goes on side by side
    first.release_run_lock()
    Store(store_url, clinic="north").hold_run_lock()


HOLDER = """
import sys, time
from target_paypal.store import Store
store = Store(sys.argv[1], clinic="north")
store.hold_run_lock()
print("held", flush=True)
time.sleep(600)
"""


def test_the_run_lock_dies_with_a_killed_process(store_url) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="another run of clinic north"):
            Store(store_url, clinic="north").hold_run_lock()
    finally:
        holder.kill()
        holder.wait()
    # PostgreSQL ends the killed session as soon as it reads the closed socket: wait for that
    # (a state, with a deadline), then the lock is free.
    deadline, store = time.monotonic() + 30, Store(store_url, clinic="north")
    while True:
        try:
            store.hold_run_lock()
            break
        except StoreError:
            if time.monotonic() > deadline:
                raise


def test_writers_of_the_same_rows_at_once_never_collide(store_url) -> None:
    store = Store(store_url, clinic="north")
    run_id = store.start_run()

    def write(worker: int) -> None:
        for n in range(30):
            store.note_outcome(run_id, "invoices", str(n), "updated", f"worker {worker}")
            store.save_xref(Xref(str(n), f"INV2-{n}", f"N-{n}", "UNPAID", str(worker), None))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write, range(6)))  # re-raises any worker's error
    assert store.run_outcomes(run_id) == {"invoices": {"updated": 30}}
    assert len(store.xrefs()) == 30


def test_many_processes_opening_a_fresh_database_at_once_all_succeed(postgres_url) -> None:
    opener = (
        "import sys; from target_paypal.store import Store; Store(sys.argv[1], clinic=sys.argv[2])"
    )
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", opener, postgres_url, f"clinic{n % 3}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    failures = [p.communicate()[1] for p in starts if p.wait() != 0]
    assert not failures, failures[0]


class Racing(Store):
    """Two transactions that lock two invoices in opposite orders: a true deadlock."""

    @retry_conflicts
    def lock_both(self, first: str, second: str, meet: threading.Barrier) -> None:
        with self.begin() as conn:
            conn.execute(invoices.update().where(invoices.c.invoice_id == first).values(dirty=True))
            with contextlib.suppress(threading.BrokenBarrierError):
                meet.wait(timeout=10)  # both hold their first row now (a retry does not wait)
            conn.execute(
                invoices.update().where(invoices.c.invoice_id == second).values(dirty=True)
            )
            meet.abort()  # a retry never waits again


def test_a_deadlock_is_rolled_back_logged_and_tried_again(postgres_url, caplog) -> None:
    store = Racing(postgres_url, clinic="north")
    store.stage_invoices([invoice("1", "10", ""), invoice("2", "10", "")])
    meet = threading.Barrier(2)
    with caplog.at_level(logging.WARNING, logger="target-paypal"), ThreadPoolExecutor(2) as pool:
        done = [
            pool.submit(store.lock_both, "1", "2", meet),
            pool.submit(store.lock_both, "2", "1", meet),
        ]
        for future in done:
            future.result()  # neither failed: the victim was run again
    retried = [r.getMessage() for r in caplog.records if "deadlock" in r.getMessage()]
    assert retried == ["Store deadlock in lock_both: rolled back, trying again (2 of 5)"]


def test_a_conflict_that_never_clears_fails_after_the_bounded_tries(postgres_url) -> None:
    calls = []

    class AlwaysAborted(Store):
        @retry_conflicts
        def abort(self) -> None:
            calls.append(1)
            with self.begin() as conn:  # PostgreSQL's own serialization failure, raised for real
                conn.execute(
                    sa.text("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$")
                )

    with pytest.raises(sa.exc.DBAPIError, match="40001|x"):
        AlwaysAborted(postgres_url).abort()
    assert len(calls) == CONFLICT_TRIES


def test_the_upsert_replaces_the_row_with_the_same_key(store_url) -> None:
    store = Store(store_url)
    run_id = store.start_run()
    with store.begin() as conn:
        for outcome in ("created", "updated", "parked"):
            upsert_row(
                conn,
                outcomes,
                {"run_id": run_id, "stream": "invoices", "record_id": "7"},
                {"outcome": outcome, "reason": None},
            )
        rows = conn.execute(sa.select(outcomes.c.outcome)).scalars().all()
    assert rows == ["parked"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+pg8000://u@127.0.0.1/db", "needs the database driver 'pg8000'"),
        ("not a url", "is not a database URL"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/db", "cannot be used (connection failed"),
    ],
)
def test_a_store_that_cannot_be_opened_says_why_in_one_line(url, says) -> None:
    with pytest.raises(StoreError) as error:
        Store(url)
    assert says in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_a_clinic_name_that_cannot_be_a_schema_is_refused(tmp_path) -> None:
    with pytest.raises(StoreError, match="clinic 'North Side' is not a valid clinic name"):
        Store(f"sqlite:///{tmp_path}/store.db", clinic="North Side")


def test_a_database_error_never_shows_the_record_it_was_writing(store_url) -> None:
    store = Store(store_url)
    row = {
        "customer_id": "1",
        "email": "jane.citizen@example.com",
        "record": {"given_name": "Jane"},
    }
    with store.begin() as conn:
        conn.execute(customers.insert(), {**row, "staged_at": utc_now()})
    with pytest.raises(sa.exc.IntegrityError) as error, store.begin() as conn:
        conn.execute(customers.insert(), {**row, "staged_at": utc_now()})  # the same key again
    assert "jane" not in str(error.value).lower(), str(error.value)
