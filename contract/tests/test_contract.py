"""The contract package on its own: every stream has a schema and a key, the stream table is one
table read both ways, and a check names fields, never the values it found."""

from __future__ import annotations

import pytest

import cliniko_paypal_contract as contract

VALID_LINE = {
    "line_id": "300000000000000001",
    "invoice_id": "200000000000000001",
    "position": 0,
    "name": "Consultation",
    "quantity": "1",
    "unit_amount": "95.00",
    "tax_name": "GST-free",
    "tax_percent": "0",
}


@pytest.mark.parametrize("stream", sorted(contract.KEYS))
def test_every_stream_has_a_schema_that_requires_its_key(stream: str) -> None:
    schema = contract.schema(stream)
    assert schema["type"] == "object"
    assert contract.KEYS[stream] in schema["properties"]
    assert contract.KEYS[stream] in schema.get("required", [])


def test_the_stream_table_is_the_same_both_ways() -> None:
    assert set(contract.CLINIKO_STREAM) == set(contract.KEYS) - {"rejects"}
    for target, cliniko in contract.CLINIKO_STREAM.items():
        if target != "reversals":  # a Cliniko invoice that reverses another
            assert contract.TARGET_STREAM[cliniko] == target
    assert contract.CLINIKO_STREAM["reversals"] == "invoices"


def test_a_valid_record_has_no_problem() -> None:
    assert contract.problems("invoice_lines", VALID_LINE) is None


def test_a_problem_names_the_field_and_never_the_value() -> None:
    secret = "Zelda Quixote's physio, left knee"
    record = {**VALID_LINE, "unit_amount": "ninety", "name": secret * 20}
    problem = contract.problems("invoice_lines", record)
    assert problem is not None and problem.startswith("does not match the contract: ")
    assert "unit_amount" in problem and "name" in problem
    assert "ninety" not in problem and "Zelda" not in problem


def test_a_missing_key_is_named() -> None:
    record = {k: v for k, v in VALID_LINE.items() if k != "invoice_id"}
    assert "invoice_id is missing" in (contract.problems("invoice_lines", record) or "")


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\u202e", "\u2066", "\ud800", "\x9b"])
def test_unsafe_text_is_refused_wherever_it_is(char: str) -> None:
    record = {**VALID_LINE, "name": f"Consult{char}ation"}
    problem = contract.problems("invoice_lines", record) or ""
    assert "name: control characters, bidi overrides or lone surrogates" in problem
    assert char not in problem


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "é", "🦘"])
def test_line_breaks_tabs_accents_and_emoji_are_allowed(char: str) -> None:
    assert not contract.UNSAFE_TEXT.search(f"Consult{char}ation")


VALID_INVOICE = {
    "invoice_id": "200000000000000001",
    "customer_id": "100000000000000001",
    "invoice_number": "CLK-17",
    "invoice_date": "2025-07-03",
    "currency_code": "AUD",
    "target_status": "SENT",
    "total": "1208.44",
}
APPROVAL = {"rule": "over $1,000", "basis": "ab" * 32, "alert_after_days": 3}


@pytest.mark.parametrize(
    "approval",
    [APPROVAL, {**APPROVAL, "alert_after_days": None}, {"rule": "r", "basis": "0" * 64}, None],
)
def test_an_invoice_may_carry_an_approval(approval: dict | None) -> None:
    assert contract.problems("invoices", VALID_INVOICE) is None  # the key is optional
    assert contract.problems("invoices", {**VALID_INVOICE, "approval": approval}) is None


@pytest.mark.parametrize(
    ("approval", "where"),
    [
        ({**APPROVAL, "basis": "AB" * 32}, "approval.basis: pattern"),
        ({**APPROVAL, "basis": "ab" * 31}, "approval.basis: pattern"),
        ({**APPROVAL, "rule": ""}, "approval.rule: minLength"),
        ({**APPROVAL, "rule": "r" * 201}, "approval.rule: maxLength"),
        ({**APPROVAL, "alert_after_days": 0}, "approval.alert_after_days: minimum"),
        ({**APPROVAL, "alert_after_days": "3"}, "approval.alert_after_days: type"),
        ({"basis": "ab" * 32}, "approval: required (rule is missing)"),
        ({**APPROVAL, "by": "Jo"}, "approval: additionalProperties"),
    ],
)
def test_a_malformed_approval_is_named(approval: dict, where: str) -> None:
    problem = contract.problems("invoices", {**VALID_INVOICE, "approval": approval}) or ""
    assert where in problem
