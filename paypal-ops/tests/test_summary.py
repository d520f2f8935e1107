"""`paypal-ops summary` of a target run: every invoice accounted for, IDs and counts only."""

from __future__ import annotations

import json
import subprocess
import sys

from target_harness import input_messages as extra
from target_harness import reject

from target_paypal.store import Store
from target_paypal.summary import run_summary


def last_summary(target) -> dict:
    return Store(target.config["store_url"]).runs(limit=1)[0]["counts"]


def ops_summary(target, *args: str) -> str:
    """`paypal-ops summary` on the target's store, as an operator runs it."""
    command = ["-m", "paypal_ops.cli", "--store-url", target.config["store_url"], "summary"]
    return subprocess.run(
        [sys.executable, *command, *args], capture_output=True, text=True, check=True
    ).stdout


def test_every_invoice_is_accounted_for_in_the_summary(target, clinic, tmp_path) -> None:
    data = clinic(customers=6, invoices=30)
    patient = next(iter(data.customers))
    data.customers.pop(patient)
    rejects = [
        reject("patients", patient),
        reject("invoices", "9" * 18, reason="status 40: open credit"),
    ]
    done = target.run(extra("rejects", "record_id", rejects) + data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    summary = last_summary(target)
    outcomes = summary["invoices"]
    assert sum(outcomes.values()) == len(data.invoices) + 1, outcomes
    assert summary["read"]["invoices"] == len(data.invoices) + 1
    assert summary["read"]["customers"] == len(data.customers) + 1
    # A parked patient's invoices are parked with it, except a void one: void is skipped
    # whoever its patient is (nothing for a person to do).
    voids = [i for i, h in data.invoices.items() if h["target_status"] == "VOID"]
    theirs = [i for i, h in data.invoices.items() if h["customer_id"] == patient and i not in voids]
    assert outcomes["skipped"] == len(voids)
    assert outcomes["parked"] == len(theirs) + 1
    assert outcomes["created"] == len(data.invoices) - len(voids) - len(theirs)

    shown = ops_summary(target)
    assert f"created {outcomes['created']}" in shown
    assert f"parked {outcomes['parked']}" in shown
    assert f"(= {len(data.invoices) + 1})" in shown
    assert "status 40: open credit" in shown
    # The patient, its invoices and the open credit are all held back by the rules, on purpose.
    held = outcomes["parked"] + 1
    assert f"Open now: 0 need a person (something went wrong), {held} held back" in shown
    assert "@" not in shown and "Surname" not in shown and "Given" not in shown
    as_json = json.loads(ops_summary(target, "--json"))
    assert as_json["invoices"] == outcomes
    assert as_json["open_dead_letters_now"] == {"needs_a_person": 0, "held_by_rules": held}


def test_invoices_held_for_approval_are_counted_in_words_with_their_rules(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    run_id = store.start_run()
    for n, (outcome, reason) in enumerate(
        [
            ("created", None),
            ("held", "held for approval: large-total"),
            ("held", "held for approval: large-total"),
            ("held", "held for approval: third-party-payer"),
            ("skipped", "rejected in the approval queue"),
        ]
    ):
        store.note_outcome(run_id, "invoices", f"20000000000000000{n}", outcome, reason)
    store.finish_run(run_id, "succeeded", run_summary({}, store.run_outcomes(run_id), 0, 1.0))
    command = [sys.executable, "-m", "paypal_ops.cli", "--store-url", url, "summary"]
    shown = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert (
        "Invoices:       created 1, updated 0, unchanged 0, held for approval 3, "
        "skipped by a rule 1, parked 0, conflicts 0  (= 5)"
    ) in shown
    assert "  Held for approval (PayPal drafts until a person decides" in shown
    assert "         2  held for approval: large-total" in shown
    assert "         1  held for approval: third-party-payer" in shown
    assert "         1  rejected in the approval queue" in shown
    as_json = json.loads(
        subprocess.run([*command, "--json"], capture_output=True, text=True, check=True).stdout
    )
    assert as_json["invoices"]["held"] == 3
    assert as_json["reasons"]["held"][0] == ["invoices", "held for approval: large-total", 2]


def test_the_summary_counts_invoices_addressed_to_third_party_payers(target, clinic) -> None:
    data = clinic(customers=4, invoices=20)
    payer_customers = sorted(data.customers)[:2]
    for customer_id in payer_customers:
        data.customers[customer_id]["business_name"] = "Coastal Plan Management"
    for header in data.invoices.values():
        header["bill_to"] = "Coastal Plan Management"
    assert target.run(data.messages()).returncode == 0
    theirs = [
        i for i, h in data.invoices.items()
        if h["customer_id"] in payer_customers and h["target_status"] != "VOID"
    ]
    assert theirs and len(theirs) < len(data.invoices)

    shown = ops_summary(target)
    assert f"To third-party payers: {len(theirs)} of those created or updated" in shown
    assert "Coastal" not in shown  # counts only
    assert json.loads(ops_summary(target, "--json"))["to_payers"] == len(theirs)
