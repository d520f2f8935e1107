"""A staged record keeps its content only while its invoice may still be written (issue 17).

Once an invoice is closed in PayPal the store keeps its IDs, amounts and statuses only, and a
customer with nothing left to write keeps its id and rule (target_paypal/store/kept.py). What
a later run must still do is checked through PayPal: a new invoice for that customer, a late
edit in Cliniko, a changed patient.
"""

from __future__ import annotations

from target_harness import TargetRunner

from target_paypal.store import Store, kept
from target_paypal.store.kept import is_kept

PERSONAL = ("email", "given_name", "surname", "phone", "address")


def stored(target: TargetRunner) -> tuple[dict, dict, dict]:
    """Customers, invoice headers and lines as the store holds them, by id."""
    store = Store(target.config["store_url"])
    with store.begin() as db:
        tables = [
            dict(db.exec_driver_sql(f"SELECT {key}, record FROM {table}").all())
            for table, key in (
                ("customers", "customer_id"),
                ("invoices", "invoice_id"),
                ("invoice_lines", "line_id"),
            )
        ]
    store.engine.dispose()
    return tuple(_parsed(t) for t in tables)  # type: ignore[return-value]


def _parsed(rows: dict) -> dict:
    import json

    return {k: json.loads(v) if isinstance(v, str) else v for k, v in rows.items()}


def closed_customers(data) -> set[str]:
    """Customers with a paid invoice and no other but paid (or void) ones."""
    mine: dict[str, set[str]] = {}
    for header in data.invoices.values():
        mine.setdefault(header["customer_id"], set()).add(header["target_status"])
    return {c for c, s in mine.items() if "PAID" in s and s <= {"PAID", "VOID"}}


def test_closed_invoices_keep_ids_only_and_a_new_invoice_still_gets_its_recipient(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=8, invoices=40, seed=3)
    assert target.run(data.messages()).returncode == 0
    customers, headers, lines = stored(target)
    for invoice_id, header in data.invoices.items():
        closed = header["target_status"] in ("PAID", "VOID")
        assert is_kept(headers[invoice_id]) == closed, invoice_id
        kept_lines = [lines[ln["line_id"]] for ln in data.lines[invoice_id]]
        assert all(is_kept(ln) == closed for ln in kept_lines), invoice_id
        if closed:
            assert "note" not in headers[invoice_id] and "memo" not in headers[invoice_id]
            assert not any("name" in ln for ln in kept_lines), "item names are dropped"
            assert headers[invoice_id]["total"] == header["total"], "amounts are kept"
    done_with = closed_customers(data)
    assert done_with, "the seed needs a customer whose invoices are all paid"
    for customer_id, record in customers.items():
        assert is_kept(record) == (customer_id in done_with), customer_id
        if customer_id in done_with:
            assert not set(PERSONAL) & set(record), record.keys()

    # A new invoice for a customer the store keeps the id of: PayPal gets their recipient.
    customer_id = sorted(done_with)[0]
    new_id, template = "299", data.invoices[next(iter(data.invoices))]
    data.invoices[new_id] = {
        **template,
        "invoice_id": new_id,
        "customer_id": customer_id,
        "invoice_number": "CLN-NEW-1",
        "target_status": "SENT",
        "payment_date": None,
        "payment_method": None,
        "line_count": 1,
        "total": "50.00",
    }
    data.lines[new_id] = [
        {
            "line_id": "2991",
            "invoice_id": new_id,
            "position": 0,
            "name": "Consultation",
            "quantity": "1",
            "unit_amount": "50.00",
            "tax_name": "GST-free",
            "tax_percent": "0",
        }
    ]
    done = target.run(data.messages(only={"invoices", "invoice_lines"}))
    assert done.returncode == 0, done.stderr[-3000:]
    sent = by_reference(target.sandbox)[new_id]
    assert len(sent) == 1 and sent[0]["status"] == "UNPAID", sent
    billing = sent[0]["primary_recipients"][0]["billing_info"]
    patient = data.customers[customer_id]
    assert billing["email_address"] == patient["email"]
    assert billing["name"] == {"given_name": patient["given_name"], "surname": patient["surname"]}
    assert billing["address"]["address_line_1"] == patient["address"]["address_line_1"]
    assert billing["phones"][0]["national_number"] == patient["phone"]["national_number"]


