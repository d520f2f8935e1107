"""Approval workflow end to end: `meltano run` with a rule that holds large invoices, then
`paypal-ops approvals` as finance staff use it, checked invoice by invoice in PayPal.

The rule (`approvals.invoices`, `total > T`) is added to a copy of the shipped mapping.yaml; T is
chosen from the seeded clinic so that open and paid invoices are held. What is not held must be
exactly as without the rule.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest
from paypal_expected import (
    Expected,
    invoice_problems,
    paypal_by_reference,
    read_clinic,
)
from test_pipeline import edit_item, live_items

from clinic_sandbox.cliniko.money import invoice_totals
from target_paypal.store import Store

JOB = "cliniko-to-paypal"
CLINIC = {"seed": 42, "patients": 80, "invoices": 150}
SHIPPED_RULES = (
    Path(__file__).resolve().parents[1] / "transforms" / "map_cliniko_paypal" / "mapping.yaml"
)
EMPTY_QUEUE_RULES = '  invoices: []\n    # - name: "over $1,000"'


def threshold(expected: dict[str, Expected]) -> Decimal:
    """A total above which at least three open and one paid invoice lie (strictly)."""
    ranked = sorted(
        (e for e in expected.values() if e.status in ("UNPAID", "MARKED_AS_PAID")),
        key=lambda e: e.total,
        reverse=True,
    )
    for index, candidate in enumerate(ranked[1:], 1):
        above = [e for e in ranked[:index] if e.total > candidate.total]
        statuses = [e.status for e in above]
        if statuses.count("UNPAID") >= 3 and statuses.count("MARKED_AS_PAID") >= 1:
            return candidate.total
    raise AssertionError("the seeded clinic has too few large invoices for this test")


def rules_holding_above(limit: Decimal, folder: Path) -> Path:
    text = SHIPPED_RULES.read_text()
    assert EMPTY_QUEUE_RULES in text, "the shipped mapping.yaml's approvals section moved"
    rule = f'  invoices:\n    - name: "large"\n      when: "total > {limit}"\n    # - name: "over'
    path = folder / "rules.yaml"
    path.write_text(text.replace(EMPTY_QUEUE_RULES, rule))
    return path


def ops(project, *args: str) -> str:
    done = project.meltano("invoke", "paypal-ops", *args, env=project.paypal_env())
    assert done.returncode == 0, f"paypal-ops {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout


def waiting(project) -> set[str]:
    """What `paypal-ops approvals list` shows as waiting."""
    listed = json.loads(ops(project, "approvals", "list", "--json"))
    return {str(row["invoice_id"]) for row in listed}


def queued(store: Store) -> set[str]:
    """The same, read from the store without starting meltano (the list is checked once)."""
    return {a.invoice_id for a in store.approval_queue()}


def reconciled(project) -> dict[str, int]:
    """`meltano run reconcile` (exit 0: no mismatch) and what it counted as held on purpose."""
    project.run("reconcile")
    report = json.loads((project.workdir / "reconcile" / "reconcile.json").read_text())
    assert report["items"] == [], report["items"]
    # As without the approval rule: the rules' parks and skips, and the seed's reversals.
    apart = ("parked or skipped by the sync's rules", "reversed in Cliniko")
    return {k: n for k, n in report["held"].items() if n and not k.startswith(apart)}


def check_paypal(sandbox, expected: dict[str, Expected], drafts: set[str]) -> list[str]:
    """Every expected invoice field by field, those in `drafts` as complete drafts."""
    found = paypal_by_reference(sandbox)
    problems = []
    for cid, want in expected.items():
        copies = found.get(cid, [])
        if len(copies) != 1:
            problems.append(f"invoice {cid}: {len(copies)} PayPal invoices, expected one")
            continue
        if cid in drafts:
            want = dataclasses.replace(want, status="DRAFT", payment_date=None)
        problems += invoice_problems(want, copies[0])
    return problems


# On PostgreSQL only (a whole run is a minute a backend in CI): the queue's SQL runs on SQLite
# in target-paypal's and paypal-ops' own approval tests.
@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
@pytest.mark.timeout(1200)
def test_large_invoices_wait_as_drafts_until_approved_then_are_sent_or_paid(
    make_sandbox, meltano_project, store_url, tmp_path
) -> None:
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox, store_url)
    clinic = read_clinic(sandbox.cliniko)
    limit = threshold(clinic.expected)
    held = {cid for cid, e in clinic.expected.items() if e.total > limit}
    project.env["MAP_CLINIKO_PAYPAL_MAPPING_FILE"] = str(rules_holding_above(limit, tmp_path))

    # The dry-run plan counts them apart from what it would create and send.
    project.run("cliniko-to-paypal-plan")
    plan = json.loads((project.workdir / "plan" / "plan.json").read_text())
    assert plan["invoices"]["held"]["count"] == len(held), plan["invoices"]
    assert sandbox.paypal.writes() == []

    project.run(JOB)

    assert check_paypal(sandbox, clinic.expected, drafts=held) == []
    assert waiting(project) == held
    store = Store(project.store_url)
    assert queued(store) == held
    assert store.runs(limit=1)[0]["counts"]["invoices"]["held"] == len(held)
    assert reconciled(project) == {"held for approval": len(held)}

    # Finance approves two open and one paid invoice, and rejects one.
    open_held = sorted(c for c in held if clinic.expected[c].status == "UNPAID")
    paid_held = sorted(c for c in held if clinic.expected[c].status == "MARKED_AS_PAID")
    repriced, untouched, rejected = open_held[:3]
    approved = {repriced, untouched, paid_held[0]}
    args = [a for cid in sorted(approved) for a in ("--id", cid)]
    ops(project, "approvals", "approve", *args, "--by", "Ana Finance")
    ops(project, "approvals", "reject", "--id", rejected, "--why", "wrong payer", "--by", "Ben")
    draft_of_rejected = paypal_by_reference(sandbox)[rejected][0]["id"]

    project.run(JOB)

    expected = {c: e for c, e in clinic.expected.items() if c != rejected}
    assert check_paypal(sandbox, expected, drafts=held - approved - {rejected}) == []
    assert rejected not in paypal_by_reference(sandbox), "a rejected draft is still in PayPal"
    assert sandbox.paypal.invoice(draft_of_rejected) is None
    assert queued(store) == held - approved - {rejected}
    decisions = {
        (e["invoice_id"], e["operation"], e["outcome"])
        for e in store.audit_log()
        if e["operation"] in ("approve", "reject")
    }
    assert decisions == {(c, "approve", "approved by Ana Finance") for c in approved} | {
        (rejected, "reject", "rejected by Ben: wrong payer")
    }
    assert reconciled(project) == {
        "held for approval": len(held - approved - {rejected}),
        "rejected in the approval queue": 1,
    }

    # In Cliniko: one approved invoice's total rises (the rule holds it again, for another
    # total), another gets an unrelated edit (its notes).
    cliniko = sandbox.cliniko
    method = int(clinic.invoices[repriced]["calculation_method"])
    item = live_items(cliniko, repriced)[0]
    edit_item(
        cliniko, item, Decimal(str(item["quantity"])), Decimal(str(item["unit_price"])) + 50, method
    )
    cliniko.update("invoices", repriced, invoice_totals(live_items(cliniko, repriced)))
    cliniko.update("invoices", untouched, {"notes": "Edited at the front desk"})
    sent_before = paypal_by_reference(sandbox)[repriced][0]

    project.run(JOB)

    assert queued(store) == (held - approved - {rejected}) | {repriced}
    [still] = paypal_by_reference(sandbox)[repriced]
    assert (still["status"], still["amount"]) == ("UNPAID", sent_before["amount"]), (
        "an invoice back in the queue was changed in PayPal before it was approved again"
    )
    assert paypal_by_reference(sandbox)[untouched][0]["status"] == "UNPAID"
