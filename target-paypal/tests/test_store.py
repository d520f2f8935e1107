"""The store opens stores made by earlier versions, adding the columns added since."""

from __future__ import annotations

import sqlite3

from target_paypal.store import Store, Xref


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
