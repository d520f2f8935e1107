"""paypal-ops tests: target-paypal run as a process on seeded clinic input (target_harness), and
an approval queue the target's own applier builds in the sandbox's PayPal (`queue`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from target_harness import by_reference, clinic, make_clinic, target

from target_paypal.applier import DirtyInvoiceApplier
from target_paypal.apply import InvoiceWriter
from target_paypal.client import PayPalClient
from target_paypal.compose import Invoicer
from target_paypal.store import Store
from target_paypal.summary import run_summary

__all__ = ["by_reference", "clinic", "target", "queue", "Clinic", "BIG", "THIRD_PARTY"]

BIG = {"rule": "large-total", "basis": "b-1", "alert_after_days": 3}
THIRD_PARTY = {"rule": "third-party-payer", "basis": "b-2", "alert_after_days": 5}


@dataclass
class Clinic:
    """A store, the sandbox's PayPal, and invoices some of which a rule holds."""

    sandbox: Any
    url: str
    store: Store
    data: Any
    held: dict[str, dict]  # invoice id -> its approval mark
    free: list[str]  # invoices no rule holds

    @property
    def writer(self) -> dict[str, Any]:
        return {
            "invoicer": {
                "email_address": self.sandbox.paypal.rules.merchant_email,
                "business_name": "Sunrise Allied Health",
                "website": None,
                "tax_id": None,
            },
            "send_invoices": True,
        }

    def client(self) -> PayPalClient:
        return PayPalClient(
            self.sandbox.paypal_url,
            self.sandbox.paypal_client_id,
            self.sandbox.paypal_client_secret,
            max_requests_per_second=0,
            backoff_base_seconds=0.02,
        )

    def run(self) -> dict[str, str]:
        """What a run of the target does with what is staged: each invoice's outcome."""
        run_id = self.store.start_run()
        self.store.save_writer_settings(self.writer)
        writer = InvoiceWriter(self.client(), Invoicer(**self.writer["invoicer"]), True)
        DirtyInvoiceApplier(self.store, writer, 2, run_id, progress_interval=0).apply_dirty(
            final=True
        )
        summary = run_summary({}, self.store.run_outcomes(run_id), 0, 1.0)
        self.store.finish_run(run_id, "succeeded", summary)
        return self.store.run_invoice_outcomes(run_id)

    def paypal(self, invoice_id: str) -> list[dict]:
        """PayPal's copies of a Cliniko invoice (by its reference), deleted drafts gone."""
        return [
            i for i in self.sandbox.paypal.invoices() if i["detail"].get("reference") == invoice_id
        ]

    def status(self, invoice_id: str) -> str | None:
        copies = self.paypal(invoice_id)
        assert len(copies) <= 1, copies
        return copies[0]["status"] if copies else None

    def personal(self) -> set[str]:
        found = set()
        for c in self.data.customers.values():
            found |= {c["email"], c["given_name"], c["surname"]}
        return found


@pytest.fixture
def queue(make_sandbox, tmp_path) -> Clinic:
    """Six open or paid invoices: four held by two rules (waiting as drafts), two sent."""
    sandbox = make_sandbox(patients=3, invoices=3)
    data = make_clinic(customers=3, invoices=12, seed=7)
    wanted = [i for i, h in data.invoices.items() if h["target_status"] in ("SENT", "PAID")][:6]
    held = {wanted[0]: BIG, wanted[1]: BIG, wanted[2]: THIRD_PARTY, wanted[3]: BIG}
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    store.stage_customers(list(data.customers.values()))
    headers = [{**data.invoices[i], **({"approval": held[i]} if i in held else {})} for i in wanted]
    store.stage_invoices(headers)
    store.stage_lines([line for i in wanted for line in data.lines[i]])
    clinic = Clinic(sandbox, url, store, data, held, [i for i in wanted if i not in held])
    outcomes = clinic.run()
    assert {i: outcomes[i] for i in held} == dict.fromkeys(held, "held"), outcomes
    for invoice_id in held:
        assert clinic.status(invoice_id) == "DRAFT"
    for invoice_id in clinic.free:
        assert clinic.status(invoice_id) in ("UNPAID", "MARKED_AS_PAID")
    return clinic
