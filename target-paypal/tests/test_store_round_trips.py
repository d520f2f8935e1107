"""The store's round trips: staging, reading and recording invoices take a few statements per
batch, however many invoices it holds, and parking in bulk writes what parking one by one does.

Counted with SQLAlchemy's `before_cursor_execute` event (an executemany is one), on both
backends; a statement per invoice creeping back in fails here, without timing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from target_paypal.store import Store, Xref
from target_paypal.store.dead_letters import park_letter
from target_paypal.store.parking import Letter, park_letters
from target_paypal.store.runs import InvoiceOutcome
from target_paypal.store.schema import dead_letters, invoices, outcomes, xrefs
from target_paypal.store.staging import LeftOut


@contextmanager
def counted(store: Store) -> Iterator[Callable[[], int]]:
    """Count the statements the store sends to the database inside the block."""
    sent: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        sent.append(statement)

    engine = store.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield lambda: len(sent)
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def clinic_input(n: int) -> tuple[list[dict], list[dict], list[dict]]:
    customers = [{"customer_id": f"c{i}", "email": f"p{i}@example.com"} for i in range(n)]
    headers = [
        {"invoice_id": f"i{i}", "customer_id": f"c{i}", "practitioner_id": f"pr{i % 3}"}
        for i in range(n)
    ]
    lines = [
        {"line_id": f"i{i}-{k}", "invoice_id": f"i{i}", "name": "Consult"}
        for i in range(n)
        for k in range(2)
    ]
    return customers, headers, lines


def outcomes_of(n: int) -> list[InvoiceOutcome]:
    """Created, parked, skipped and waiting in turn, as a run's invoices end."""
    made = []
    for i in range(n):
        invoice_id, kind = f"i{i}", i % 4
        xref = Xref(invoice_id, f"INV2-{i}", f"N-{i}", "UNPAID", "h", None, "Physio")
        if kind == 0:
            audit = [{"invoice_id": invoice_id, "paypal_id": f"INV2-{i}", "operation": "create"}]
            made.append(
                InvoiceOutcome(
                    invoice_id, audit, xref, None, True, "created", carries=(f"c{i}", f"INV2-{i}")
                )
            )
        elif kind == 1:
            made.append(InvoiceOutcome(invoice_id, [], None, ("refused", "D1"), False, "parked"))
        elif kind == 2:
            made.append(InvoiceOutcome(invoice_id, [], xref, None, True, "skipped", "void"))
        else:
            made.append(InvoiceOutcome(invoice_id, [], None, None, False, None, "waiting"))
    return made


def statements_for(store_url: str, clinic: str, n: int) -> dict[str, int]:
    """Statements each step of a run takes for `n` invoices, on a fresh clinic's store."""
    store = Store(store_url, clinic=clinic)
    customers, headers, lines = clinic_input(n)
    run_id = store.start_run()
    steps = {
        "stage customers": lambda: store.stage_customers(customers),
        "stage invoices": lambda: store.stage_invoices(headers),
        "stage lines": lambda: store.stage_lines(lines),
        "stage rejects": lambda: store.stage_left_out(
            run_id,
            [LeftOut("customers", f"x{i}", "no email", "rejects:patients", {}) for i in range(n)]
            + [LeftOut("invoices", f"y{i}", "a rule") for i in range(n)],
        ),
        "read inputs": lambda: store.invoice_inputs_many([h["invoice_id"] for h in headers]),
        "record outcomes": lambda: store.record_outcomes(run_id, outcomes_of(n)),
        "record them again": lambda: store.record_outcomes(run_id, outcomes_of(n)),
    }
    counts = {}
    for step, run in steps.items():
        with counted(store) as sent:
            run()
        counts[step] = sent()
    store.engine.dispose()
    return counts


def test_a_run_takes_the_same_statements_for_8_invoices_as_for_80(store_url) -> None:
    few, many = statements_for(store_url, "few", 8), statements_for(store_url, "many", 80)
    assert few == many
    assert max(many.values()) <= 12, many


def test_recording_outcomes_in_bulk_writes_each_invoices_outcome(store_url) -> None:
    store = Store(store_url)
    customers, headers, lines = clinic_input(8)
    store.stage_customers(customers)
    store.stage_invoices(headers)
    run_id = store.start_run()
    store.record_outcomes(run_id, outcomes_of(8))
    with store.begin() as conn:
        dirty = set(
            conn.execute(sa.select(invoices.c.invoice_id).where(invoices.c.dirty)).scalars()
        )
        noted = dict(conn.execute(sa.select(outcomes.c.record_id, outcomes.c.outcome)).all())
        linked = set(conn.execute(sa.select(xrefs.c.invoice_id)).scalars())
    assert dirty == {"i3", "i7"}  # still waiting; the parked ones are not dirty any more
    assert noted == {
        **{f"i{i}": "created" for i in (0, 4)},
        **{f"i{i}": "parked" for i in (1, 5)},
        **{f"i{i}": "skipped" for i in (2, 6)},
    }
    assert linked == {"i0", "i2", "i4", "i6"}
    assert [e["operation"] for e in store.audit_log(run_id)] == ["create", "create"]
    assert [(d["record_id"], d["attempts"]) for d in store.open_dead_letters("invoices")] == [
        ("i1", 1),
        ("i5", 1),
    ]
    assert store.invoice_inputs("i0").recipient_in == "INV2-0"  # carries: it holds the recipient
    store.engine.dispose()


LETTERS = [
    Letter("a", "again: PayPal refused it", None, "D1"),
    Letter("b", "parked anew", {"y": 2}),
    Letter("c", "first", None),
    Letter("c", "second, to patient@example.com", {"z": 3}, "D2"),
    Letter("d", "its record was dropped", None),
]


@pytest.mark.parametrize("how", ["one by one", "in bulk"])
def test_parking_in_bulk_writes_what_parking_one_by_one_writes(store_url, how) -> None:
    store = Store(store_url)
    store.park("invoices", "a", "first time", record={"x": 1})
    store.park("invoices", "b", "long ago", record={"x": 2})
    store.resolve("invoices", "b", "applied")
    store.park("invoices", "d", "kept", record={"x": 4})
    with store.begin() as conn:
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.record_id == "d")
            .values(record=sa.null(), record_dropped_at=sa.func.now())
        )
        if how == "in bulk":
            park_letters(conn, "invoices", LETTERS)
        else:
            for letter in LETTERS:
                park_letter(
                    conn, "invoices", letter.record_id, letter.reason, letter.record,
                    letter.debug_id,
                )  # fmt: skip
        rows = conn.execute(
            sa.select(
                dead_letters.c.record_id,
                dead_letters.c.reason,
                dead_letters.c.debug_id,
                dead_letters.c.record,
                dead_letters.c.attempts,
                dead_letters.c.resolved_at.is_(None),
                dead_letters.c.record_dropped_at.is_(None),
            ).order_by(dead_letters.c.record_id, dead_letters.c.id)
        ).all()
    store.engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("a", "again: PayPal refused it", "D1", None, 2, True, True),
        ("b", "long ago", None, None, 1, False, True),
        ("b", "parked anew", None, {"y": 2}, 1, True, True),
        ("c", "second, to <email>", "D2", {"z": 3}, 2, True, True),
        ("d", "its record was dropped", None, None, 2, True, False),
    ]
