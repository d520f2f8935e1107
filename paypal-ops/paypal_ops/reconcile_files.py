"""Reconciliation's report files: reconcile.json, reconcile.csv and reconcile.html."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, fields
from pathlib import Path

from jinja2 import Environment, PackageLoader

from paypal_ops.reconcile import Mismatch, Reconciliation

# The heading of each kind of mismatch in the HTML report.
KIND_HEADINGS = {
    "missing_in_paypal": "Missing in PayPal",
    "not_in_cliniko": "In PayPal, not in Cliniko",
    "duplicate_in_paypal": "More than one copy in PayPal",
    "different": "Different in PayPal (amount, tax, status, date or recipient)",
    "conflict": "Conflict: paid or cancelled by hand in PayPal",
    "paid_in_paypal_open_in_cliniko": "Paid in PayPal, still open in Cliniko",
}


def write(result: Reconciliation, folder: Path) -> dict[str, Path]:
    """reconcile.json, reconcile.csv (one row per item) and reconcile.html in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"reconcile.{kind}" for kind in ("json", "csv", "html")}
    data = asdict(result)
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    with paths["csv"].open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(Mismatch)])
        writer.writeheader()
        for item in result.items:
            writer.writerow({**item, "fields": " ".join(item["fields"])})
    env = Environment(loader=PackageLoader("paypal_ops", "templates"), autoescape=True)
    html = env.get_template("reconcile.html.j2").render(r=data, labels=KIND_HEADINGS)
    paths["html"].write_text(html)
    return paths
