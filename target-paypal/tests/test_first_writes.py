"""An invoice no PayPal write ever went out for is created without a search first; one that may
be in PayPal is looked up before anything is written (store/first_writes.py)."""

from __future__ import annotations

import sqlalchemy as sa

from target_paypal.store import Store, Xref

SEARCH = "/v2/invoicing/search-invoices"
CREATE = "/v2/invoicing/invoices"


def calls(sandbox, method: str, path: str | None = None) -> list:
    return [
        c
        for c in sandbox.paypal.call_log
        if c.method == method and (path is None or c.path == path)
    ]


def test_a_first_run_into_an_empty_account_searches_only_for_voids(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=10, invoices=40, seed=3)
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    expected = {i for i in data.invoices if data.expected_status(i)}
    assert set(held) == expected and all(len(copies) == 1 for copies in held.values())
    voids = [i for i, h in data.invoices.items() if h["target_status"] == "VOID"]
    # A void one is always looked up: were it in PayPal after all, it must not stay payable.
    assert voids and len(calls(target.sandbox, "POST", SEARCH)) == len(voids)
    # A paid one is created, sent and paid from PayPal's own copy: nothing read in between.
    # The one read is the store's first look at the account (is it empty?).
    paid = [i for i in expected if data.expected_status(i) == "MARKED_AS_PAID"]
    assert paid and [c.path for c in calls(target.sandbox, "GET")] == [CREATE]


def test_a_new_store_beside_an_account_holding_our_invoices_looks_each_up(
    target, clinic, by_reference, tmp_path
) -> None:
    """A store lost and made anew: every invoice is found in PayPal, none created again (not
    even refused for its number)."""
    data = clinic(customers=10, invoices=30, seed=4)
    assert target.run(data.messages()).returncode == 0
    target.sandbox.paypal.clear_call_log()
    done = target.run(data.messages(), store_url=f"sqlite:///{tmp_path / 'anew.db'}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert calls(target.sandbox, "POST", CREATE) == []
    assert target.sandbox.paypal.writes() == []
    assert len(calls(target.sandbox, "POST", SEARCH)) >= len(
        [i for i in data.invoices if data.expected_status(i)]
    )
    assert all(len(copies) == 1 for copies in by_reference(target.sandbox).values())


def test_a_chunk_is_touched_before_any_write_and_an_older_stores_invoices_count_as_touched(
    store_url: str,
) -> None:
    store = Store(store_url)
    store.stage_customers([{"customer_id": "C1", "email": "c1@example.com"}])
    store.stage_invoices([{"invoice_id": str(n), "customer_id": "C1"} for n in (1, 2)])
    assert all(i.untouched for i in store.invoice_inputs_many(["1", "2"]).values())
    store.mark_touched(["1"])
    inputs = store.invoice_inputs_many(["1", "2"])
    assert not inputs["1"].untouched and inputs["2"].untouched
    with store.engine.begin() as db:  # as a store made before the column was
        db.execute(sa.text("ALTER TABLE invoices DROP COLUMN paypal_touched_at"))
    store.engine.dispose()
    upgraded = Store(store_url)
    assert not any(i.untouched for i in upgraded.invoice_inputs_many(["1", "2"]).values())
    upgraded.engine.dispose()


def test_only_a_store_that_saw_its_account_empty_or_that_has_written_before_sees_every_write(
    store_url: str,
) -> None:
    asked: list[bool] = []

    def account(empty: bool):
        def is_empty() -> bool:
            asked.append(empty)
            return empty

        return is_empty

    store = Store(store_url)
    assert store.sees_every_write(account(False)) is False
    assert store.sees_every_write(account(True)) is False, "decided once, when first asked"
    assert asked == [False]
    store.engine.dispose()


def test_a_store_that_has_written_before_sees_every_write_without_asking(store_url: str) -> None:
    """An older store, written by this sync before the column was: it has been the writer."""
    store = Store(store_url)
    store.save_xref(Xref("1", "INV2-A", "CLN-1", "UNPAID", "h", None))

    def never_asked() -> bool:
        raise AssertionError("PayPal asked although the store has written before")

    assert store.sees_every_write(never_asked) is True
    store.engine.dispose()


def test_when_paypal_does_not_say_whether_the_account_is_empty_it_is_asked_again(
    store_url: str,
) -> None:
    store = Store(store_url)
    assert store.sees_every_write(lambda: None) is False  # every invoice looked up, this run
    assert store.sees_every_write(lambda: True) is True
    store.engine.dispose()
