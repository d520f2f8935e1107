"""Reconciliation's report files: reconcile.json, reconcile.csv and reconcile.html."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, fields
from pathlib import Path

from jinja2 import Environment, PackageLoader

from paypal_ops.reconcile import KIND_TITLES, Mismatch, Reconciliation


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
    html = env.get_template("reconcile.html.j2").render(r=data, labels=KIND_TITLES)
    paths["html"].write_text(html)
    return paths
