"""Reconciliation: Cliniko (read in full through tap-cliniko) against PayPal and the store.

Cliniko's records go through the same mapping rules as the sync, so "what PayPal should show" is
the sync's own definition; PayPal is listed in full (our invoices: a `detail.reference` or our
invoice-number prefix). Reported, invoice by invoice and by IDs only: missing in PayPal, in PayPal
but not in Cliniko, duplicates, differences (amount, tax, status, date, recipient), conflicts, and
invoices paid in PayPal that are still open in Cliniko (a to-do for the front desk: Cliniko has no
payments API). Invoices the sync holds back on purpose (parked or skipped) are listed apart and
are not mismatches. GST by month in the clinic's zone, Cliniko against PayPal.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from target_paypal.apply import PAID
from target_paypal.client import PayPalClient
from target_paypal.store import Store

STREAMS = ("patients", "invoices", "invoice_items")
KINDS = (
    "missing_in_paypal",
    "not_in_cliniko",
    "duplicate_in_paypal",
    "different",
    "conflict",
    "paid_in_paypal_open_in_cliniko",
)
# What PayPal may show for each wanted status (sent invoices move on by themselves).
ACCEPTED = {
    "DRAFT": {"DRAFT"},
    "SENT": {"SENT", "UNPAID", "SCHEDULED", "PARTIALLY_PAID"},
    "PAID": PAID,
    "VOID": {"CANCELLED"},
}


class ReconcileError(RuntimeError):
    """Reconciliation could not read one side: nothing is reported (exit status 2)."""


@dataclass
class Item:
    kind: str
    cliniko_invoice_id: str | None
    paypal_id: str | None
    invoice_number: str | None
    fields: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class Wanted:
    """What PayPal should show for one Cliniko invoice, by the sync's own rules."""

    invoice_id: str
    number: str
    status: str  # DRAFT, SENT, PAID, VOID, or HELD (the mapper parks or skips it)
    date: str
    total: Decimal | None
    tax: Decimal | None
    customer_id: str


# --- Cliniko, through tap-cliniko -------------------------------------------------------------


