"""The compiled contract check says exactly what the contract's own check says, record by record.

Valid records of every stream, and thousands of variants of them (each field, and each field of
their objects, set to values of every kind or removed; an unknown field added), are checked
both ways: `contract_check.problems` must give the contract's answer every time. A compiled
check that passed what jsonschema refuses would let a bad record reach PayPal.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from target_harness import make_clinic, reject

import cliniko_paypal_contract as contract
from target_paypal import contract_check

VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.5, Decimal("1.5"), Decimal("10"), Decimal("-3"), "", "x",
    "x" * 600, "12", "2026-02-30", "2026-02-28", "2026-02-28T10:00:00Z", "2026-02-28 10:00",
    "not-a-date", "0.10", "-5.00", "1e3", {}, [], ["x"], {"x": 1}, "a\u202eb", "tab\there",
    "ok@example.com", "not an email", "MOBILE", "FAX", "park", "skip", "SENT", "VOID", "AUD",
]  # fmt: skip


def samples() -> dict[str, list[dict[str, Any]]]:
    clinic = make_clinic(customers=4, invoices=6, seed=3)
    invoices = list(clinic.invoices.values())
    held = {"rule": "over 1,000", "basis": "a" * 64, "alert_after_days": 3}
    return {
        "customers": [
            *clinic.customers.values(),
            {
                **next(iter(clinic.customers.values())),
                "business_name": "Coastal Plan Management",
                "merged_into": "9",
                "custom_fields": {"NDIS number": "430123456", "Goals": None},
            },
        ],
        "invoices": [
            *invoices,
            {**invoices[0], "approval": held},
            {**invoices[1], "bill_to": "Coastal", "additional_info": "NDIS", "appointment_id": "9"},
        ],
        "invoice_lines": [ln for lines in clinic.lines.values() for ln in lines],
        "practitioners": [{"practitioner_id": "7", "user_id": "70"}],
        "owners": [{"user_id": "70", "owner": "Physiotherapy"}],
        "appointments": [{"appointment_id": "9", "service_date": "2026-02-28"}],
        "reversals": [
            {"reversal_id": "8", "invoice_id": "7", "amount": "12.50", "paid": "refund",
             "reversal_date": "2026-02-28", "withdrawn": False, "refund_method": "CASH"}
        ],
        "rejects": [reject("patients", "5"), reject("invoices", "6", action="skip")],
    }


def variants(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The record, and copies with one field (or one field of one of its objects) changed."""
    yield record
    yield {**record, "unknown_field": "x"}
    for key, value in record.items():
        yield {k: v for k, v in record.items() if k != key}
        for other in VALUES:
            yield {**record, key: other}
        if isinstance(value, dict):
            for inner in value:
                changed = copy.deepcopy(record)
                del changed[key][inner]
                yield changed
                for other in VALUES:
                    changed = copy.deepcopy(record)
                    changed[key][inner] = other
                    yield changed


@pytest.mark.parametrize("stream", sorted(contract.KEYS))
def test_the_compiled_check_answers_as_the_contract_does(stream: str) -> None:
    assert contract_check.compiled(stream) is not None, "every contract schema is compiled"
    valid = invalid = 0
    for record in samples()[stream]:
        for variant in variants(record):
            expected = contract.problems(stream, variant)
            assert contract_check.problems(stream, variant) == expected, (stream, variant)
            valid, invalid = valid + (expected is None), invalid + (expected is not None)
    assert valid >= 10 and invalid >= 30  # both answers were put to the test


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"lines": {"type": "array", "items": {}}}},
        {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        {"type": "object", "properties": {"a": {"type": "string", "const": "x"}}},
        {"type": "object", "additionalProperties": {"$ref": "#/$defs/x"}},
    ],
)
def test_a_schema_with_more_than_plain_keywords_is_left_to_the_contract(schema: dict) -> None:
    assert not contract_check.plain(schema)
