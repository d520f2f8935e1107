"""tap-cliniko output from the sandbox through the mapper: contract, totals to the cent."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal

from map_test_helpers import assert_contract, run_mapper, run_tap, tap_config

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def paypal_line_total(line: dict, tax_inclusive: bool) -> Decimal:
    """PayPal's per-line amount: quantity x unit price less discount, plus tax when exclusive."""
    gross = cents(Decimal(line["quantity"]) * Decimal(line["unit_amount"]))
    if line.get("discount_amount"):
        discount = Decimal(line["discount_amount"])
    elif line.get("discount_percent"):
        discount = cents(gross * Decimal(line["discount_percent"]) / 100)
    else:
        discount = Decimal("0")
    net = gross - discount
    if tax_inclusive:
        return net
    return net + cents(net * Decimal(line.get("tax_percent") or "0") / 100)


def test_sandbox_clinic_maps_to_the_contract_and_adds_up(make_sandbox) -> None:
    sandbox = make_sandbox(seed=42, patients=60, invoices=120)
    tap_messages = run_tap(
        tap_config(sandbox),
        ["patients", "invoices", "invoice_items", "practitioners", "users", "businesses"],
    )
    out = run_mapper(tap_messages)

    records: dict[str, list[dict]] = defaultdict(list)
    for message in out:
        if message["type"] == "RECORD":
            records[message["stream"]].append(message["record"])
    # businesses are read but not forwarded: the target only gets its own streams
    assert set(records) - {"reversals"} == {  # reversals when the seed reversed one
        "customers",
        "invoices",
        "invoice_lines",
        "rejects",
        "practitioners",
        "owners",
    }
    for stream, rows in records.items():
        for row in rows:
            assert_contract(stream, row)

    # STATE passes through unchanged and in order
    tap_states = [m["value"] for m in tap_messages if m["type"] == "STATE"]
    assert [m["value"] for m in out if m["type"] == "STATE"] == tap_states

    # every Cliniko record is accounted for: mapped or rejected with a reason
    tap_counts = Counter(m["stream"] for m in tap_messages if m["type"] == "RECORD")
    rejected = Counter(r["stream"] for r in records["rejects"])
    assert len(records["customers"]) + rejected["patients"] == tap_counts["patients"]
    mapped = len(records["invoices"]) + len(records["reversals"])
    assert mapped + rejected["invoices"] == tap_counts["invoices"]
    assert len(records["invoice_lines"]) + rejected["invoice_items"] == tap_counts["invoice_items"]
    assert len(records["practitioners"]) == tap_counts["practitioners"]
    assert len(records["owners"]) == tap_counts["users"]
    assert rejected["invoices"] > 0 and all(r["reason"] for r in records["rejects"])

    # statuses seen in the seeded clinic, and the tax methods
    assert {h["target_status"] for h in records["invoices"]} >= {"SENT", "PAID", "VOID"}
    assert {h["tax_inclusive"] for h in records["invoices"]} == {True, False}

    lines = defaultdict(list)
    for line in records["invoice_lines"]:
        if not line["deleted"]:
            lines[line["invoice_id"]].append(line)
    checked = 0
    for header in records["invoices"]:
        computed = sum(
            (
                paypal_line_total(line, header["tax_inclusive"])
                for line in lines[header["invoice_id"]]
            ),
            Decimal("0.00"),
        )
        assert computed == Decimal(header["total"]), header["invoice_id"]
        checked += 1
    assert checked == len(records["invoices"]) > 50
