"""Void means void, end to end: invoices removed in Cliniko together with their items, as
Cliniko removes them, through `meltano run cliniko-to-paypal`, then `meltano run reconcile` and
`paypal-ops report`."""

from __future__ import annotations

import json

import pytest
from paypal_expected import gone, link_id, paypal_by_reference, read_clinic

from target_paypal.store import Store

JOB = "cliniko-to-paypal"
CLINIC = {"seed": 42, "patients": 60, "invoices": 100}


def remove(store, invoice_id: str, how: str) -> None:
    """Archive or delete an invoice and its items, as Cliniko does when one is removed."""
    for item in store.records("invoice_items"):
        if link_id(item, "invoice") == invoice_id and not gone(item):
            getattr(store, how)("invoice_items", item["id"])
    getattr(store, how)("invoices", invoice_id)


@pytest.mark.timeout(900)
def test_invoices_removed_with_their_items_are_cancelled_or_a_conflict(
    make_sandbox, meltano_project
) -> None:
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox)
    clinic = read_clinic(sandbox.cliniko)
    project.run(JOB)
    store = Store(f"sqlite:///{project.workdir / 'store.db'}")
    never = [cid for cid, why in clinic.left_out.items() if "never created" in why]
    assert never, "the seed needs void invoices that never reach PayPal"
    letters = {d["record_id"] for d in store.open_dead_letters("invoices")}
    assert not set(never) & letters, "void invoices parked instead of skipped"

    unpaid = sorted(w.cliniko_id for w in clinic.expected.values() if w.status == "UNPAID")
    paid = sorted(w.cliniko_id for w in clinic.expected.values() if w.status == "MARKED_AS_PAID")
    archived, deleted, paid_then_archived = unpaid[0], unpaid[1], paid[0]
    remove(sandbox.cliniko, archived, "archive")
    remove(sandbox.cliniko, deleted, "delete")
    remove(sandbox.cliniko, paid_then_archived, "archive")

    project.run(JOB)

    found = paypal_by_reference(sandbox)
    for cid in (archived, deleted):
        assert [i["status"] for i in found[cid]] == ["CANCELLED"], f"{cid} is still payable"
    assert [i["status"] for i in found[paid_then_archived]] == ["MARKED_AS_PAID"]
    conflicts = {x.invoice_id: x.conflict for x in store.xrefs() if x.conflict}
    assert set(conflicts) == {paid_then_archived}, conflicts
    letters = {d["record_id"] for d in store.open_dead_letters("invoices")}
    assert not {archived, deleted, paid_then_archived} & letters, "removed invoices parked"

    done = project.run("reconcile", check=False)
    assert done.returncode != 0, "a conflict is for a person: the reconcile job says so"
    items = json.loads((project.workdir / "reconcile" / "reconcile.json").read_text())["items"]
    assert ("conflict", paid_then_archived) in {(i["kind"], i["cliniko_invoice_id"]) for i in items}
    page = project.workdir / "health.html"
    shown = project.meltano(
        "invoke", "paypal-ops", "report", "--output", str(page), env=project.paypal_env()
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert paid_then_archived in page.read_text(), "the conflict is not on the sync-health page"
