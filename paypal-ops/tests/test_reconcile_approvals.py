"""Reconciliation and the approval queue: a draft waiting for a person, one approved that the
next run sends, one rejected, are held back on purpose, not mismatches (reconcile.reconcile on
PayPal as the sandbox lists it and the store the target's applier wrote; `queue` in conftest)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from paypal_ops.reconcile import Wanted, _tax, reconcile
from paypal_ops.reconcile_sources import list_paypal

HELD, APPROVED, REJECTED = (
    "held for approval",
    "approved, sent by the next run",
    "rejected in the approval queue",
)


def wanted_of(queue: Any) -> dict[str, Wanted]:
    """What Cliniko wants of the queue's six invoices (tax as PayPal computed it for them)."""
    taxes = {}
    for invoice in list_paypal(queue.client()):
        taxes[invoice["detail"].get("reference")] = _tax(invoice)
    return {
        i: Wanted(
            i,
            h["invoice_number"],
            h["target_status"],
            h["invoice_date"],
            Decimal(h["total"]),
            taxes[i],
            h["customer_id"],
        )
        for i, h in queue.data.invoices.items()
        if i in taxes
    }


def check(queue: Any, wanted: dict[str, Wanted], store: Any = True) -> Any:
    emails = {c: r["email"].lower() for c, r in queue.data.customers.items()}
    paypal = list(list_paypal(queue.client()))
    return reconcile(wanted, emails, paypal, queue.store if store else None, "", "Australia/Sydney")


def test_the_approval_queue_is_held_on_purpose_not_a_mismatch(queue) -> None:
    wanted = wanted_of(queue)
    first, second, third, fourth = queue.held

    drafts = check(queue, wanted)
    assert drafts.ok and not drafts.items, drafts.items
    assert drafts.held == {HELD: 4}
    # Without the queue they would be mismatches: drafts where Cliniko says sent or paid.
    blind = check(queue, wanted, store=False)
    assert not blind.ok
    assert {i["cliniko_invoice_id"]: i["fields"] for i in blind.items} == {
        i: ["status"] for i in queue.held
    }

    queue.store.approve([first], "Dr Lee")
    assert queue.store.reject(second, "Sam", "billed to the insurer")
    decided = check(queue, wanted)
    assert decided.ok and decided.held == {HELD: 2, APPROVED: 1, REJECTED: 1}
    # A draft waiting whose amount is not Cliniko's is still reported, by that field only.
    changed = {**wanted, third: Wanted(**{**wanted[third].__dict__, "total": Decimal("1.00")})}
    wrong = check(queue, changed)
    assert not wrong.ok
    assert [(i["cliniko_invoice_id"], i["fields"]) for i in wrong.items] == [(third, ["amount"])]

    queue.run()  # sends the approved one, deletes the rejected one's draft
    assert queue.status(first) in ("UNPAID", "MARKED_AS_PAID") and queue.status(second) is None
    after = check(queue, wanted)
    assert after.ok and after.held == {HELD: 2, REJECTED: 1}
    assert fourth in queue.held
    # GST: the rejected invoice is on neither side; everything else matches.
    assert {row["difference"] for row in after.gst_by_month} == {"0.00"}
