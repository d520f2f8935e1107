"""Cliniko reversals: the reversed invoice is cancelled, refunded or parked in PayPal.

Each reversal comes as a `reversals` record; its negative lines come as the mapper's rejects.
"""

from __future__ import annotations

import json
from decimal import Decimal

from target_harness import input_messages, paypal_by_reference, reject

from target_paypal.store import Store


def reversal(invoice_id: str, amount: str, n: int, paid: str = "refund", **more) -> dict:
    return {
        "reversal_id": f"9{n:017d}",
        "invoice_id": invoice_id,
        "amount": amount,
        "reversal_date": f"2026-10-{10 + n:02d}",
        "paid": paid,
        "refund_method": "BANK_TRANSFER",
        **more,
    }


def reversals_in(*records: dict) -> str:
    # The reversal's own lines were parked by the mapper (negative quantities) first.
    lines = [
        {**reject("invoice_items", f"{r['reversal_id']}1", reason="quantity is negative"),
         "invoice_id": r["reversal_id"]}
        for r in records
    ]
    return input_messages("rejects", "record_id", lines) + input_messages(
        "reversals", "reversal_id", list(records)
    )


def by_status(data, status: str) -> list[str]:
    return [i for i, h in sorted(data.invoices.items()) if h["target_status"] == status]


def test_reversals_cancel_refund_or_park_the_invoice_they_reverse(target, clinic) -> None:
    data = clinic(customers=4, invoices=20)
    assert target.run(data.messages()).returncode == 0
    sent, paid = by_status(data, "SENT"), by_status(data, "PAID")
    whole = data.expected_total
    records = [
        reversal(sent[0], str(whole(sent[0])), 1),  # unpaid, in full: cancelled
        reversal(sent[1], "1.00", 2),  # unpaid, in part: parked
        reversal(paid[0], "10.00", 3),  # paid, in part: a refund of 10.00
        reversal(paid[1], str(whole(paid[1])), 4, paid="park"),  # paid: parked by the rule
    ]
    target.sandbox.paypal.clear_call_log()
    done = target.run(reversals_in(*records))
    assert done.returncode == 0, done.stderr[-2000:]

    found = {i: c[0] for i, c in paypal_by_reference(target.sandbox).items()}
    assert found[sent[0]]["status"] == "CANCELLED"
    assert found[sent[1]]["status"] == "UNPAID"
    refunded = found[paid[0]]
    assert refunded["status"] == "PARTIALLY_REFUNDED"
    [refund] = refunded["refunds"]["transactions"]
    assert (refund["amount"]["value"], refund["refund_date"], refund["method"]) == (
        "10.00", "2026-10-13", "BANK_TRANSFER")
    assert found[paid[1]]["status"] == "MARKED_AS_PAID"
    written = {(w.method, w.path.split("/")[4]) for w in target.sandbox.paypal.writes()}
    assert {i for _, i in written} == {found[sent[0]]["id"], refunded["id"]}, written

    store = Store(target.config["store_url"])
    letters = {(x["record_id"], x["stream"]): x["reason"] for x in store.open_dead_letters()}
    assert set(letters) == {(sent[1], "invoices"), (paid[1], "invoices")}, letters
    assert "reversed in part" in letters[(sent[1], "invoices")]
    assert "invoices.reversals.paid" in letters[(paid[1], "invoices")]
    run = store.runs(limit=1)[0]
    assert run["counts"]["left_out"]["invoice_lines"] == {"skipped": 4}  # not parked

    # Run again with the same input: every refund is noted, nothing is written twice.
    target.sandbox.paypal.clear_call_log()
    assert target.run(reversals_in(*records)).returncode == 0
    assert not target.sandbox.paypal.writes()
    calls = target.sandbox.paypal.call_log
    assert not [c for c in calls if c.method != "GET" and "oauth2" not in c.path]
    assert len(paypal_by_reference(target.sandbox)[paid[0]][0]["refunds"]["transactions"]) == 1

    # A run with nothing new leaves the invoices parked by a reversal alone: no run can clear
    # them by itself, and retrying each on every run made a no-change rerun grow with them.
    target.sandbox.paypal.clear_call_log()
    again = target.run("")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Retrying" not in again.stderr
    assert "2 parked invoices wait for their invoice or its reversal" in again.stderr
    assert not [c for c in target.sandbox.paypal.call_log if "oauth2" not in c.path]
    assert set(store.run_invoice_outcomes(store.runs(limit=1)[0]["id"])) == set()


def test_a_refund_recorded_before_a_crash_is_adopted_not_repeated(target, clinic) -> None:
    data = clinic(customers=3, invoices=10)
    assert target.run(data.messages()).returncode == 0
    paid = by_status(data, "PAID")[0]
    total = str(data.expected_total(paid))
    [invoice] = paypal_by_reference(target.sandbox)[paid]
    # PayPal recorded the refund, then the target died before its store noted it.
    target.sandbox.paypal.record_refund(
        invoice["id"], {"method": "BANK_TRANSFER", "refund_date": "2026-10-11",
                        "amount": {"currency_code": "AUD", "value": total}})
    target.sandbox.paypal.clear_call_log()
    assert target.run(reversals_in(reversal(paid, total, 1))).returncode == 0
    tried = [c for c in target.sandbox.paypal.call_log if c.path.endswith("/refunds")]
    assert not tried, "the refund was recorded a second time (PayPal refuses it: a bug)"
    after = paypal_by_reference(target.sandbox)[paid][0]
    assert after["status"] == "MARKED_AS_REFUNDED"
    assert Store(target.config["store_url"]).open_dead_letters() == []  # no conflict either
    assert Decimal(after["refunds"]["refund_amount"]["value"]) == Decimal(total)


def test_a_dry_run_plans_the_refund_and_writes_nothing(target, clinic, tmp_path) -> None:
    data = clinic(customers=3, invoices=10)
    assert target.run(data.messages()).returncode == 0
    paid = by_status(data, "PAID")[0]
    target.sandbox.paypal.clear_call_log()
    plan_dir = tmp_path / "plan"
    done = target.run(
        reversals_in(reversal(paid, "5.00", 1)), dry_run=True, plan_dir=str(plan_dir)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not target.sandbox.paypal.writes()
    plan = json.loads((plan_dir / "plan.json").read_text())
    assert plan["operations"]["record_refund"]["count"] == 1
