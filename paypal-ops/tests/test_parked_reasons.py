"""Every reason target-paypal and the mapper park a record for is classified, explicitly.

The reasons are made by the code itself: Cliniko records the mapper rejects (map_record with the
shipped rules plus a few more), records and lines target-paypal cannot stage, invoices held by
their patient, incomplete, refused by PayPal (the sandbox) or numbered like another PayPal
invoice. The target runs as a process on them, and each open dead letter in its store must land
in the kind this test expects, never in the table's fallback. A second check reads the sources:
each reason template the mapper, the reader and the composer can raise has an example here, so
a reason added there fails this test until it is classified.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from target_harness import input_messages

import map_cliniko_paypal.mapping
import target_paypal.compose
import target_paypal.reader
from map_cliniko_paypal.mapping import map_record
from map_cliniko_paypal.rules import Filter, load
from paypal_ops.parked_reasons import HELD_BY_RULES, NEEDS_PERSON, REASONS, UNKNOWN, classify
from target_paypal.accounts import Accounts, AccountUnusable, credentials
from target_paypal.client import PayPalClient, PayPalError
from target_paypal.store import Store
from target_paypal.store.retry import cause_of

SHIPPED = load()
RULES = replace(
    SHIPPED,
    status={**SHIPPED.status, 50: {"park": "on hold: ask the practice manager"}},
    filters={
        **SHIPPED.filters,
        "patients": (Filter(keep="first_name != 'Filtered'", reason="test patients"),),
        "invoices": (*SHIPPED.filters["invoices"], Filter(keep="number != '13' or 1/0")),
    },
)


def patient(patient_id: str, **changes: object) -> dict:
    record = {"id": patient_id, "first_name": "Ann", "last_name": "Lee", "email": "a@x.example"}
    return {**record, **changes}


def cliniko_invoice(invoice_id: str, **changes: object) -> dict:
    record = {
        "id": invoice_id,
        "number": "7",
        "patient_id": "100",
        "issue_date": "2026-05-01",
        "status": 10,
        "calculation_method": 2,
        "total_amount": "110.00",
        "tax_amount": "10.00",
    }
    return {**record, **changes}


def item(item_id: str, **changes: object) -> dict:
    record = {"id": item_id, "invoice_id": "999", "name": "Consult", "quantity": "1"}
    return {**record, "unit_price": "100.00", "tax_rate": "10", **changes}


AUD_1 = {"currency_code": "AUD", "value": "1.00"}
P_NO_EMAIL, P_FILTERED, P_BROKEN = "300000000000000001", "300000000000000002", "300000000000000003"
# Cliniko records the mapper rejects, and the kind each one's dead letter must be.
CLINIKO = [
    ("no-email-patient", "patients", patient(P_NO_EMAIL, email="")),
    ("filter", "patients", patient(P_FILTERED, first_name="Filtered")),
    ("contract", "patients", patient(P_BROKEN, last_name="L" * 141)),
    ("cliniko-field", "patients", {"first_name": "No id"}),
    ("open-credit", "invoices", cliniko_invoice("400000000000000001", status=40)),
    ("status-rule", "invoices", cliniko_invoice("400000000000000002", status=50)),
    ("filter", "invoices", cliniko_invoice("400000000000000003", issue_date="1999-01-01")),
    ("rules-incomplete", "invoices", cliniko_invoice("400000000000000004", status=99)),
    ("rules-incomplete", "invoices", cliniko_invoice("400000000000000005", number="1" * 22)),
    ("rules-incomplete", "invoices", cliniko_invoice("400000000000000006", number="13")),
    ("cliniko-field", "invoices", cliniko_invoice("400000000000000007", calculation_method=7)),
    ("cliniko-field", "invoices", cliniko_invoice("400000000000000008", status="open")),
    ("cliniko-field", "invoices", cliniko_invoice("400000000000000009", issue_date="soon")),
    ("cliniko-field", "invoices", cliniko_invoice("400000000000000010", total_amount="a")),
    ("cliniko-field", "invoices", cliniko_invoice("400000000000000011", number="")),
    ("tax-rate", "invoice_items", item("500000000000000001", tax_rate="15")),
    ("tax-rate", "invoice_items", item("500000000000000002", tax_rate="150")),
    ("negative-line", "invoice_items", item("500000000000000003", quantity="-1")),
    ("negative-line", "invoice_items", item("500000000000000004", unit_price="-5")),
    ("cliniko-field", "invoice_items", item("500000000000000005", name=" ")),
    ("cliniko-field", "invoice_items", item("500000000000000006", quantity="many")),
    ("cliniko-field", "practitioners", {"user_id": "1"}),
]


def rejects() -> tuple[list[dict], dict[tuple[str, str], str]]:
    """The mapper's rejects of CLINIKO, and the kind expected for each dead letter."""
    records, expected = [], {}
    for kind, stream, record in CLINIKO:
        [out] = map_record(stream, record, RULES)
        assert out.stream == "rejects", f"{stream} {record} was not rejected"
        records.append(out.record)
        expected[(f"rejects:{stream}", out.record["record_id"])] = kind
    return records, expected


