"""Driving target-paypal in tests: Singer input generated from a seeded clinic, the target run
as a process (as Meltano runs it), and what PayPal then holds. Shared by the target's tests and
paypal-ops' (root pyproject puts this folder on pytest's path)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from cliniko_paypal_contract import schema

CENT = Decimal("0.01")
STATUS_IN_PAYPAL = {"DRAFT": "DRAFT", "SENT": "UNPAID", "PAID": "MARKED_AS_PAID"}


def line_total(line: dict, inclusive: bool) -> Decimal:
    """What the line adds to the invoice total, computed here independently of the code."""
    gross = Decimal(line["quantity"]) * Decimal(line["unit_amount"])
    if line.get("discount_amount"):
        discount = Decimal(line["discount_amount"])
    else:
        pct = Decimal(line.get("discount_percent") or "0")
        discount = (gross * pct / 100).quantize(CENT, ROUND_HALF_UP)
    net = gross - discount
    if inclusive:
        return net.quantize(CENT, ROUND_HALF_UP)
    tax = (net * Decimal(line.get("tax_percent") or "0") / 100).quantize(CENT, ROUND_HALF_UP)
    return (net + tax).quantize(CENT, ROUND_HALF_UP)


@dataclass
class Clinic:
    """Generated input for the target and what PayPal should then hold."""

    customers: dict[str, dict] = field(default_factory=dict)
    invoices: dict[str, dict] = field(default_factory=dict)
    lines: dict[str, list[dict]] = field(default_factory=dict)

    def messages(self, state: dict | None = None, only: set[str] | None = None) -> str:
        out = []
        for stream, key, records in (
            ("customers", "customer_id", list(self.customers.values())),
            ("invoices", "invoice_id", list(self.invoices.values())),
            ("invoice_lines", "line_id", [ln for v in self.lines.values() for ln in v]),
        ):
            if only and stream not in only:
                continue
            out.append(
                {
                    "type": "SCHEMA",
                    "stream": stream,
                    "schema": schema(stream),
                    "key_properties": [key],
                }
            )
            out += [{"type": "RECORD", "stream": stream, "record": r} for r in records]
        out.append({"type": "STATE", "value": state or {"bookmarks": {"invoices": {"n": 1}}}})
        return "".join(json.dumps(m) + "\n" for m in out)

    def expected_total(self, invoice_id: str) -> Decimal:
        header = self.invoices[invoice_id]
        live = [ln for ln in self.lines[invoice_id] if not ln.get("deleted")]
        return sum((line_total(ln, bool(header["tax_inclusive"])) for ln in live), Decimal("0"))

    def expected_status(self, invoice_id: str) -> str | None:
        return STATUS_IN_PAYPAL.get(self.invoices[invoice_id]["target_status"])


def make_clinic(customers: int = 12, invoices: int = 20, seed: int = 1) -> Clinic:
    rnd = random.Random(seed)
    clinic = Clinic()
    for n in range(customers):
        cid = str(10**17 + n)
        clinic.customers[cid] = {
            "customer_id": cid,
            "email": f"patient{n}@example.com",
            "given_name": f"Given{n}",
            "surname": f"Surname{n}",
            "phone": {
                "country_code": "61",
                "national_number": f"4{n:08d}",
                "phone_type": "MOBILE" if n % 2 else "HOME",
            },
            "address": {
                "address_line_1": f"{n} Test St",
                "address_line_2": f"Unit {n}" if n % 2 else None,
                "admin_area_2": "Sydney",
                "admin_area_1": "NSW",
                "postal_code": "2000",
                "country_code": "AU",
            },
        }
    statuses = ["SENT"] * 5 + ["PAID"] * 3 + ["DRAFT"] * 1 + ["VOID"] * 1
    for n in range(invoices):
        iid = str(2 * 10**17 + n)
        inclusive = rnd.random() < 0.3
        status = statuses[n % len(statuses)]
        clinic.invoices[iid] = {
            "invoice_id": iid,
            "customer_id": rnd.choice(list(clinic.customers)),
            "invoice_number": f"CLN-{1000 + n}",
            "invoice_date": f"2026-0{1 + n % 9}-1{n % 10}",
            "currency_code": "AUD",
            "tax_inclusive": inclusive,
            "target_status": status,
            "line_count": 0,
            "payment_term": {"term_type": "NET_30"},
            "note": "Thank you for visiting",
            "memo": f"Practitioner {n % 4}",
            "payment_date": "2026-09-30" if status == "PAID" else None,
            "payment_method": "CREDIT_CARD" if status == "PAID" else None,
        }
        items = []
        for k in range(rnd.randint(1, 4)):
            gst = rnd.random() < 0.4
            line = {
                "line_id": f"{iid}{k}",
                "invoice_id": iid,
                "position": k,
                "name": "Consultation" if not gst else "Theraband",
                "quantity": str(rnd.choice([1, 1, 2, 3])),
                "unit_amount": f"{rnd.randint(1500, 22000) / 100:.2f}",
                "tax_name": "GST" if gst else "GST-free",
                "tax_percent": "10" if gst else "0",
                "discount_percent": "10" if rnd.random() < 0.15 else None,
            }
            items.append(line)
        clinic.lines[iid] = items
        clinic.invoices[iid]["line_count"] = len(items) if n % 2 else None
        clinic.invoices[iid]["total"] = str(clinic.expected_total(iid))
    return clinic


class TargetRunner:
    """Runs `target-paypal` as a process, as Meltano would, with a config of its own (and a
    SQLite store in `tmp` unless `store_url` names another, e.g. the `store_url` fixture's)."""

    def __init__(self, sandbox, tmp: Path, store_url: str | None = None) -> None:
        self.sandbox = sandbox
        self.config = {
            "client_id": sandbox.paypal_client_id,
            "client_secret": sandbox.paypal_client_secret,
            "base_url": sandbox.paypal_url,
            "store_url": store_url or f"sqlite:///{tmp / 'store.db'}",
            "invoicer_email": sandbox.paypal.rules.merchant_email,
            "invoicer_business_name": "Sunrise Allied Health",
            "invoicer_website": "https://sunrise-clinic.example",
            "invoicer_tax_id": "51 824 753 556",
            "currency": "AUD",
            "max_concurrency": 4,
            "max_requests_per_second": 0,
            "retry_backoff_base_ms": 20,
            "retry_max_tries": 8,
        }
        self.path = tmp / "config.json"

    def run(
        self, stdin: str, log_level: str | None = None, env: dict | None = None, **overrides
    ) -> subprocess.CompletedProcess:
        """Run the target on `stdin`; `log_level` "debug" also logs each parked record."""
        self.path.write_text(json.dumps({**self.config, **overrides}))
        env = {**os.environ, **(env or {})}
        if log_level:  # singer-sdk reads <PLUGIN>_LOGLEVEL (plugin_base._plugin_log_level)
            env["TARGET_PAYPAL_LOGLEVEL"] = log_level
        return subprocess.run(
            [sys.executable, "-m", "target_paypal.target", "--config", str(self.path)],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )


def states_passed_on(stdout: str) -> list[dict]:
    """The STATE values the target wrote, in order.

    A Singer target's standard output holds only the state values it passes on to Meltano, one
    bare JSON value a line (no `{"type": "STATE"}` envelope): anything else there is a bug.
    """
    states = []
    for number, line in enumerate(stdout.splitlines(), 1):
        try:
            states.append(json.loads(line))
        except ValueError:
            raise AssertionError(
                f"line {number} of the target's standard output is not a state value: "
                f"{line[:200]!r}"
            ) from None
    return states


def paypal_by_reference(sandbox) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for invoice in sandbox.paypal.invoices():
        found.setdefault(invoice["detail"].get("reference"), []).append(invoice)
    return found


def input_messages(stream: str, key: str, records: list[dict]) -> str:
    """Singer input of one stream: its SCHEMA (the contract's), then its records."""
    messages = [
        {"type": "SCHEMA", "stream": stream, "schema": schema(stream), "key_properties": [key]}
    ]
    messages += [{"type": "RECORD", "stream": stream, "record": r} for r in records]
    return "".join(json.dumps(m) + "\n" for m in messages)


def reject(stream: str, record_id: str, action: str = "park", reason: str = "no usable email"):
    """A record of the mapper's rejects stream."""
    return {"stream": stream, "record_id": record_id, "reason": reason, "action": action}


# --- fixtures (conftest.py of each package's tests imports them) --------------------------------


@pytest.fixture
def target(make_sandbox, tmp_path):
    """A target runner on a fresh sandbox of its own, with a store of its own."""
    sandbox = make_sandbox(patients=5, invoices=5)
    return TargetRunner(sandbox, tmp_path)


@pytest.fixture
def clinic():
    """make_clinic: generated input for the target and what PayPal should then hold."""
    return make_clinic


@pytest.fixture
def by_reference():
    """PayPal's invoices (in the sandbox) by their reference, the Cliniko invoice id."""
    return paypal_by_reference
