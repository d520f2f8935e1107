"""Invoices a rule holds for approval: PayPal drafts until a person approves them.

The mapper marks a held invoice with `approval` {rule, basis, alert_after_days}; here the input
carries it directly, and each test checks what PayPal (the sandbox) and the store hold after each
run: the draft, the queue, the decision in the audit log, the invoice sent or paid once approved,
a rejected draft deleted, and the queue entered again only when the rule's reason changes.
"""

from __future__ import annotations

from target_paypal.apply_now import apply_now
from target_paypal.client import PayPalClient
from target_paypal.store import Store

RULE = "over $1,000"
BASIS = "a" * 64
OTHER_BASIS = "b" * 64


def held(header: dict, basis: str = BASIS, rule: str = RULE) -> dict:
    return {**header, "approval": {"rule": rule, "basis": basis, "alert_after_days": 3}}


def first_of(data, status: str) -> str:
    return next(i for i, h in data.invoices.items() if h["target_status"] == status)


def store_of(target) -> Store:
    return Store(target.config["store_url"])


def paypal_of(target, by_reference, invoice_id: str) -> list[dict]:
    return by_reference(target.sandbox).get(invoice_id, [])


def outcomes_of_last_run(store: Store) -> dict[str, str]:
    return store.run_invoice_outcomes(store.runs(limit=1)[0]["id"])


