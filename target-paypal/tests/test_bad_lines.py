"""Input lines that are not usable Singer messages are parked, one log line each at debug
level and summed up by reason at the end; the run goes on."""

from __future__ import annotations

import json
import re

from target_paypal.store import Store


def test_bad_lines_are_parked_and_the_good_records_written(target, clinic, by_reference) -> None:
    generated = clinic(customers=3, invoices=4)
    early = {"type": "RECORD", "stream": "customers", "record": {"customer_id": "42"}}
    bad = [
        json.dumps(early),  # 1: a RECORD before its SCHEMA
        "not JSON",  # 2
        '{"type": "RECORD", "stream": "invoices", "record": {"invoice_id": "4',  # 3: truncated
        json.dumps({"type": "RECORD", "record": {}}),  # 4: no stream
        json.dumps({"type": "WHAT", "stream": "\x1b[2Jx"}),  # 5: unknown message type
        json.dumps({"type": "RECORD", "stream": "invoices", "record": [1, 2]}),  # 6: not an object
    ]
    done = target.run("\n".join(bad) + "\n\n" + generated.messages(), log_level="debug")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\x1b" not in done.stderr and "Traceback" not in done.stderr
    parked = [line for line in done.stderr.splitlines() if re.search(r"Parked (?!\d)", line)]
    assert len(parked) == 6, parked
    assert all(" DEBUG " in line or "debug" in line.lower() for line in parked), parked
    summed = [line for line in done.stderr.splitlines() if re.search(r"Parked \d", line)]
    assert any("Parked 2 input lines: not valid JSON" in line for line in summed), summed
    assert any("Parked 1 patient: a RECORD for stream 'customers'" in line for line in summed)
    assert "Parked customers record 42 (line 1 of the input)" in parked[0]
    for number, line in zip((2, 3, 4, 5, 6), parked[1:], strict=True):
        assert f"Parked input line {number} " in line and "fix what writes" in line
    letters = Store(target.config["store_url"]).open_dead_letters()
    kept = {(d["stream"], d["record_id"]) for d in letters}
    assert ("customers", "42") in kept
    assert {("input", f"run 1 line {n}") for n in (2, 3, 4, 5, 6)} <= kept
    found = by_reference(target.sandbox)
    wanted = {i for i in generated.invoices if generated.expected_status(i)}
    assert wanted and all(len(found.get(i, [])) == 1 for i in wanted)


def test_a_json_number_where_a_decimal_string_belongs_is_parked_naming_the_field(
    target, clinic, by_reference
) -> None:
    """`"total": 55.0` used to crash the run while parking (Decimal is not JSON serialisable)."""
    generated = clinic(customers=2, invoices=3)
    invoice_id = next(iter(generated.invoices))
    generated.invoices[invoice_id]["total"] = 55.0
    line = generated.lines[invoice_id][0]
    line["quantity"] = 2
    done = target.run(generated.messages(), log_level="debug")  # a line per parked record
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    parked = [line for line in done.stderr.splitlines() if "Parked" in line]
    assert any(f"record {invoice_id}" in p and "total: type string" in p for p in parked), parked
    assert any(f"record {line['line_id']}" in p and "quantity:" in p for p in parked), parked
    letters = Store(target.config["store_url"]).open_dead_letters()
    kept = {(d["stream"], d["record_id"]): d["record"] for d in letters}
    assert kept[("invoices", invoice_id)]["total"] == 55.0, "the record was not kept as it came"
    assert kept[("invoice_lines", line["line_id"])]["quantity"] == 2
    others = [i for i in generated.invoices if i != invoice_id and generated.expected_status(i)]
    found = by_reference(target.sandbox)
    assert others and all(len(found.get(i, [])) == 1 for i in others)


def test_lines_msgspec_refuses_are_read_as_json_reads_them() -> None:
    """NaN, a number out of range and a name cut inside an emoji (a lone surrogate) are JSON to
    singer-sdk's reader; msgspec, which reads every other line, refuses them."""
    import math
    from decimal import Decimal

    from target_paypal.reader import decode_line

    assert decode_line('{"a": 1.10, "b": 2, "c": "x"}') == {"a": Decimal("1.10"), "b": 2, "c": "x"}
    assert math.isnan(decode_line('{"total": NaN}')["total"])
    assert decode_line('{"total": 1e999}')["total"] == Decimal("1e999")
    assert decode_line('{"given_name": "Jo \\ud83d"}') == {"given_name": "Jo \ud83d"}
    for broken in ('{"a": 1', "not JSON"):
        try:
            decode_line(broken)
        except ValueError:
            continue
        raise AssertionError(f"{broken!r} was read as JSON")
