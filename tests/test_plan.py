"""Dry run: `meltano run cliniko-to-paypal-plan` writes nothing to PayPal, moves no bookmark,
and its plan's counts are what the real run then does."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from target_paypal.store import Store

CLINIC = {"seed": 11, "patients": 80, "invoices": 150}


def plan_of(project) -> dict:
    return json.loads((project.workdir / "plan" / "plan.json").read_text())


@pytest.mark.timeout(900)
def test_the_plan_writes_nothing_and_matches_the_real_run(make_sandbox, meltano_project) -> None:
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox)

    sandbox.paypal.clear_call_log()
    done = project.run("cliniko-to-paypal-plan")
    assert sandbox.paypal.writes() == [], "a dry run called a PayPal write endpoint"
    assert sandbox.paypal.invoices() == []
    assert "Plan (dry run: nothing was written to PayPal)" in done.stderr
    plan = plan_of(project)
    assert (project.workdir / "plan" / "plan.txt").read_text().startswith("Plan (dry run")
    assert not (project.workdir / "store.db").exists(), "the dry run touched the real store"
    state = project.meltano("state", "list")
    assert "target-paypal" not in state.stdout, f"a dry run saved Meltano state: {state.stdout}"

    project.run("cliniko-to-paypal")
    store = Store(f"sqlite:///{project.workdir / 'store.db'}")
    real = store.runs(limit=1)[0]
    did = {k: v for k, v in real["counts"]["invoices"].items() if v}
    planned = {k: row["count"] for k, row in plan["invoices"].items()}
    assert planned == did, f"plan {planned} != real run {did}"
    operations = Counter(e["operation"] for e in store.audit_log(real["id"]))
    planned_ops = {k: row["count"] for k, row in plan["operations"].items() if row["count"]}
    assert planned_ops == dict(operations), f"plan {planned_ops} != real writes {operations}"
    assert planned_ops["create"] > 0 and planned_ops["record_payment"] > 0

    # Totals and GST of what would be created: Cliniko's figures for those invoices.
    assert plan["invoices"]["created"]["total"] != "0.00"
    paypal_total = sum(float(i["amount"]["value"]) for i in sandbox.paypal.invoices())
    assert abs(float(plan["invoices"]["created"]["total"]) - paypal_total) < 0.005

    # After the real run, a new plan finds nothing to write.
    sandbox.paypal.clear_call_log()
    project.run("cliniko-to-paypal-plan")
    again = plan_of(project)
    assert all(row["count"] == 0 for row in again["operations"].values()), again["operations"]
    assert sandbox.paypal.writes() == []