def read_cliniko(tap_config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every record of the three streams: tap-cliniko run without state, catalog from discovery."""
    tap = [sys.executable, "-m", "tap_cliniko.tap"]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "config.json")
        config.write_text(json.dumps(tap_config))
        found = _run(tap + ["--config", str(config), "--discover"])
        catalog = json.loads(found)
        for stream in catalog["streams"]:
            selected = stream["tap_stream_id"] in STREAMS
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = selected
        catalog_path = Path(tmp, "catalog.json")
        catalog_path.write_text(json.dumps(catalog))
        output = _run(tap + ["--config", str(config), "--catalog", str(catalog_path)])
    records: dict[str, list[dict[str, Any]]] = {s: [] for s in STREAMS}
    for line in output.splitlines():
        message = json.loads(line)
        if message.get("type") == "RECORD" and message["stream"] in records:
            records[message["stream"]].append(message["record"])
    return records


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReconcileError(f"tap-cliniko failed: {last}")
    return done.stdout


def wanted_invoices(records: dict[str, list[dict[str, Any]]], rules: Any) -> dict[str, Wanted]:
    """Each Cliniko invoice as the mapper turns it into target-paypal's input."""
    from map_cliniko_paypal.mapping import map_record

    wanted: dict[str, Wanted] = {}
    for record in records["invoices"]:
        out = map_record("invoices", record, rules)
        invoice_id = str(record.get("id"))
        if not out or out[0].stream != "invoices":
            wanted[invoice_id] = Wanted(invoice_id, "", "HELD", "", None, None, "")
            continue
        header = out[0].record
        wanted[invoice_id] = Wanted(
            invoice_id,
            header["invoice_number"],
            header["target_status"],
            header["invoice_date"],
            Decimal(header["total"]) if header.get("total") else None,
            Decimal(header["tax_total"]) if header.get("tax_total") else None,
            header["customer_id"],
        )
    return wanted


def customer_emails(records: dict[str, list[dict[str, Any]]], rules: Any) -> dict[str, str]:
    from map_cliniko_paypal.mapping import map_record

    emails = {}
    for record in records["patients"]:
        out = map_record("patients", record, rules)
        if out and out[0].stream == "customers":
            emails[out[0].record["customer_id"]] = out[0].record["email"].lower()
    return emails


# --- PayPal -------------------------------------------------------------------------------------


def list_paypal(client: PayPalClient) -> Iterator[dict[str, Any]]:
    """Every invoice of the account, a page of 100 at a time (PayPal allows up to page 1000)."""
    page = 1
    while True:
        body = client.call(
            "GET",
            "/v2/invoicing/invoices",
            "list",
            params={"page": page, "page_size": 100, "total_required": "false", "fields": "all"},
        ).json()
        yield from body.get("items") or []
        if not any(link.get("rel") == "next" for link in body.get("links") or []):
            return
        page += 1


def ours(invoice: dict[str, Any], prefix: str) -> bool:
    detail = invoice.get("detail") or {}
    return bool(detail.get("reference")) or (
        bool(prefix) and str(detail.get("invoice_number", "")).startswith(prefix)
    )


# --- comparing ----------------------------------------------------------------------------------


def _money(block: Any) -> Decimal | None:
    value = (block or {}).get("value")
    return Decimal(str(value)) if value not in (None, "") else None


def _tax(invoice: dict[str, Any]) -> Decimal | None:
    return _money(((invoice.get("amount") or {}).get("breakdown") or {}).get("tax_total"))


def _recipient(invoice: dict[str, Any]) -> str:
    recipients = invoice.get("primary_recipients") or [{}]
    return str(((recipients[0] or {}).get("billing_info") or {}).get("email_address", "")).lower()


def differences(want: Wanted, invoice: dict[str, Any], email: str | None) -> list[str]:
    """The fields where PayPal's copy is not what Cliniko says (names only, no values)."""
    found = []
    status = invoice.get("status", "")
    if want.total is not None and _money(invoice.get("amount")) != want.total:
        found.append("amount")
    if want.tax is not None and (_tax(invoice) or Decimal(0)) != want.tax:
        found.append("tax")
    if status not in ACCEPTED.get(want.status, set()):
        found.append("status")
    if (invoice.get("detail") or {}).get("invoice_date") != want.date:
        found.append("date")
    if email is not None and status not in PAID | {"CANCELLED"} and _recipient(invoice) != email:
        found.append("recipient")
    return found


@dataclass
class Reconciliation:
    generated_at: str
    time_zone: str
    ok: bool
    counts: dict[str, int]
    items: list[dict[str, Any]]
    held: dict[str, int]
    gst_by_month: list[dict[str, str]]


def reconcile(
    wanted: dict[str, Wanted],
    emails: dict[str, str],
    paypal: list[dict[str, Any]],
    store: Store | None,
    prefix: str,
    time_zone: str,
) -> Reconciliation:
    mine = [i for i in paypal if ours(i, prefix)]
    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for invoice in mine:
        by_reference[str((invoice.get("detail") or {}).get("reference") or "")].append(invoice)
    held_ids = _held_by_the_sync(store)
    xrefs = store.xrefs() if store else []
    conflicts = {x.invoice_id: x for x in xrefs if x.conflict}
    known = {x.invoice_id: x.paypal_id for x in xrefs}
    items: list[Item] = []
    held: dict[str, int] = defaultdict(int)
    for invoice_id, want in sorted(wanted.items()):
        copies = [c for c in by_reference.get(invoice_id, []) if c.get("status") != "CANCELLED"]
        copies = copies or by_reference.get(invoice_id, [])
        if want.status == "HELD" or (invoice_id in held_ids and not copies):
            held["parked or skipped by the sync's rules"] += 1
            continue
        if invoice_id in conflicts:
            x = conflicts[invoice_id]
            items.append(
                Item("conflict", invoice_id, x.paypal_id, x.invoice_number, [], x.conflict or "")
            )
            continue
        if not copies:
            if want.status != "VOID":
                items.append(
                    Item("missing_in_paypal", invoice_id, None, want.number, [], "not in PayPal")
                )
            continue
        live = [c for c in copies if c.get("status") != "CANCELLED"]
        if len(live) > 1:
            ids = ", ".join(sorted(c["id"] for c in live))
            items.append(
                Item("duplicate_in_paypal", invoice_id, ids, want.number, [], f"{len(live)} copies")
            )
        # Ours is the copy the store cross-references; a hand-made copy is the duplicate.
        invoice = next((c for c in copies if c["id"] == known.get(invoice_id)), copies[0])
        status = invoice.get("status", "")
        if status in PAID and want.status in ("SENT", "DRAFT"):
            items.append(
                Item(
                    "paid_in_paypal_open_in_cliniko",
                    invoice_id,
                    invoice["id"],
                    want.number,
                    ["status"],
                    "paid in PayPal: record the payment in Cliniko",
                )
            )
            continue
        fields = differences(want, invoice, emails.get(want.customer_id))
        if fields:
            items.append(
                Item("different", invoice_id, invoice["id"], want.number, fields, _say(fields))
            )
    for reference, copies in sorted(by_reference.items()):
        if reference not in wanted:
            for invoice in copies:
                if invoice.get("status") == "CANCELLED":
                    continue
                number = (invoice.get("detail") or {}).get("invoice_number")
                items.append(
                    Item(
                        "not_in_cliniko",
                        reference or None,
                        invoice["id"],
                        number,
                        [],
                        "in PayPal, no such Cliniko invoice"
                        if reference
                        else "in PayPal with our number prefix but no reference",
                    )
                )
    counts = {kind: sum(1 for i in items if i.kind == kind) for kind in KINDS}
    return Reconciliation(
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        time_zone=time_zone,
        ok=not items,
        counts=counts,
        items=[asdict(i) for i in items],
        held=dict(held),
        gst_by_month=gst_by_month({k: w for k, w in wanted.items() if k not in held_ids}, mine),
    )


def _say(fields: list[str]) -> str:
    return "differs in " + ", ".join(fields)


def _held_by_the_sync(store: Store | None) -> set[str]:
    """Invoices the sync parked or skipped on purpose (dead letters and rule skips)."""
    if store is None:
        return set()
    held = {
        str(d["record_id"])
        for d in store.open_dead_letters()
        if d["stream"] in ("invoices", "rejects:invoices")
    }
    return held | store.skipped_ids("invoices")


def gst_by_month(wanted: dict[str, Wanted], paypal: list[dict[str, Any]]) -> list[dict[str, str]]:
    """GST by calendar month of the invoice date (a date in the clinic's zone on both sides):
    Cliniko's tax on what should be in PayPal (not void, not held back by the sync's rules: the
    caller leaves those out), PayPal's on our invoices that are not cancelled."""
    cliniko: dict[str, Decimal] = defaultdict(Decimal)
    for want in wanted.values():
        if want.status in ("DRAFT", "SENT", "PAID") and want.tax is not None:
            cliniko[want.date[:7]] += want.tax
    theirs: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in paypal:
        if invoice.get("status") == "CANCELLED":
            continue
        month = str((invoice.get("detail") or {}).get("invoice_date", ""))[:7]
        theirs[month] += _tax(invoice) or Decimal(0)
    months = sorted(set(cliniko) | set(theirs))
    return [
        {
            "month": m,
            "cliniko": str(cliniko[m].quantize(Decimal("0.01"))),
            "paypal": str(theirs[m].quantize(Decimal("0.01"))),
            "difference": str((cliniko[m] - theirs[m]).quantize(Decimal("0.01"))),
        }
        for m in months
    ]


# --- writing ------------------------------------------------------------------------------------

LABELS = {
    "missing_in_paypal": "Missing in PayPal",
    "not_in_cliniko": "In PayPal, not in Cliniko",
    "duplicate_in_paypal": "More than one copy in PayPal",
    "different": "Different in PayPal (amount, tax, status, date or recipient)",
    "conflict": "Conflict: paid or cancelled by hand in PayPal",
    "paid_in_paypal_open_in_cliniko": "Paid in PayPal, still open in Cliniko",
}


def write(result: Reconciliation, folder: Path) -> dict[str, Path]:
    """reconcile.json, reconcile.csv (one row per item) and reconcile.html in `folder`."""
    import csv

    from jinja2 import Environment, PackageLoader

    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"reconcile.{kind}" for kind in ("json", "csv", "html")}
    data = asdict(result)
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    with paths["csv"].open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(Item.__dataclass_fields__))
        writer.writeheader()
        for item in result.items:
            writer.writerow({**item, "fields": " ".join(item["fields"])})
    env = Environment(
        loader=PackageLoader("target_paypal", "templates"), autoescape=True
    )
    html = env.get_template("reconcile.html.j2").render(r=data, labels=LABELS)
    paths["html"].write_text(html)
    return paths