def test_a_late_edit_or_the_same_input_again_writes_nothing_and_keeps_nothing(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=6, invoices=30, seed=5)
    assert target.run(data.messages()).returncode == 0
    paid = next(i for i, h in data.invoices.items() if h["target_status"] == "PAID")
    before = by_reference(target.sandbox)[paid][0]
    target.sandbox.paypal.clear_call_log()
    assert target.run(data.messages()).returncode == 0  # everything again, unchanged
    assert target.sandbox.paypal.writes() == []
    data.invoices[paid]["note"] = "Edited in Cliniko after it was paid"
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    assert target.sandbox.paypal.writes() == [], "a paid invoice is never written again"
    after = by_reference(target.sandbox)[paid][0]
    assert after == before
    _, headers, _ = stored(target)
    assert is_kept(headers[paid]) and "note" not in headers[paid], "cut down again"
    store = Store(target.config["store_url"])
    assert store.xref(paid).conflict is None and store.xref(paid).paypal_status == before["status"]
    store.engine.dispose()


def test_a_patient_changed_after_their_invoices_closed_is_kept_until_the_next_invoice(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=8, invoices=40, seed=3)
    assert target.run(data.messages()).returncode == 0
    customer_id = sorted(closed_customers(data))[0]
    data.customers[customer_id]["email"] = "moved@example.com"
    assert target.run(data.messages(only={"customers"})).returncode == 0
    customers, _, _ = stored(target)
    assert customers[customer_id]["email"] == "moved@example.com", "PayPal does not hold it yet"
    new_id = "298"
    data.invoices[new_id] = {
        **data.invoices[next(iter(data.invoices))],
        "invoice_id": new_id,
        "customer_id": customer_id,
        "invoice_number": "CLN-NEW-2",
        "target_status": "PAID",
        "payment_date": "2026-10-01",
        "payment_method": "CASH",
        "line_count": 1,
        "total": "40.00",
    }
    data.lines[new_id] = [
        {
            "line_id": "2981",
            "invoice_id": new_id,
            "position": 0,
            "name": "Consultation",
            "quantity": "1",
            "unit_amount": "40.00",
            "tax_name": "GST-free",
            "tax_percent": "0",
        }
    ]
    assert target.run(data.messages(only={"invoices", "invoice_lines"})).returncode == 0
    sent = by_reference(target.sandbox)[new_id][0]
    assert sent["primary_recipients"][0]["billing_info"]["email_address"] == "moved@example.com"
    customers, _, _ = stored(target)
    assert is_kept(customers[customer_id]), "PayPal holds the new recipient: cut down"


def test_customers_done_with_are_cut_down_a_batch_at_a_time(target, clinic, monkeypatch) -> None:
    """Their records are read a batch at a time (issue 19: all at once was the target's peak
    memory at 100,000 invoices); every batch is cut, and only customers done with."""
    data = clinic(customers=30, invoices=60, seed=3)
    assert target.run(data.messages()).returncode == 0
    done_with = closed_customers(data)
    assert len(done_with) >= 2, "the seed needs two customers whose invoices are all paid"
    store = Store(target.config["store_url"])
    with store.begin() as db:
        db.exec_driver_sql("UPDATE customers SET stripped_at = NULL")
    monkeypatch.setattr(kept, "IDS_PER_STATEMENT", 1)
    assert store.strip_closed() == len(done_with)
    with store.begin() as db:
        rows = db.exec_driver_sql("SELECT customer_id, stripped_at FROM customers").all()
    store.engine.dispose()
    assert {customer_id for customer_id, at in rows if at is not None} == done_with


def test_a_records_content_hash_is_the_same_as_it_came_and_as_the_store_reads_it() -> None:
    """The input has Decimals and the store numbers; NaN and a lone surrogate are read back by
    `json` (msgspec refuses them). One hash for all, so an unchanged record stays unchanged."""
    from decimal import Decimal

    from target_paypal.store.engine import from_json, to_json
    from target_paypal.store.kept import content_of

    came = {
        "invoice_id": "1",
        "total": Decimal("55.0"),
        "line_count": Decimal("2"),
        "amounts": [Decimal("1E+5"), Decimal("1.10")],
        "odd": float("nan"),
        "given_name": "Jo \ud83d",
        "nested": {"b": None, "a": "x"},
    }
    stored = from_json(to_json(came))
    assert stored["total"] == 55.0 and stored["line_count"] == 2
    assert stored["given_name"] == came["given_name"]
    assert content_of(came) == content_of(stored)
