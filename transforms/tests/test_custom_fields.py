"""A patient's custom fields by name: in patient filters, and in the memo and note templates."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from map_test_helpers import assert_contract
from test_mapping import RULES, invoice, one, patient
from test_validate import broken, line_of, validate

from map_cliniko_paypal.custom_fields import by_name
from map_cliniko_paypal.rules import Filter, build

FIELDS = {
    "sections": [
        {
            "name": "Funding",
            "token": "t1",
            "archived": False,
            "fields": [
                {"name": "NDIS number", "type": "text", "token": "t2", "value": " 430123456 "},
                {
                    "name": "Funding type",
                    "type": "radiobuttons",
                    "token": "t3",
                    "options": [
                        {"name": "Self-funded", "token": "t4", "selected": False},
                        {"name": "NDIS plan managed", "token": "t5", "selected": True},
                    ],
                },
                {
                    "name": "Goals",
                    "type": "checkboxes",
                    "token": "t6",
                    "options": [
                        {"name": "Walk", "token": "t7", "selected": True},
                        {"name": "Run", "token": "t8", "selected": False},
                    ],
                    "other": {"enabled": True, "selected": True, "value": "Swim"},
                },
                {"name": "Retired field", "type": "text", "token": "t9", "archived": True,
                 "value": "x"},
                {"name": "Diagnosis", "type": "paragraph", "token": "t10", "value": ""},
            ],
        },
        {"name": "Old", "token": "t11", "archived": True,
         "fields": [{"name": "NDIS number", "type": "text", "token": "t12", "value": "old"}]},
    ]
}


def test_custom_fields_by_name_as_cliniko_shows_them() -> None:
    assert by_name(FIELDS) == {
        "NDIS number": "430123456",
        "Funding type": "NDIS plan managed",
        "Goals": "Walk, Swim",
        "Diagnosis": None,
    }
    assert by_name(None) == {} and by_name({"sections": None}) == {}


def test_a_patient_filter_reads_a_custom_field_by_name() -> None:
    rules = replace(
        RULES,
        filters={
            "patients": (
                Filter(keep="custom('Funding type') != 'NDIS plan managed'", action="skip",
                       reason="billed by the NDIS portal"),
            )
        },
    )
    stream, r = one("patients", patient(custom_fields=FIELDS), rules)
    assert stream == "rejects" and r["action"] == "skip" and "NDIS portal" in r["reason"]
    assert one("patients", patient(custom_fields=None), rules)[0] == "customers"


def test_a_customer_carries_only_the_custom_fields_templates_name() -> None:
    rules = build(
        {
            "invoices": {
                "memo": "Cliniko invoice {number}, {custom[Funding type]}",
                "note": "NDIS number: {custom[NDIS number]}",
            }
        }
    )
    assert rules.custom_field_names == ("Funding type", "NDIS number")
    _, c = one("patients", patient(custom_fields=FIELDS), rules)
    assert c["custom_fields"] == {"Funding type": "NDIS plan managed", "NDIS number": "430123456"}
    assert_contract("customers", c)
    _, h = one("invoices", invoice(), rules)
    # The invoice leaves the placeholders for target-paypal, which has the patient.
    assert h["memo"] == "Cliniko invoice 17, {custom[Funding type]}"
    assert h["note"] == "NDIS number: {custom[NDIS number]}"
    # By default no custom field leaves the mapper (they may be health information).
    _, c = one("patients", patient(custom_fields=FIELDS))
    assert "custom_fields" not in c


def test_validate_catches_a_custom_field_written_wrong(tmp_path: Path) -> None:
    path = broken(tmp_path, "owner {owner}", "owner {owner}, {custom.Funding}")
    result = validate(path)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:{line_of(path, 'custom.Funding')}: invoices.memo")
    assert "custom[Field name]" in result.stdout

    path = broken(tmp_path, 'note: "Thank you', 'note: "NDIS {custom NDIS number} Thank you')
    result = validate(path)
    assert result.returncode == 1 and f"{path}:{line_of(path, 'custom NDIS')}: " in result.stdout

    path = broken(tmp_path, "owner {owner}", "owner {owner}, {custom[Funding type]}")
    assert validate(path).returncode == 0
