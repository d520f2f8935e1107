"""target-paypal fed by a source other than Cliniko: `examples/studio-invoices.singer` (a yoga
studio's sales, as its own mapper would write the contract) reaches PayPal exactly as
`examples/README.md` says: two invoices, to the cent, with their statuses and recipients."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from target_harness import states_passed_on

from cliniko_paypal_contract import KEYS, schema

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "studio-invoices.singer"
# What PayPal must hold, by reference (the source's invoice id): worked out by hand in the
# examples' README, not by the target's code.
EXPECTED = {
    "ny-inv-0001": {
        "invoice_number": "NY-0001",
        "status": "UNPAID",
        "total": "187.00",
        "tax": "17.00",
        "due": "187.00",
        "paid": None,
        "payments": [],
        "email": "alex.river@example.com",
        "name": {"given_name": "Alex", "surname": "River"},
        "items": ["10-class pass", "Mat hire"],
    },
    "ny-inv-0002": {
        "invoice_number": "NY-0002",
        "status": "MARKED_AS_PAID",
        "total": "104.90",
        "tax": "8.64",
        "due": "0.00",
        "paid": "104.90",
        "payments": [("2026-11-20", "CREDIT_CARD", "104.90")],
        "email": "sam.lee@example.org",
        "name": {"given_name": "Sam", "surname": "Lee"},
        "items": ["Private session (60 min)", "Herbal tea"],
    },
}


def messages() -> list[dict]:
    return [json.loads(line) for line in EXAMPLE.read_text().splitlines()]


def test_the_example_speaks_the_contract() -> None:
    schemas = [m for m in messages() if m["type"] == "SCHEMA"]
    assert [m["stream"] for m in schemas] == ["customers", "invoices", "invoice_lines"]
    for message in schemas:
        stream = message["stream"]
        assert message["key_properties"] == [KEYS[stream]], stream
        assert message["schema"] == schema(stream), (
            f"{EXAMPLE.name}: the {stream} SCHEMA is not the contract's: replace its schema "
            f"with cliniko_paypal_contract.schema({stream!r})"
        )


@pytest.fixture
def applied(target):
    """The example fed to the target on a fresh sandbox PayPal; the run and PayPal's invoices."""
    done = target.run(EXAMPLE.read_text())
    assert done.returncode == 0, done.stderr[-3000:]
    return done, target.sandbox.paypal.invoices()


def test_paypal_holds_exactly_the_examples_invoices(applied) -> None:
    _, invoices = applied
    by_reference = {invoice["detail"]["reference"]: invoice for invoice in invoices}
    assert len(invoices) == len(by_reference) == 2
    assert set(by_reference) == set(EXPECTED)
    for reference, wanted in EXPECTED.items():
        invoice = by_reference[reference]
        amount = invoice["amount"]
        billing = invoice["primary_recipients"][0]["billing_info"]
        payments = invoice.get("payments") or {}
        found = {
            "invoice_number": invoice["detail"]["invoice_number"],
            "status": invoice["status"],
            "total": amount["value"],
            "tax": amount["breakdown"]["tax_total"]["value"],
            "due": invoice["due_amount"]["value"],
            "paid": (payments.get("paid_amount") or {}).get("value"),
            "payments": [
                (p.get("payment_date"), p.get("method"), p["amount"]["value"])
                for p in payments.get("transactions") or []
            ],
            "email": billing["email_address"],
            "name": billing["name"],
            "items": [item["name"] for item in invoice["items"]],
        }
        money = ("total", "tax", "due", "paid")
        for key in money:  # to the cent: "187.0" would not do
            assert found[key] is None or Decimal(found[key]).as_tuple().exponent == -2, key
        assert found == wanted, reference
        assert amount["currency_code"] == "AUD"


def test_the_examples_state_is_passed_on_and_nothing_is_parked(applied) -> None:
    done, _ = applied
    state = next(m["value"] for m in messages() if m["type"] == "STATE")
    assert states_passed_on(done.stdout)[-1] == state
    assert "Parked" not in done.stderr
    assert (
        "read 2 customers, 4 invoice_lines, 2 invoices; invoices: created 2; 0 records parked"
        in (done.stderr)
    )


def test_the_example_again_writes_nothing(target) -> None:
    assert target.run(EXAMPLE.read_text()).returncode == 0
    target.sandbox.paypal.clear_call_log()
    again = target.run(EXAMPLE.read_text())
    assert again.returncode == 0, again.stderr[-3000:]
    assert target.sandbox.paypal.writes() == []