def test_a_held_invoice_is_a_complete_draft_in_the_queue_until_approved_then_sent(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    invoice_id = first_of(data, "SENT")
    data.invoices[invoice_id] = held(data.invoices[invoice_id])

    first = target.run(data.messages())

    assert first.returncode == 0, first.stderr[-3000:]
    [draft] = paypal_of(target, by_reference, invoice_id)
    assert draft["status"] == "DRAFT", "a held invoice was sent before approval"
    assert draft["amount"]["value"] == str(data.expected_total(invoice_id)), "draft incomplete"
    store = store_of(target)
    [waiting] = store.approval_queue()
    assert (waiting.invoice_id, waiting.rule, waiting.paypal_id) == (
        invoice_id,
        RULE,
        draft["id"],
    )
    assert waiting.invoice_number == data.invoices[invoice_id]["invoice_number"]
    assert outcomes_of_last_run(store)[invoice_id] == "held"
    others = [
        i for i, h in data.invoices.items() if h["target_status"] == "SENT" and i != invoice_id
    ]
    assert all(paypal_of(target, by_reference, i)[0]["status"] == "UNPAID" for i in others)

    again = target.run(data.messages())  # a rerun keeps it a draft, still waiting
    assert again.returncode == 0, again.stderr[-3000:]
    assert paypal_of(target, by_reference, invoice_id)[0]["status"] == "DRAFT"
    assert [a.invoice_id for a in store.approval_queue()] == [invoice_id]

    assert store.approve([invoice_id], by="ana") == [invoice_id]
    assert store.approval_queue() == []
    after = target.run(data.messages())

    assert after.returncode == 0, after.stderr[-3000:]
    [sent] = paypal_of(target, by_reference, invoice_id)
    assert (sent["id"], sent["status"]) == (draft["id"], "UNPAID"), "approved but not sent"
    entries = [e for e in store.audit_log() if e["invoice_id"] == invoice_id]
    assert [e["operation"] for e in entries] == ["create", "hold", "approve", "send"]
    assert entries[2]["outcome"] == "approved by ana"


def test_an_approved_invoice_cliniko_says_is_paid_is_sent_and_marked_paid(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    invoice_id = first_of(data, "PAID")
    data.invoices[invoice_id] = held(data.invoices[invoice_id])
    assert target.run(data.messages()).returncode == 0
    [draft] = paypal_of(target, by_reference, invoice_id)
    assert draft["status"] == "DRAFT" and not draft.get("payments"), "paid before approval"

    store_of(target).approve([invoice_id], by="ana")
    assert target.run(data.messages()).returncode == 0

    [paid] = paypal_of(target, by_reference, invoice_id)
    assert paid["status"] == "MARKED_AS_PAID"
    assert paid["payments"]["paid_amount"]["value"] == str(data.expected_total(invoice_id))


def test_a_rejected_draft_is_deleted_and_stays_out_until_the_invoice_changes(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    invoice_id = first_of(data, "SENT")
    data.invoices[invoice_id] = held(data.invoices[invoice_id])
    assert target.run(data.messages()).returncode == 0
    [draft] = paypal_of(target, by_reference, invoice_id)
    store = store_of(target)

    assert store.reject(invoice_id, by="ben", why="wrong payer")
    assert target.run(data.messages()).returncode == 0

    assert paypal_of(target, by_reference, invoice_id) == []
    assert target.sandbox.paypal.invoice(draft["id"]) is None, "the rejected draft was not deleted"
    assert outcomes_of_last_run(store)[invoice_id] == "skipped"
    assert store.open_dead_letters("invoices") == [], "a rejection is not a dead letter"
    assert target.run(data.messages()).returncode == 0  # the same invoice again: stays out
    assert paypal_of(target, by_reference, invoice_id) == []
    audit = [e for e in store.audit_log() if e["invoice_id"] == invoice_id]
    assert ("reject", "rejected by ben: wrong payer") in [
        (e["operation"], e["outcome"]) for e in audit
    ]

    data.invoices[invoice_id]["note"] = "Corrected in Cliniko"  # changed in Cliniko
    assert target.run(data.messages()).returncode == 0

    [new_draft] = paypal_of(target, by_reference, invoice_id)
    assert new_draft["status"] == "DRAFT"
    assert [a.invoice_id for a in store.approval_queue()] == [invoice_id]


def test_a_change_the_rule_reads_sends_it_back_to_the_queue_an_unrelated_one_does_not(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    first, second = [i for i, h in data.invoices.items() if h["target_status"] == "SENT"][:2]
    for invoice_id in (first, second):
        data.invoices[invoice_id] = held(data.invoices[invoice_id])
    assert target.run(data.messages()).returncode == 0
    store = store_of(target)
    store.approve([first, second], by="ana")
    assert target.run(data.messages()).returncode == 0
    assert {i: paypal_of(target, by_reference, i)[0]["status"] for i in (first, second)} == {
        first: "UNPAID",
        second: "UNPAID",
    }

    # Unrelated: the note changes, the rule's basis does not. Re-triggered: the basis changes.
    data.invoices[first]["note"] = "A new note"
    data.invoices[second] = held(data.invoices[second], basis=OTHER_BASIS)
    data.invoices[second]["note"] = "A new note"
    assert target.run(data.messages()).returncode == 0

    assert [a.invoice_id for a in store.approval_queue()] == [second]
    [updated] = paypal_of(target, by_reference, first)
    assert updated["status"] == "UNPAID" and updated["detail"]["note"] == "A new note"
    [left] = paypal_of(target, by_reference, second)
    assert left["status"] == "UNPAID" and left["detail"]["note"] != "A new note", (
        "an invoice back in the queue was changed in PayPal before it was approved again"
    )
    notes = [e["outcome"] for e in store.audit_log() if e["operation"] == "hold"]
    assert any("back in the approval queue" in n for n in notes)

    store.approve([second], by="ana")
    assert target.run(data.messages()).returncode == 0
    assert paypal_of(target, by_reference, second)[0]["detail"]["note"] == "A new note"


def test_an_invoice_no_rule_holds_any_more_leaves_the_queue_and_is_sent(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    invoice_id = first_of(data, "SENT")
    header = data.invoices[invoice_id]
    data.invoices[invoice_id] = held(header)
    assert target.run(data.messages()).returncode == 0
    store = store_of(target)
    assert len(store.approval_queue()) == 1

    data.invoices[invoice_id] = {**header, "note": "Total lowered in Cliniko"}
    assert target.run(data.messages()).returncode == 0

    assert store.approval_queue() == []
    assert paypal_of(target, by_reference, invoice_id)[0]["status"] == "UNPAID"


def test_a_held_invoice_voided_in_cliniko_has_its_draft_deleted_and_leaves_the_queue(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    invoice_id = first_of(data, "SENT")
    data.invoices[invoice_id] = held(data.invoices[invoice_id])
    assert target.run(data.messages()).returncode == 0
    [draft] = paypal_of(target, by_reference, invoice_id)

    voided = {**data.invoices[invoice_id], "target_status": "VOID"}
    voided.pop("approval")  # the mapper never holds a void
    data.invoices[invoice_id] = voided
    assert target.run(data.messages()).returncode == 0

    assert target.sandbox.paypal.invoice(draft["id"]) is None
    assert store_of(target).approval_queue() == []


def test_apply_now_sends_what_was_approved_without_waiting_for_a_run(
    target, clinic, by_reference
) -> None:
    data = clinic(customers=4, invoices=10)
    approved, rejected = [i for i, h in data.invoices.items() if h["target_status"] == "SENT"][:2]
    for invoice_id in (approved, rejected):
        data.invoices[invoice_id] = held(data.invoices[invoice_id])
    assert target.run(data.messages()).returncode == 0
    store = store_of(target)
    store.approve([approved], by="ana")
    store.reject(rejected, by="ana", why="duplicate")
    client = PayPalClient(
        target.sandbox.paypal_url,
        target.sandbox.paypal_client_id,
        target.sandbox.paypal_client_secret,
    )

    store.hold_run_lock()
    try:
        results = apply_now(store, client, [approved, rejected])
    finally:
        store.release_run_lock()

    assert results == {approved: "updated", rejected: "skipped"}
    assert paypal_of(target, by_reference, approved)[0]["status"] == "UNPAID"
    assert paypal_of(target, by_reference, rejected) == []
    assert store.dirty_invoice_ids() == [], "applied now, yet left for the next run"
