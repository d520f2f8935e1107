"""Void means void: an invoice closed, archived or deleted in Cliniko never stays payable.

Cliniko removes an invoice together with its items, so the void header arrives with its lines
deleted (or not at all): whatever arrived, and whoever its patient is, a sent invoice is
cancelled, a draft deleted, one never in PayPal skipped, and a paid one is a conflict.
"""

from __future__ import annotations

from target_harness import input_messages, reject

from target_paypal.store import Store


def removed(data, invoice_id: str) -> str:
    """The input after Cliniko removed the invoice with its items: void header, lines deleted."""
    data.invoices[invoice_id] = {**data.invoices[invoice_id], "target_status": "VOID"}
    for line in data.lines[invoice_id]:
        line["deleted"] = True
    return data.messages()


def first_of(data, status: str) -> str:
    return next(i for i, h in data.invoices.items() if h["target_status"] == status)


def open_letters(target) -> dict[str, str]:
    letters = Store(target.config["store_url"]).open_dead_letters("invoices")
    return {d["record_id"]: d["reason"] for d in letters}


def test_sent_and_draft_invoices_removed_in_cliniko_are_cancelled_and_deleted(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    assert target.run(data.messages()).returncode == 0
    sent, draft = first_of(data, "SENT"), first_of(data, "DRAFT")
    found = by_reference(target.sandbox)
    assert found[sent][0]["status"] == "UNPAID" and found[draft][0]["status"] == "DRAFT"
    draft_id = found[draft][0]["id"]

    removed(data, sent)
    done = target.run(removed(data, draft))

    assert done.returncode == 0, done.stderr[-3000:]
    after = by_reference(target.sandbox)
    assert [i["status"] for i in after[sent]] == ["CANCELLED"], "a removed invoice stays payable"
    assert draft not in after and target.sandbox.paypal.invoice(draft_id) is None, (
        "a removed draft was not deleted"
    )
    assert not {sent, draft} & set(open_letters(target)), open_letters(target)


def test_void_invoices_never_in_paypal_are_skipped_whoever_their_patient_is(
    target, clinic, by_reference
) -> None:
    """A void invoice of a parked patient, or one whose lines never came, is left out and
    counted skipped: not a dead letter, not an alert."""
    data = clinic(customers=4, invoices=10)
    void = [i for i, h in data.invoices.items() if h["target_status"] == "VOID"]
    parked_patient = data.invoices[void[0]]["customer_id"]
    data.customers.pop(parked_patient)
    for other in [i for i, h in data.invoices.items() if h["customer_id"] == parked_patient]:
        data.invoices[other]["target_status"] = "VOID"
        void.append(other)
    no_lines = first_of(data, "SENT")
    data.invoices[no_lines]["target_status"] = "VOID"
    data.lines[no_lines] = []  # removed with its items: none arrive
    void.append(no_lines)
    stdin = input_messages("rejects", "record_id", [reject("patients", parked_patient)])

    done = target.run(stdin + data.messages(), log_level="debug")  # a line per parked record

    assert done.returncode == 0, done.stderr[-3000:]
    assert not set(void) & set(by_reference(target.sandbox))
    assert not set(void) & set(open_letters(target)), "void invoices parked"
    outcomes = Store(target.config["store_url"]).run_invoice_outcomes(1)
    assert {outcomes[i] for i in void} == {"skipped"}, {i: outcomes[i] for i in void}
    assert "Parked invoice" not in done.stderr


def test_a_paid_invoice_removed_in_cliniko_is_a_conflict_kept_and_shown(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    assert target.run(data.messages()).returncode == 0
    paid = first_of(data, "PAID")
    paypal_id = by_reference(target.sandbox)[paid][0]["id"]

    done = target.run(removed(data, paid))

    assert done.returncode == 0, done.stderr[-3000:]
    assert target.sandbox.paypal.invoice(paypal_id)["status"] == "MARKED_AS_PAID"
    store = Store(target.config["store_url"])
    xref = {x.invoice_id: x for x in store.xrefs()}[paid]
    assert xref.conflict and "void in Cliniko" in xref.conflict, xref
    assert store.run_invoice_outcomes(2)[paid] == "conflict", "counted as unchanged"
    assert store.new_conflicts(2) == [(paid, "paid in PayPal but void in Cliniko")]
    assert "conflict 1" in done.stderr, done.stderr[-2000:]

    again = target.run(data.messages())  # nothing new in Cliniko: no new conflict
    assert again.returncode == 0 and store.new_conflicts(3) == []
