"""Dry run: the whole sync with PayPal's write endpoints replaced by a plan.

`PlanningClient` passes reads (token, get, search) to PayPal and answers writes itself, keeping a
simulated copy of each invoice it "wrote" so the applier's later steps (send, then pay what is
due) see what PayPal would show. The target works on a scratch copy of its store, so the dry run
changes nothing the real run relies on (`scratch_copy`), and passes no STATE on, so Meltano's
bookmarks stay put.
"""

from __future__ import annotations

import copy
import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from target_paypal.amounts import invoice_total
from target_paypal.client import PayPalClient
from target_paypal.private_files import create_private_file, open_private, write_private
from target_paypal.store import Store, StoreError
from target_paypal.store.clinics import clinic_sqlite_url

OPERATIONS = ("create", "update", "send", "record_payment", "record_refund", "cancel", "delete")


def _as_line(item: dict[str, Any]) -> dict[str, Any]:
    """A PayPal item in the contract's line shape, for PayPal's arithmetic in amounts.py."""
    discount = item.get("discount") or {}
    return {
        "quantity": item["quantity"],
        "unit_amount": item["unit_amount"]["value"],
        "tax_percent": (item.get("tax") or {}).get("percent"),
        "discount_percent": discount.get("percent"),
        "discount_amount": (discount.get("amount") or {}).get("value"),
    }


def _with_amount(invoice: dict[str, Any]) -> dict[str, Any]:
    inclusive = bool((invoice.get("configuration") or {}).get("tax_inclusive"))
    total = invoice_total([_as_line(i) for i in invoice.get("items") or []], inclusive)
    currency = (invoice.get("detail") or {}).get("currency_code", "AUD")
    invoice["amount"] = {"currency_code": currency, "value": str(total)}
    invoice["due_amount"] = dict(invoice["amount"])
    return invoice


