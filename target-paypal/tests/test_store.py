"""The store opens stores made by earlier versions, adding the columns added since."""

from __future__ import annotations

import sqlite3

import pytest

from target_paypal.store import Store, StoreError, Xref


def test_an_older_store_gains_new_columns_and_keeps_its_rows(tmp_path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the xrefs table as the first release made it
        db.execute(
            "CREATE TABLE xrefs (invoice_id VARCHAR(40) PRIMARY KEY, paypal_id VARCHAR(40), "
            "invoice_number VARCHAR(25), paypal_status VARCHAR(30), applied_hash VARCHAR(64), "
            "conflict VARCHAR(300), updated_at DATETIME)"
        )
        db.execute("INSERT INTO xrefs (invoice_id, paypal_id) VALUES ('1', 'INV2-A')")
    store = Store(f"sqlite:///{path}")
    assert store.xref("1") == Xref("1", "INV2-A", None, None, None, None, None)
    store.save_xref(Xref("2", "INV2-B", "CLK-2", "UNPAID", "h", None, owner="Physiotherapy"))
    assert store.xref("2").owner == "Physiotherapy"


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
