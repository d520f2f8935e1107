"""Reconciliation's two sides: Cliniko read in full through tap-cliniko, and PayPal listed in full.

Cliniko's records go through the sync's own mapping rules, so "what PayPal should show" is the
sync's own definition. PayPal's side is every invoice of every account the sync writes to.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from map_cliniko_paypal.mapping import map_record
from map_cliniko_paypal.rules import Rules
from paypal_ops.reconcile import ReconcileError, Wanted
from target_paypal.accounts import account_key
from target_paypal.client import PayPalClient

ACCOUNT = "_account"  # the key `list_accounts` marks each PayPal invoice with

# The Cliniko streams reconciliation reads.
CLINIKO_STREAMS = ("patients", "invoices", "invoice_items")


def read_cliniko(tap_config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every record of the three streams: tap-cliniko run without state, catalog from discovery."""
    tap = [sys.executable, "-m", "tap_cliniko.tap"]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "config.json")
        config.write_text(json.dumps(tap_config))
        found = _run(tap + ["--config", str(config), "--discover"])
        catalog = json.loads(found)
        for stream in catalog["streams"]:
            selected = stream["tap_stream_id"] in CLINIKO_STREAMS
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = selected
        catalog_path = Path(tmp, "catalog.json")
        catalog_path.write_text(json.dumps(catalog))
        output = _run(tap + ["--config", str(config), "--catalog", str(catalog_path)])
    records: dict[str, list[dict[str, Any]]] = {s: [] for s in CLINIKO_STREAMS}
    for line in output.splitlines():
        message = json.loads(line)
        if message.get("type") == "RECORD" and message["stream"] in records:
            records[message["stream"]].append(message["record"])
    return records


def _run(command: list[str]) -> str:
    """The tap's output, or a ReconcileError with the last line it printed."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReconcileError(f"tap-cliniko failed: {last}")
    return done.stdout


def wanted_invoices(records: dict[str, list[dict[str, Any]]], rules: Rules) -> dict[str, Wanted]:
    """Each Cliniko invoice as the mapper turns it into target-paypal's input.

    A reversal is no invoice; one it reverses is REVERSED, with the amount its live reversals
    undo (reconcile_reversals checks what PayPal shows of it).
    """
    wanted: dict[str, Wanted] = {}
    reversed_by: dict[str, Decimal] = defaultdict(Decimal)
    for record in records["invoices"]:
        out = map_record("invoices", record, rules)
        invoice_id = str(record.get("id"))
        if out and out[0].stream == "reversals":
            reversal = out[0].record
            if not reversal.get("withdrawn"):
                reversed_by[reversal["invoice_id"]] += Decimal(reversal["amount"])
            continue
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
            str((header.get("invoicer") or {}).get("tax_id") or ""),
            account=account_key(header.get("paypal_account")) or "",
        )
    for invoice_id in set(reversed_by) & set(wanted):
        wanted[invoice_id] = replace(
            wanted[invoice_id], status="REVERSED", reversed_amount=reversed_by[invoice_id]
        )
    return wanted


def customer_emails(records: dict[str, list[dict[str, Any]]], rules: Rules) -> dict[str, str]:
    """Each patient's email as the sync sends it to PayPal (lower case), by customer id.

    "" for a patient sent without one (`customers.missing_email: without_email`). A merged
    patient's invoices go to the surviving patient's email.
    """
    emails, merged = {}, {}
    for record in records["patients"]:
        out = map_record("patients", record, rules)
        if out and out[0].stream == "customers":
            customer = out[0].record
            if customer.get("merged_into"):
                merged[customer["customer_id"]] = customer["merged_into"]
            else:
                emails[customer["customer_id"]] = (customer["email"] or "").lower()
    for merged_id, survivor in merged.items():
        for _ in range(5):  # a survivor merged later: followed as far as the sync does
            survivor = merged.get(survivor, survivor)
        if survivor in emails:
            emails[merged_id] = emails[survivor]
    return emails


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


def list_accounts(clients: Mapping[str | None, PayPalClient]) -> list[dict[str, Any]]:
    """Every invoice of these accounts (by key; None: the default), each once.

    Two keys may name one account. Each invoice is marked with its account's key (`ACCOUNT`;
    "": the default).
    """
    found: dict[str, dict[str, Any]] = {}
    for key, client in clients.items():
        for invoice in list_paypal(client):
            found.setdefault(str(invoice.get("id")), {**invoice, ACCOUNT: key or ""})
    return list(found.values())


def mark_accounts(
    items: list[dict[str, Any]], paypal: list[dict[str, Any]], wanted: Mapping[str, Wanted]
) -> None:
    """Name on each mismatch the account of its PayPal copy, else the one it should be in."""
    where = {str(invoice.get("id")): invoice.get(ACCOUNT, "") for invoice in paypal}
    for item in items:
        want = wanted.get(item["cliniko_invoice_id"] or "")
        if item["paypal_id"] in where:
            item["account"] = where[item["paypal_id"]]
        elif want is not None:  # missing from PayPal, or several copies
            item["account"] = want.account
