"""Reconciliation's report files: reconcile.json, reconcile.csv and reconcile.html."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, fields
from pathlib import Path

from jinja2 import Environment, PackageLoader

from paypal_ops.reconcile import KIND_TITLES, Mismatch, Reconciliation
from target_paypal.private_files import open_private, private_folder, write_private


def write(result: Reconciliation, folder: Path) -> dict[str, Path]:
    """reconcile.json, reconcile.csv (one row per item) and reconcile.html in `folder`.

    Owner-only (0600, folders made 0700): they name invoices and patients by their IDs.
    """
    private_folder(folder)
    paths = {kind: folder / f"reconcile.{kind}" for kind in ("json", "csv", "html")}
    data = asdict(result)
    write_private(paths["json"], json.dumps(data, indent=2) + "\n")
    with open_private(paths["csv"], "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(Mismatch)])
        writer.writeheader()
        for item in result.items:
            writer.writerow({**item, "fields": " ".join(item["fields"])})
    env = Environment(loader=PackageLoader("paypal_ops", "templates"), autoescape=True)
    html = env.get_template("reconcile.html.j2").render(r=data, labels=KIND_TITLES)
    write_private(paths["html"], html)
    return paths
