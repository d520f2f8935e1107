"""Holding invoices for approval: the three forms, which rule wins, the basis, and validation."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from map_test_helpers import assert_contract, run_mapper

import cliniko_paypal_contract as contract
from map_cliniko_paypal.approvals import CLINIKO_INVOICE_FIELDS, FIELDS, Approval, rewrite
from map_cliniko_paypal.mapping import map_record
from map_cliniko_paypal.rules import Filter, Rules, check_text, default_text, load

REPO = Path(__file__).resolve().parents[2]
SPEC_SOURCE = "https://docs.api.cliniko.com/_spec/openapi.yaml"
RULES = load()
SECRET = {"Dry needling, left knee", "Acme Health Fund", "1208.44"}
OVER = Approval("over $1,000", "total > 1000")
PAYER = Approval("third-party payer", "invoice_to is set")
DR = Approval("Dr Example's first month", "practitioner_id == '1001' and issue_date < '2027-01-01'")


def invoice(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "3005582995244121309",
        "patient_id": "7783300",
        "practitioner_id": "35805565",
        "business_id": "74899250",
        "number": 17,
        "issue_date": "2025-07-03",
        "status": 10,
        "calculation_method": 2,
        "total_amount": "1208.44",
        "tax_amount": "7.5",
        "invoice_to": None,
        "closed_at": None,
        "archived_at": None,
        "deleted_at": None,
        "notes": "Dry needling, left knee",
        "updated_at": "2025-07-02T18:51:22Z",
        **overrides,
    }


def rules(*held: Approval, **changes: Any) -> Rules:
    return replace(RULES, approvals=held, **changes)


def mapped(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """The invoices record (contract-checked) of a Cliniko invoice."""
    [out] = map_record("invoices", record, rules)
    assert out.stream == "invoices", out.record
    assert_contract("invoices", out.record)
    assert contract.problems("invoices", out.record) is None
    return out.record


def rejected(record: dict[str, Any], rules: Rules) -> dict[str, Any]:
    [out] = map_record("invoices", record, rules)
    assert out.stream == "rejects", out.record
    assert not any(s in json.dumps(out.record) for s in SECRET), out.record
    return out.record


def expected_basis(rule: str, fields: dict[str, Any]) -> str:
    text = json.dumps([rule, fields], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the three forms ----------------------------------------------------------------------------


def test_nothing_is_held_by_default_and_the_record_has_no_approval_key() -> None:
    assert RULES.approvals == () and RULES.alert_after_days == 3
    record = mapped(invoice(invoice_to="Acme Health Fund"), RULES)
    assert "approval" not in record
    # a rule that holds nothing leaves the record exactly as it was (same hash in the target)
    assert mapped(invoice(total_amount="20.00"), rules(OVER)) == mapped(
        invoice(total_amount="20.00"), RULES
    )


def test_approvals_invoices_hold_with_rule_basis_and_alert() -> None:
    held = mapped(invoice(), rules(OVER))
    assert held["target_status"] == "SENT" and held["total"] == "1208.44"
    assert held["approval"] == {
        "rule": "over $1,000",
        "basis": expected_basis("over $1,000", {"total": "1208.44"}),
        "alert_after_days": 3,
    }
    payer = mapped(invoice(invoice_to="Acme Health Fund"), rules(PAYER))
    assert payer["approval"]["rule"] == "third-party payer"
    assert payer["approval"]["basis"] == expected_basis(
        "third-party payer", {"invoice_to": "Acme Health Fund"}
    )
    dr = mapped(invoice(practitioner_id="1001"), rules(DR))
    assert dr["approval"]["basis"] == expected_basis(
        "Dr Example's first month", {"issue_date": "2025-07-03", "practitioner_id": "1001"}
    )
    assert "approval" not in mapped(invoice(practitioner_id="1002"), rules(DR))


def test_alert_after_days_comes_from_the_rules_and_may_be_never() -> None:
    assert mapped(invoice(), rules(OVER, alert_after_days=7))["approval"]["alert_after_days"] == 7
    never = mapped(invoice(), rules(OVER, alert_after_days=None))
    assert never["approval"]["alert_after_days"] is None


def test_status_table_approve_holds_and_maps_to_then() -> None:
    table = {**RULES.status, 10: {"approve": "every open invoice"}}
    held = mapped(invoice(), rules(status=table))
    assert held["target_status"] == "SENT"
    assert held["approval"] == {
        "rule": "status 10: every open invoice",
        "basis": expected_basis("status 10: every open invoice", {"status": 10}),
        "alert_after_days": 3,
    }
    table = {**RULES.status, 20: {"approve": "paid by hand", "then": "PAID"}}
    paid = mapped(invoice(status=20, closed_at="2025-07-03T01:00:00Z"), rules(status=table))
    assert (paid["target_status"], paid["payment_date"], paid["payment_method"]) == (
        "PAID",
        "2025-07-03",
        "OTHER",
    )
    assert paid["approval"]["rule"] == "status 20: paid by hand"


def test_filter_with_action_approve_holds_instead_of_parking() -> None:
    second_site = Filter("business_id == '74899250'", action="approve", reason="second site")
    held = mapped(invoice(business_id="1"), rules(filters={"invoices": (second_site,)}))
    assert held["approval"]["rule"] == "filter invoices[0]: second site"
    assert held["approval"]["basis"] == expected_basis(
        "filter invoices[0]: second site", {"business_id": "1"}
    )
    assert "approval" not in mapped(invoice(), rules(filters={"invoices": (second_site,)}))
    unnamed = Filter("business_id == '74899250'", action="approve")
    held = mapped(invoice(business_id="1"), rules(filters={"invoices": (unnamed,)}))
    assert held["approval"]["rule"] == "filter invoices[0]"
    # a parking filter after it still parks: the invoice does not go out at all
    parking = Filter("issue_date >= '2026-01-01'", reason="too old")
    out = rejected(invoice(business_id="1"), rules(filters={"invoices": (second_site, parking)}))
    assert out["action"] == "park" and "filter invoices[1]: too old" in out["reason"]


def test_the_first_rule_that_holds_wins_status_then_filters_then_approvals() -> None:
    status = {**RULES.status, 10: {"approve": "open"}}
    filters = {"invoices": (Filter("False", action="approve", reason="all"),)}
    everything = rules(OVER, PAYER, status=status, filters=filters)
    record = invoice(invoice_to="Acme Health Fund")
    assert mapped(record, everything)["approval"]["rule"] == "status 10: open"
    assert mapped(record, replace(everything, status=RULES.status))["approval"]["rule"] == (
        "filter invoices[0]: all"
    )
    in_order = rules(OVER, PAYER)
    assert mapped(record, in_order)["approval"]["rule"] == "over $1,000"
    assert mapped(record, rules(PAYER, OVER))["approval"]["rule"] == "third-party payer"
    # once a rule holds it, later conditions are not evaluated (one that would fail parks nothing)
    failing = Approval("broken", "int(notes) > 3")
    assert mapped(record, rules(PAYER, failing))["approval"]["rule"] == "third-party payer"


# --- the basis ----------------------------------------------------------------------------------


def test_basis_is_stable_across_unrelated_edits_and_changes_with_what_the_rule_reads() -> None:
    first = mapped(invoice(), rules(OVER))["approval"]["basis"]
    unrelated = invoice(notes="changed", updated_at="2025-08-01T00:00:00Z", invoice_to="X")
    assert mapped(unrelated, rules(OVER))["approval"]["basis"] == first
    assert mapped(invoice(total_amount="1500.00"), rules(OVER))["approval"]["basis"] != first
    status = rules(status={**RULES.status, 10: {"approve": "open"}})
    basis = mapped(invoice(), status)["approval"]["basis"]
    assert mapped(invoice(total_amount="1500.00"), status)["approval"]["basis"] == basis
    # the rule's name is part of it: another rule holding for the same values is another basis
    renamed = Approval("big invoice", OVER.when)
    assert mapped(invoice(), rules(renamed))["approval"]["basis"] != first


# --- which invoices -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"status": 30},  # VOID in the status table
        {"archived_at": "2025-07-04T00:00:00Z"},
        {"deleted_at": "2025-07-04T00:00:00Z"},
    ],
)
def test_void_is_never_held(fields) -> None:
    filters = {"invoices": (Filter("False", action="approve"),)}
    record = mapped(invoice(**fields), rules(OVER, filters=filters))
    assert record["target_status"] == "VOID" and "approval" not in record


def test_draft_is_never_held_and_paid_is() -> None:
    drafts = rules(OVER, status={**RULES.status, 10: "DRAFT"})
    record = mapped(invoice(), drafts)
    assert record["target_status"] == "DRAFT" and "approval" not in record
    paid = mapped(invoice(status=20, closed_at="2025-07-03T01:00:00Z"), rules(OVER))
    assert paid["target_status"] == "PAID" and paid["approval"]["rule"] == "over $1,000"


# --- conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "is_set"),
    [(None, False), ("", False), ("Acme Health Fund", True), ("0", True)],
)
def test_is_set_and_is_not_set(value, is_set) -> None:
    held = mapped(invoice(invoice_to=value), rules(PAYER))
    assert ("approval" in held) is is_set
    unset = Approval("no payer", "invoice_to is not set")
    assert ("approval" in mapped(invoice(invoice_to=value), rules(unset))) is not is_set


def test_is_set_is_rewritten_outside_strings_only() -> None:
    assert rewrite("invoice_to is set") == "is_set(invoice_to)"
    assert rewrite("notes is not set or x == 'a is set'") == (
        "(not is_set(notes)) or x == 'a is set'"
    )
    assert rewrite("status is None") == "status is None"


def test_a_condition_may_test_membership_of_a_list() -> None:
    some = Approval("some practitioners", "practitioner_id in ('1001', '1002') and status in [10]")
    assert mapped(invoice(practitioner_id="1002"), rules(some))["approval"]["basis"] == (
        expected_basis("some practitioners", {"practitioner_id": "1002", "status": 10})
    )
    assert "approval" not in mapped(invoice(), rules(some))


def test_a_field_missing_from_the_record_is_none() -> None:
    record = invoice()
    del record["invoice_to"]
    assert "approval" not in mapped(record, rules(PAYER))
    no_attendee = Approval("no attendee", "attendee_id == None")
    assert mapped(record, rules(no_attendee))["approval"]["rule"] == "no attendee"
    assert mapped(record, rules(no_attendee))["approval"]["basis"] == expected_basis(
        "no attendee", {"attendee_id": None}
    )


def test_a_condition_that_cannot_be_evaluated_parks_the_invoice_naming_the_rule() -> None:
    out = rejected(invoice(total_amount=""), rules(OVER))
    assert out["action"] == "park"
    assert out["reason"] == (
        "approval rule 'over $1,000' could not be evaluated (TypeError; blank: total "
        "(test with 'is set'))"
    )
    out = rejected(invoice(), rules(Approval("notes", "int(notes) > 3")))
    assert out["reason"] == "approval rule 'notes' could not be evaluated (ValueError)"
    # guarded, it holds only what it can
    guarded = Approval("over $1,000", "total is set and total > 1000")
    assert map_record("invoices", invoice(total_amount=""), rules(guarded))[0].stream == "rejects"
    assert "approval" in mapped(invoice(), rules(guarded))


def test_rules_from_a_file_through_the_singer_mapper(tmp_path: Path) -> None:
    text = default_text().replace(
        "  invoices: []\n",
        "  invoices:\n    - name: over $1,000\n      when: total > 1000\n",
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace("alert_after_days: 3", "alert_after_days: 5"))
    assert load(path).approvals == (OVER,)
    out = run_mapper(
        [
            {"type": "SCHEMA", "stream": "invoices", "schema": {}, "key_properties": ["id"]},
            {"type": "RECORD", "stream": "invoices", "record": invoice()},
            {"type": "RECORD", "stream": "invoices", "record": invoice(total_amount="20")},
        ],
        {"mapping_file": str(path)},
    )
    records = [m["record"] for m in out if m["type"] == "RECORD"]
    assert records[0]["approval"]["rule"] == "over $1,000"
    assert records[0]["approval"]["alert_after_days"] == 5
    assert "approval" not in records[1]


# --- validation ---------------------------------------------------------------------------------

APPROVALS = """\
version: 1
invoices:
  status:
    10: SENT
    20: {approve: "paid by hand", then: PAID}
