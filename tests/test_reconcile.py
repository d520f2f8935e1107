"""Reconciliation end to end: `meltano run cliniko-to-paypal`, discrepancies injected into the
sandbox on both sides, then `meltano run reconcile` (the job of the paypal-ops utility)."""

from __future__ import annotations

import copy
import csv
import json
from collections import defaultdict
from decimal import Decimal

import pytest

CLINIC = {"seed": 7, "patients": 80, "invoices": 140}
UNPAID = {"SENT", "UNPAID"}


def report(project) -> dict:
    return json.loads((project.workdir / "reconcile" / "reconcile.json").read_text())


def ours(sandbox) -> dict[str, dict]:
    """PayPal invoices with a reference, by reference (one each after a clean sync)."""
    return {
        i["detail"]["reference"]: i
        for i in sandbox.paypal.invoices()
        if i["detail"].get("reference") and i["status"] != "CANCELLED"
    }


def gst_by_month(sandbox, cliniko_ids: set[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """GST by month straight from the sandbox's data: Cliniko's tax_amount by issue month for
    the given invoices, PayPal's tax_total by invoice month for our invoices not cancelled."""
    cliniko: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in sandbox.cliniko.records("invoices"):
        if invoice["id"] in cliniko_ids:
            cliniko[invoice["issue_date"][:7]] += Decimal(str(invoice["tax_amount"]))
    paypal: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in sandbox.paypal.invoices():
        if invoice["status"] != "CANCELLED" and (
            invoice["detail"].get("reference") or invoice["detail"]["invoice_number"][:4] == "CLK-"
        ):
            tax = invoice["amount"]["breakdown"].get("tax_total", {}).get("value", "0")
            paypal[invoice["detail"]["invoice_date"][:7]] += Decimal(tax)
    return {m: (cliniko[m], paypal[m]) for m in set(cliniko) | set(paypal)}


@pytest.mark.timeout(900)
def test_reconcile_lists_each_injected_discrepancy_and_nothing_else(
    make_sandbox, meltano_project
) -> None:
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox)
    project.run("cliniko-to-paypal")

    clean = project.run("reconcile")
    assert report(project)["ok"] is True, report(project)["items"][:5]
    assert "all matches" in clean.stderr + clean.stdout

    synced = ours(sandbox)
    unpaid = sorted(cid for cid, i in synced.items() if i["status"] in UNPAID)
    assert len(unpaid) >= 4, "the seed needs open invoices in PayPal"
    deleted, changed, paid, copied = unpaid[:4]

    # PayPal: one deleted, one total edited by hand, one paid by the patient, one duplicated.
    sandbox.paypal.delete(synced[deleted]["id"])
    sandbox.paypal.set_total(synced[changed]["id"], "1.00")
    sandbox.paypal.mark_paid(synced[paid]["id"])
    body = copy.deepcopy(synced[copied])
    duplicate_body = {k: body[k] for k in ("detail", "invoicer", "primary_recipients", "items")}
    duplicate_body["detail"] = {
        k: v for k, v in body["detail"].items() if k not in ("metadata", "invoice_number")
    }
    duplicate = sandbox.paypal.add_invoice(duplicate_body)
    stray_body = copy.deepcopy(duplicate_body)
    stray_body["detail"].pop("reference")
    stray_body["detail"]["invoice_number"] = "CLK-990001"
    stray = sandbox.paypal.add_invoice(stray_body)
    # Cliniko: an invoice never synced (the sync has not run since it was made).
    template = sandbox.cliniko.raw("invoices", unpaid[4])
    fresh = {k: v for k, v in template.items() if k not in ("id", "created_at", "updated_at")}
    fresh["number"] = 990002
    never_synced = sandbox.cliniko.create("invoices", fresh)["id"]

    done = project.run("reconcile", check=False)
    assert done.returncode != 0, "mismatches make the job fail so the scheduler notices"
    result = report(project)
    found = {(i["kind"], i["cliniko_invoice_id"], i["paypal_id"]) for i in result["items"]}
    assert found == {
        ("missing_in_paypal", deleted, None),
        ("different", changed, synced[changed]["id"]),
        ("paid_in_paypal_open_in_cliniko", paid, synced[paid]["id"]),
        ("duplicate_in_paypal", copied, ", ".join(sorted([synced[copied]["id"], duplicate["id"]]))),
        ("not_in_cliniko", None, stray["id"]),
        ("missing_in_paypal", never_synced, None),
    }, json.dumps(result["items"], indent=1)
    different = next(i for i in result["items"] if i["kind"] == "different")
    assert "amount" in different["fields"]
    assert result["ok"] is False and sum(result["counts"].values()) == 6

    # GST by month, each side as computed directly from the sandbox's data.
    expected_ids = set(synced) | {never_synced}  # what should be in PayPal
    direct = gst_by_month(sandbox, expected_ids)
    for month in result["gst_by_month"]:
        cliniko, paypal = direct.pop(month["month"])
        assert (Decimal(month["cliniko"]), Decimal(month["paypal"])) == (cliniko, paypal), month
    assert not {m: v for m, v in direct.items() if any(v)}, "months missing from the report"

    # The CSV and the page carry the same items, IDs only.
    rows = list(csv.DictReader((project.workdir / "reconcile" / "reconcile.csv").open()))
    assert {(r["kind"], r["cliniko_invoice_id"] or None) for r in rows} == {
        (k, c) for k, c, _ in found
    }
    page = (project.workdir / "reconcile" / "reconcile.html").read_text()
    assert never_synced in page and stray["id"] in page
    emails = {p.get("email") for p in sandbox.cliniko.records("patients")} - {None, ""}
    surnames = {p["last_name"] for p in sandbox.cliniko.records("patients")}
    for text in (page, json.dumps(result), done.stdout + done.stderr):
        assert not [e for e in emails if e in text]
        assert not [s for s in surnames if f">{s}<" in text or f'"{s}"' in text]