def target_input(data) -> tuple[str, dict[tuple[str, str], str]]:
    """Input that parks one record of every kind the target parks for itself."""
    ok, shared_a, shared_b, bad = (str(600000000000000000 + n) for n in range(4))
    template = next(iter(data.customers.values()))
    customers = [
        {**template, "customer_id": ok, "email": "ok@x.example"},
        {**template, "customer_id": shared_a, "email": "family@x.example"},
        {**template, "customer_id": shared_b, "email": "family@x.example"},
        {"customer_id": bad, "email": 5},  # breaks the contract
    ]
    first = next(iter(data.invoices))
    header, line = data.invoices[first], data.lines[first][0]
    invoices, lines, expected = [], [], {("customers", bad): "contract"}

    def invoice(n: int, kind: str, customer: str, count: int = 1, **changes: object) -> str:
        invoice_id = str(700000000000000000 + n)
        invoices.append(
            {
                **copy.deepcopy(header),
                "invoice_id": invoice_id,
                "customer_id": customer,
                "invoice_number": f"T-{n}",
                "target_status": "SENT",
                "line_count": None,
                "total": f"{10 * count:.2f}",
                "tax_inclusive": True,
                **changes,
            }
        )
        for k in range(count):
            lines.append(
                {
                    **line,
                    "line_id": f"{invoice_id}{k:03d}",
                    "invoice_id": invoice_id,
                    "position": k,
                    "quantity": "1",
                    "unit_amount": "10.00",
                    "discount_percent": None,
                }
            )
        if kind:
            expected[("invoices", invoice_id)] = kind
        return invoice_id

    invoice(1, "no-email-invoice", P_NO_EMAIL)
    invoice(2, "filter-patient", P_FILTERED)
    invoice(3, "patient-problem", P_BROKEN)
    invoice(4, "shared-email", shared_a)
    invoice(5, "shared-email", shared_b)
    invoice(6, "currency", ok, currency_code="NZD")
    invoice(7, "incomplete", ok, line_count=2)  # one of its two lines arrives
    invoice(8, "incomplete", "600000000000000099")  # its patient never arrives
    invoice(12, "incomplete", ok, total="999.00")  # its lines do not add up to it
    invoice(9, "paypal-refused", ok, count=101)  # PayPal takes 100 items at most
    invoice(10, "number-taken", ok, invoice_number="TAKEN-1")
    invoice(11, "", ok)  # written to PayPal: no letter
    lines.append({**lines[-1], "line_id": "800000000000000001", "invoice_id": "9" * 18})
    lines[-1].pop("quantity")  # breaks the contract
    expected[("invoice_lines", "800000000000000001")] = "contract"
    records, mapper_expected = rejects()
    expected.update(mapper_expected)
    early = {"type": "RECORD", "stream": "customers", "record": {"customer_id": "42"}}
    expected[("customers", "42")] = "bad-line"
    bad_lines = [
        json.dumps(early),  # a RECORD before its SCHEMA
        "not JSON",
        json.dumps({"type": "RECORD", "record": {}}),  # no stream
        json.dumps({"type": "WHAT"}),
        json.dumps({"type": "RECORD", "stream": "invoices", "record": [1, 2]}),
    ]
    text = "\n".join(bad_lines) + "\n"
    text += input_messages("rejects", "record_id", records)
    text += input_messages("customers", "customer_id", customers)
    text += input_messages("invoices", "invoice_id", invoices)
    text += input_messages("invoice_lines", "line_id", lines)
    return text, expected