approvals:
  alert_after_days: 3
  invoices:
    - name: "over $1,000"
      when: "total > 1000"
    - name: "third-party payer"
      when: "invoice_to is set"
filters:
  invoices:
    - keep: "business_id == '1'"
      action: approve
      reason: second site
"""


def problems_of(text: str) -> list[str]:
    return check_text(text, "rules.yaml")[1]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_three_forms_and_the_shipped_examples_validate() -> None:
    assert problems_of(APPROVALS) == []
    examples = re.sub(
        r"  invoices: \[\]\n((?:    # .*\n)+)",
        lambda m: "  invoices:\n" + m.group(1).replace("    # ", "    "),
        default_text(),
    )
    assert examples != default_text()
    assert problems_of(examples) == []
    data = yaml.safe_load(examples)
    assert [e["name"] for e in data["approvals"]["invoices"]] == [
        OVER.name,
        "extra patient information",
        DR.name,
    ]


@pytest.mark.parametrize(
    ("old", "new", "needle", "words"),
    [
        ('"total > 1000"', '"total >"', '"total >"', "not a valid expression"),
        ('"total > 1000"', '"totl > 1000"', "totl", "not a field of a Cliniko invoice: totl"),
        ('"total > 1000"', '"patient_name is set"', "patient_name", "patient_name"),
        (
            '"third-party payer"',
            '"over $1,000"',
            'name: "over $1,000"\n      when: "invoice',
            "already the name",
        ),
        (
            '    - name: "over $1,000"\n      when',
            "    - when",
            'when: "total > 1000"',
            "'name' is a required",
        ),
        ('\n      when: "total > 1000"', "", 'name: "over $1,000"', "'when' is a required"),
        ('when: "total > 1000"', 'when: "total > 1000"\n      why: big', "why: big", "unknown key"),
        ('"total > 1000"', '"max(total, 0) > 1000"', "max(", "unknown function(s) max"),
        ('"total > 1000"', '"(lambda: total)() > 1"', "lambda", "cannot: Lambda"),
        ("alert_after_days: 3", "alert_after_days: 0", "alert_after_days", "whole number of days"),
        ("alert_after_days: 3", "alert_after_days: '3'", "alert_after_days", "whole number"),
        ("alert_after_days: 3", "alert_after_days: 1.5", "alert_after_days", "whole number"),
        ("alert_after_days: 3", "alert_days: 3", "alert_days", "unknown key"),
        ("then: PAID", "then: VOID", "then: VOID", "then: SENT or PAID"),
        (
            "then: PAID}\n",
            "then: PAID}\n  archived: {approve: check}\n",
            "archived:",
            "approve is allowed only in invoices.status",
        ),
        (
            "then: PAID}\n",
            "then: PAID}\n  deleted:\n    approve: check\n",
            "approve: check",
            "approve is allowed only in invoices.status",
        ),
        (
            "filters:\n",
            "filters:\n  patients:\n    - keep: \"email != ''\"\n      action: approve\n",
            "action: approve",
            "use filters.invoices or approvals.invoices",
        ),
        (
            "filters:\n",
            "filters:\n  invoice_items:\n    - keep: \"code != 'X'\"\n      action: approve\n",
            "action: approve",
            "use filters.invoices or approvals.invoices",
        ),
    ],
)
def test_each_mistake_is_reported_with_file_and_line(old, new, needle, words) -> None:
    assert old in APPROVALS
    text = APPROVALS.replace(old, new, 1)
    found = problems_of(text)
    assert len(found) == 1, found
    line = (
        line_of(text, needle) if "\n" not in needle else text[: text.index(needle)].count("\n") + 1
    )
    assert found[0].startswith(f"rules.yaml:{line}: "), (found, line)
    assert words in found[0]


def test_unknown_field_suggests_the_close_one_and_never_prints_values() -> None:
    [problem] = problems_of(APPROVALS.replace("total > 1000", "totl > 1000"))
    assert "(did you mean total?)" in problem


def test_validate_command_reports_an_approval_mistake(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "mapping.yaml"
    path.write_text(APPROVALS.replace("invoice_to is set", "invoice_to is set and"))
    done = subprocess.run(
        [sys.executable, "-m", "map_cliniko_paypal.cli", "validate", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stdout.startswith(f"{path}:{line_of(APPROVALS, 'invoice_to is set')}: ")
    assert "approvals.invoices.1.when: not a valid expression" in done.stdout


# --- the field list -----------------------------------------------------------------------------


def reference_dir() -> Path:
    """Where the API reference lives: CLINIKO_PAYPAL_REFERENCE, default ../shared/reference."""
    return Path(os.environ.get("CLINIKO_PAYPAL_REFERENCE", REPO.parent / "shared" / "reference"))


def test_field_list_is_clinikos_invoice_plus_the_taps_foreign_keys() -> None:
    path = reference_dir() / "cliniko" / "openapi.yaml"
    if not path.exists():
        pytest.skip(
            f"Cliniko's OpenAPI spec not found at {path}: download it from {SPEC_SOURCE} "
            "and set CLINIKO_PAYPAL_REFERENCE to the folder holding cliniko/openapi.yaml"
        )
    spec = yaml.safe_load(path.read_text())
    properties = spec["components"]["schemas"]["Invoice"]["properties"]
    record_link = re.compile(r"/[a-z_]+/\d+/?$")  # a link to one record, as tap-cliniko reads it
    foreign_keys = {
        f"{name}_id"
        for name, node in properties.items()
        if set(node.get("properties", {})) == {"links"}
        and record_link.search(
            node["properties"]["links"]["properties"]["self"].get("example", "").split("?")[0]
        )
    }
    assert foreign_keys >= {"patient_id", "practitioner_id", "business_id"}
    assert set(properties) | foreign_keys == CLINIKO_INVOICE_FIELDS
    conveniences = FIELDS - CLINIKO_INVOICE_FIELDS
    assert conveniences == {"total", "tax"}


def test_field_list_is_what_tap_cliniko_emits_for_invoices() -> None:
    schemas = pytest.importorskip("tap_cliniko.schemas", reason="tap-cliniko is not installed")
    from importlib import resources

    schema = json.loads(resources.files(schemas).joinpath("invoices.json").read_text())
    assert set(schema["properties"]) == CLINIKO_INVOICE_FIELDS