class PlanningClient:
    """PayPalClient's interface: reads from PayPal, writes simulated (nothing is sent)."""

    def __init__(self, real: PayPalClient, ids: Iterator[int] | None = None) -> None:
        self.real = real
        self.base_url = real.base_url
        self.max_tries = real.max_tries
        self.max_requests_per_second = real.max_requests_per_second
        self._simulated: dict[str, dict[str, Any]] = {}
        self._ids = ids or itertools.count(1)  # shared by every account's (ids are unique)
        self._lock = threading.Lock()

    def for_account(self, client_id: str, client_secret: str) -> PlanningClient:
        """A planning client of another PayPal account (reads it, simulates its writes)."""
        return PlanningClient(self.real.for_account(client_id, client_secret), self._ids)

    @property
    def calls(self) -> int:
        """HTTP requests sent to PayPal so far (reads only: writes are simulated)."""
        return self.real.calls

    def access_token(self, renew: bool = False, tries: int | None = None) -> str:
        """The real token: a dry run still reads PayPal."""
        return self.real.access_token(renew, tries)

    def get_invoice(self, paypal_id: str) -> dict[str, Any] | None:
        """This run's simulated copy when it wrote the invoice, else PayPal's."""
        with self._lock:
            if paypal_id in self._simulated:
                return copy.deepcopy(self._simulated[paypal_id])
        if paypal_id.startswith("PLANNED-"):
            return None
        return self.real.get_invoice(paypal_id)

    def find_by_reference(self, reference: str) -> list[dict[str, Any]]:
        """Search PayPal itself; invoices planned in this run are not found this way."""
        return self.real.find_by_reference(reference)

    def find_by_number(self, invoice_number: str) -> list[dict[str, Any]]:
        """Search PayPal itself by invoice number."""
        return self.real.find_by_number(invoice_number)

    def account_is_empty(self) -> bool:
        """Ask PayPal itself (a read)."""
        return self.real.account_is_empty()

    def pause(self, attempt: int) -> None:
        """No wait: planned writes never lose their answer."""

    def _keep(self, invoice: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._simulated[invoice["id"]] = invoice
        return copy.deepcopy(invoice)

    def _change(self, paypal_id: str, **fields: Any) -> dict[str, Any]:
        current = self.get_invoice(paypal_id) or {"id": paypal_id}
        return self._keep({**current, **fields})

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        """Plan a create: a simulated draft with a PLANNED-<n> id and PayPal's amounts."""
        planned = f"PLANNED-{next(self._ids)}"
        return self._keep(_with_amount({**copy.deepcopy(body), "id": planned, "status": "DRAFT"}))

    def replace_invoice(self, paypal_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Plan a full replace: the new body, keeping the invoice's status."""
        current = self.get_invoice(paypal_id) or {}
        status = current.get("status", "DRAFT")
        return self._keep(_with_amount({**copy.deepcopy(body), "id": paypal_id, "status": status}))

    def send_invoice(self, paypal_id: str, send_to_recipient: bool = True) -> None:
        """Plan a send: the simulated invoice becomes UNPAID."""
        self._change(paypal_id, status="UNPAID")

    def record_payment(self, paypal_id: str, payment: dict[str, Any]) -> str:
        """Plan a payment: the simulated invoice is marked paid with nothing left due."""
        currency = payment["amount"]["currency_code"]
        self._change(
            paypal_id, status="MARKED_AS_PAID", due_amount={"currency_code": currency, "value": "0"}
        )
        return "PLANNED-PAYMENT"

    def record_refund(self, paypal_id: str, refund: dict[str, Any]) -> str:
        """Plan a refund: the simulated invoice shows it, refunded in part or in full."""
        current = self.get_invoice(paypal_id) or {}
        refunds = copy.deepcopy(current.get("refunds") or {"transactions": []})
        planned = f"PLANNED-REFUND-{next(self._ids)}"
        refunds["transactions"].append({**refund, "refund_id": planned, "type": "EXTERNAL"})
        refunded = sum(Decimal(t["amount"]["value"]) for t in refunds["transactions"])
        whole = refunded >= Decimal((current.get("amount") or {}).get("value") or "0")
        status = "MARKED_AS_REFUNDED" if whole else "PARTIALLY_REFUNDED"
        self._change(paypal_id, status=status, refunds=refunds)
        return planned

    def cancel_invoice(self, paypal_id: str) -> None:
        """Plan a cancel: the simulated invoice becomes CANCELLED."""
        self._change(paypal_id, status="CANCELLED")

    def delete_invoice(self, paypal_id: str) -> None:
        """Plan a delete: the simulated copy is dropped."""
        with self._lock:
            self._simulated.pop(paypal_id, None)


def build_plan(store: Store, run_id: int) -> dict[str, Any]:
    """What the run would do: invoices by outcome and PayPal operations, with totals and GST."""
    outcomes = store.run_invoice_outcomes(run_id)
    headers = store.invoice_headers(set(outcomes))
    by_outcome: dict[str, dict[str, Any]] = {}
    for invoice_id, outcome in outcomes.items():
        _add(by_outcome, outcome, headers.get(invoice_id))
    by_operation: dict[str, dict[str, Any]] = {op: _empty() for op in OPERATIONS}
    for entry in store.audit_log(run_id):
        if entry["operation"] in by_operation:
            _add(by_operation, entry["operation"], headers.get(entry["invoice_id"]))
    return {
        "run_id": run_id,
        "invoices": dict(sorted(by_outcome.items())),
        "operations": by_operation,
    }


def _empty() -> dict[str, Any]:
    return {"count": 0, "total": "0.00", "gst": "0.00"}


def _add(table: dict[str, dict[str, Any]], key: str, header: dict[str, Any] | None) -> None:
    row = table.setdefault(key, _empty())
    row["count"] += 1
    if header:
        row["total"] = str(Decimal(row["total"]) + Decimal(header.get("total") or "0"))
        row["gst"] = str(Decimal(row["gst"]) + Decimal(header.get("tax_total") or "0"))


def describe_plan(plan: dict[str, Any]) -> list[str]:
    """The plan as text lines: invoices by outcome, then PayPal writes, with totals and GST."""
    lines = ["Plan (dry run: nothing was written to PayPal)", "  Invoices:"]
    for outcome, row in plan["invoices"].items():
        lines.append(
            f"    {outcome:<12} {row['count']:7d}   total {row['total']:>12}   GST {row['gst']}"
        )
    lines.append("  PayPal writes it would make:")
    for operation, row in plan["operations"].items():
        lines.append(
            f"    {operation:<14} {row['count']:5d}   total {row['total']:>12}   GST {row['gst']}"
        )
    return lines


def write_plan(plan: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write the plan as plan.json and plan.txt in `folder` (0600; folders made 0700)."""
    as_json, as_text = folder / "plan.json", folder / "plan.txt"
    write_private(as_json, json.dumps(plan, indent=2) + "\n")
    write_private(as_text, "\n".join(describe_plan(plan)) + "\n")
    return as_json, as_text


def scratch_copy(url: str, clinic: str | None, folder: Path, logger: Any) -> str:
    """A dry run's store: a copy of the (clinic's) SQLite store, or an empty one for others.

    The copy is consistent (SQLite's backup API, so pages still in the WAL come too). Either
    way the scratch store is store.db in `folder`.
    """
    scratch = folder / "store.db"
    url = clinic_sqlite_url(url, clinic) if url.startswith("sqlite:///") else url
    source = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if source is not None and source.exists():
        create_private_file(scratch)  # the copy holds what the store holds: owner only
        try:
            with sqlite3.connect(source) as src, sqlite3.connect(scratch) as dst:
                src.backup(dst)
            key = Path(f"{source}.key")  # the email key (store/email_key.py) goes with it
            if key.exists():
                with open_private(Path(f"{scratch}.key"), "wb") as out:
                    out.write(key.read_bytes())
        except sqlite3.Error as error:
            raise StoreError(
                f"the store {source} cannot be copied for a dry run ({error}): if it is "
                "corrupt, restore it from a backup; if it is locked, let the other run finish"
            ) from None
    elif source is None:
        logger.warning("Dry run on an empty scratch store: only SQLite stores are copied")
    return f"sqlite:///{scratch}"