def test_every_reason_the_target_parks_for_is_classified(target, clinic) -> None:
    sandbox = target.sandbox
    paypal = PayPalClient(
        sandbox.paypal_url, sandbox.paypal_client_id, sandbox.paypal_client_secret
    )
    paypal.create_invoice(  # made by hand in PayPal, with the number a Cliniko invoice has
        {
            "detail": {"invoice_number": "TAKEN-1", "currency_code": "AUD"},
            "primary_recipients": [{"billing_info": {"email_address": "c@x.example"}}],
            "items": [{"name": "Consult", "quantity": "1", "unit_amount": AUD_1}],
        }
    )
    text, expected = target_input(clinic(customers=2, invoices=1))
    done = target.run(text)
    assert done.returncode == 0, done.stderr[-3000:]

    letters = Store(target.config["store_url"]).open_dead_letters()
    got = {}
    for letter in letters:
        found = classify(letter["stream"], letter["reason"])
        assert found.reason is not UNKNOWN, f"not classified: {letter['stream']} {letter['reason']}"
        got[(letter["stream"], letter["record_id"])] = found.reason.key
    lines = {k: v for k, v in got.items() if k[0] == "input"}
    assert set(lines.values()) == {"bad-line"} and len(lines) == 4, lines
    assert {k: v for k, v in got.items() if k[0] != "input"} == expected
    # Both kinds, as the page groups them.
    kinds = {r.key: r.kind for r in REASONS}
    assert kinds["no-email-invoice"] == HELD_BY_RULES and kinds["paypal-refused"] == NEEDS_PERSON
    assert {kinds[k] for k in got.values()} == {HELD_BY_RULES, NEEDS_PERSON}
    # What the page shows of a reason: IDs and field names, never the patient's details.
    details = [classify(d["stream"], d["reason"]) for d in letters]
    assert any(d.patient == P_NO_EMAIL for d in details)
    assert not any("Lee" in d.detail or "@" in d.detail for d in details)

    # Every reason the sources can raise is classified: a letter above shows it, or (a reason
    # this input does not reach) it is classified as the target would store it.
    reasons = [d["reason"] for d in letters]
    for pattern, sample, stream in source_reasons():
        if not any(re.search(pattern, r) for r in reasons):
            assert classify(stream, sample).reason is not UNKNOWN, f"not classified: {sample}"


# Where each reason is raised, and how the target stores it (stream, prefix).
SOURCES = {
    map_cliniko_paypal.mapping: ("Reject", 0, "rejects:invoices", "parked by the mapper: "),
    target_paypal.reader: ("_bad", 1, "input", ""),
    target_paypal.compose: ("NotReady", 0, "invoices", "incomplete at the end of the input: "),
}


def source_reasons() -> list[tuple[str, str, str]]:
    """(regular expression, a sample as stored, its stream) of each reason the sources raise."""
    found = []
    for module, (name, position, stream, prefix) in SOURCES.items():
        tree = ast.parse(Path(str(module.__file__)).read_text())
        calls = [
            n.args[position]
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and name in ast.unparse(n.func)
        ]
        assert len(calls) >= 3, f"{module.__name__}: the scan found {len(calls)} {name}(...)"
        for node in calls:
            parts = node.values if isinstance(node, ast.JoinedStr) else [node]
            if all(isinstance(p, (ast.Constant, ast.FormattedValue)) for p in parts):
                texts = [p.value if isinstance(p, ast.Constant) else None for p in parts]
                pattern = "".join(".+" if t is None else re.escape(str(t)) for t in texts)
                sample = prefix + "".join("1" if t is None else str(t) for t in texts)
                found.append((pattern, sample, stream))
    return found


def test_a_reason_the_table_does_not_know_needs_a_person() -> None:
    for stream, reason in (("invoices", "something new went wrong"), ("rejects:patients", None)):
        found = classify(stream, reason)
        assert found.reason is UNKNOWN and found.reason.kind == NEEDS_PERSON
    # A rules reason under another stream is not held back: the stream is part of the kind.
    assert classify("input", "parked by the mapper: no usable email").reason.kind == NEEDS_PERSON
    keys = [r.key for r in REASONS]
    assert len(keys) == len(set(keys)) and UNKNOWN.key not in keys
    assert all(r.kind in (NEEDS_PERSON, HELD_BY_RULES) and r.todo for r in REASONS)


def test_reversals_the_sync_parks_are_classified_for_a_person(target, clinic) -> None:
    data = clinic(customers=3, invoices=12)
    assert target.run(data.messages()).returncode == 0
    sent = [i for i, h in sorted(data.invoices.items()) if h["target_status"] == "SENT"][0]
    paid = [i for i, h in sorted(data.invoices.items()) if h["target_status"] == "PAID"][0]
    reversals = [
        {"reversal_id": "91", "invoice_id": sent, "amount": "1.00", "paid": "park"},
        {"reversal_id": "92", "invoice_id": paid, "amount": "1.00", "paid": "park"},
    ]
    assert target.run(input_messages("reversals", "reversal_id", reversals)).returncode == 0
    letters = Store(target.config["store_url"]).open_dead_letters()
    kinds = {d["record_id"]: classify(d["stream"], d["reason"]).reason for d in letters}
    assert {k: r.key for k, r in kinds.items()} == {
        sent: "reversed-in-part", paid: "reversed-paid"
    }
    assert {r.kind for r in kinds.values()} == {NEEDS_PERSON}


def test_the_mappers_bill_to_and_reversal_reasons_are_classified() -> None:
    # As map_cliniko_paypal/bill_to.py, reversals.py and mapping.py word them.
    samples = {
        "patient_extra_information is longer than PayPal's 40 characters for additional_info: "
        "shorten it in Cliniko, or set bill_to.extra_information to note": "cliniko-field",
        "patient_extra_information makes the memo longer than PayPal's 500 characters: "
        "shorten it in Cliniko": "cliniko-field",
        "total_amount is zero: a reversal of nothing": "cliniko-field",
        "invoices.line_description is longer than PayPal's 1000 characters": "rules-incomplete",
    }
    for reason, key in samples.items():
        found = classify("rejects:invoices", "parked by the mapper: " + reason)
        assert found.reason.key == key, reason


def test_an_invoice_of_a_business_with_no_invoicer_is_classified_naming_the_business() -> None:
    from map_cliniko_paypal.invoicers import Invoicers, NoInvoicer

    with pytest.raises(NoInvoicer) as raised:  # as the mapper words it
        Invoicers(by_business={"1001": {"business_name": "North"}}).for_business("1002")
    found = classify("rejects:invoices", "parked by the mapper: " + str(raised.value))
    assert (found.reason.key, found.reason.kind, found.detail) == ("no-invoicer", "person", "1002")


def test_a_paypal_account_that_cannot_be_used_is_for_whoever_runs_the_pipeline() -> None:
    key = "NORTH_PAYPAL_CLIENT_ID:NORTH_PAYPAL_CLIENT_SECRET"

    class Refusing:  # a client whose token PayPal refuses, as target-paypal's Accounts sees it
        def for_account(self, client_id: str, secret: str) -> Refusing:
            return self

        def access_token(self) -> str:
            raise PayPalError(401, "invalid_client", operation="token")

    environ = {"NORTH_PAYPAL_CLIENT_ID": "north", "NORTH_PAYPAL_CLIENT_SECRET": "s3cret-value"}
    reasons = []
    with pytest.raises(AccountUnusable) as unset:  # as target-paypal words them
        credentials(key, {"NORTH_PAYPAL_CLIENT_ID": "north"})
    reasons.append(str(unset.value))
    with pytest.raises(AccountUnusable) as refused:
        Accounts(SimpleNamespace(client=Refusing()), environ).writer(key)
    reasons.append(str(refused.value))
    reasons += [  # an invoice its business's account no longer holds (the other way round too)
        f"PayPal account default: invoice 2001 is there as CLK-7 (UNPAID), and the rules now put "
        f"its business in {key}: cancel it there (the next run then creates it in the new "
        "account), or put the rules back",
        f"PayPal account {key}: invoice 2001 is there as CLK-7 (DRAFT), and the rules now put "
        "its business in default: cancel it there (the next run then creates it in the new "
        "account), or put the rules back",
    ]
    for reason in reasons:
        found = classify("invoices", reason)
        assert (found.reason.key, found.reason.kind) == ("paypal-account", NEEDS_PERSON), reason
        assert found.reason.todo.startswith("For whoever runs the sync: ")
        assert found.detail == reason.removeprefix("PayPal account ")
        assert "s3cret-value" not in found.detail
        assert cause_of(reason).key == "paypal-account"  # and the target retries it every run
    assert "NORTH_PAYPAL_CLIENT_SECRET not set" in reasons[0] and "HTTP 401" in reasons[1]
