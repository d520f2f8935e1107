"""map-cliniko-paypal on small hand-written records: each stream, rules, rejects, dates, filters."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import yaml
from map_test_helpers import assert_contract, run_mapper

from map_cliniko_paypal.mapper import rules_fingerprint
from map_cliniko_paypal.mapping import local_date, map_record
from map_cliniko_paypal.rules import Filter, default_text, load

RULES = load()
SECRET = {"Deborah", "Villegas", "deb@example.com", "0423 414 363", "Dry needling, left knee"}


def patient(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "7783300",
        "first_name": "Deborah",
        "preferred_first_name": None,
        "last_name": "Villegas",
        "email": "deb@example.com",
        "invoice_email": None,
        "patient_phone_numbers": [
            {"phone_type": "Mobile", "number": "0423 414 363", "normalized_number": "+61423414363"}
        ],
        "address_1": "63 John Nook",
        "address_2": None,
        "city": "Berrymouth",
        "state": "VIC",
        "post_code": "2964",
        "country_code": None,
        "archived_at": None,
        "deleted_at": None,
        "updated_at": "2024-03-15T04:37:32Z",
        **overrides,
    }


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
        "total_amount": "208.44",
        "tax_amount": "7.5",
        "closed_at": None,
        "archived_at": None,
        "deleted_at": None,
        "notes": "Dry needling, left knee",
        "updated_at": "2025-07-02T18:51:22Z",
        **overrides,
    }


def item(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "2565389055562016412",
        "invoice_id": "3005582995244121309",
        "name": "Heat Pack",
        "code": "PRD-HP",
        "quantity": "1.0",
        "unit_price": "24.99",
        "tax_name": "GST",
        "tax_rate": "10.0",
        "is_monetary_discount": None,
        "discount_percentage": None,
        "discounted_amount": "0.00",
        "archived_at": None,
        "deleted_at": None,
        "updated_at": "2025-07-02T18:51:22Z",
        **overrides,
    }


def one(stream: str, record: dict[str, Any], rules=RULES) -> tuple[str, dict[str, Any]]:
    [out] = map_record(stream, record, rules)
    if out.stream == "rejects":
        assert not any(s in json.dumps(out.record) for s in SECRET), out.record
    assert_contract(out.stream, out.record)
    return out.stream, out.record


def test_patient_to_customer() -> None:
    stream, c = one("patients", patient())
    assert stream == "customers"
    assert c == {
        "customer_id": "7783300",
        "email": "deb@example.com",
        "given_name": "Deborah",
        "surname": "Villegas",
        "business_name": None,
        "phone": {"country_code": "61", "national_number": "423414363", "phone_type": "MOBILE"},
        "address": {
            "address_line_1": "63 John Nook",
            "address_line_2": None,
            "admin_area_2": "Berrymouth",
            "admin_area_1": "VIC",
            "postal_code": "2964",
            "country_code": "AU",
        },
        "shared_email": "park",
        "updated_at": "2024-03-15T04:37:32Z",
    }


def test_preferred_name_invoice_email_and_national_phone() -> None:
    _, c = one(
        "patients",
        patient(
            preferred_first_name="Deb",
            invoice_email="accounts@example.com",
            patient_phone_numbers=[{"phone_type": "Home", "number": "(02) 9876 5432"}],
        ),
    )
    assert (c["given_name"], c["email"]) == ("Deb", "accounts@example.com")
    assert c["phone"] == {
        "country_code": "61",
        "national_number": "298765432",
        "phone_type": "HOME",
    }


@pytest.mark.parametrize("emails", [{"email": None}, {"email": "not-an-email"}, {"email": "  "}])
def test_patient_without_usable_email_is_rejected_without_personal_data(emails) -> None:
    stream, r = one("patients", patient(**emails))
    assert stream == "rejects"
    assert r["stream"] == "patients" and r["record_id"] == "7783300"
    assert "email" in r["reason"]


def test_missing_email_skip_rule_skips_the_patient_with_its_reason() -> None:
    out = map_record("patients", patient(email=None), replace(RULES, missing_email="skip"))
    assert [o.stream for o in out] == ["rejects"]
    assert out[0].record["action"] == "skip" and "no usable email" in out[0].record["reason"]
    assert out[0].record["customer_id"] == patient()["id"]


def test_missing_email_is_parked_by_default() -> None:
    stream, r = one("patients", patient(email=None, invoice_email=None))
    assert stream == "rejects" and r["action"] == "park"


def test_without_email_sends_a_patient_with_no_email_without_one() -> None:
    rules = replace(RULES, missing_email="without_email")
    stream, c = one("patients", patient(email=None, invoice_email="  "), rules)
    assert stream == "customers" and c["email"] is None
    assert c["customer_id"] == patient()["id"] and c["given_name"] == "Deborah"
    assert_contract("customers", c)


def test_without_email_still_parks_an_invalid_email_to_be_corrected() -> None:
    rules = replace(RULES, missing_email="without_email")
    stream, r = one("patients", patient(email="deb@example", invoice_email=None), rules)
    assert stream == "rejects" and r["action"] == "park"
    assert "not a valid address" in r["reason"] and "deb@example" not in r["reason"]


def test_shared_email_rule_travels_with_the_customer() -> None:
    # The mapper keeps no state; target-paypal, which holds every customer, applies the rule.
    _, c = one("patients", patient(), replace(RULES, shared_email="allow"))
    assert c["shared_email"] == "allow"


def test_invoice_header() -> None:
    stream, h = one("invoices", invoice())
    assert stream == "invoices"
    assert h == {
        "invoice_id": "3005582995244121309",
        "customer_id": "7783300",
        "practitioner_id": "35805565",
        "appointment_id": None,
        "invoice_number": "CLK-17",
        "invoice_date": "2025-07-03",
        "currency_code": "AUD",
        "tax_inclusive": False,
        "target_status": "SENT",
        "payment_term": {"term_type": "NET_30"},
        "note": "Thank you for visiting the clinic.",
        "memo": "Cliniko invoice 17, owner {owner}",
        "line_description": None,
        "payment_date": None,
        "payment_method": None,
        "total": "208.44",
        "tax_total": "7.50",
        "updated_at": "2025-07-02T18:51:22Z",
        "bill_to": None,
    }
    assert "line_count" not in h


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"status": 10}, "SENT"),
        ({"status": 20, "closed_at": "2025-07-03T01:00:00Z"}, "PAID"),
        ({"status": 30}, "VOID"),
        ({"status": 10, "archived_at": "2025-07-04T00:00:00Z"}, "VOID"),
        ({"status": 20, "deleted_at": "2025-07-04T00:00:00Z"}, "VOID"),
    ],
)
def test_status_table(fields, status) -> None:
    _, h = one("invoices", invoice(**fields))
    assert h["target_status"] == status
    assert (h["payment_method"] == "OTHER") == (status == "PAID")


def test_open_credit_and_unknown_status_are_rejected_with_reasons() -> None:
    stream, r = one("invoices", invoice(status=40))
    assert stream == "rejects" and r["reason"].startswith("status 40: open credit")
    stream, r = one("invoices", invoice(status=99))
    assert stream == "rejects" and "status 99" in r["reason"]


def test_status_table_is_configurable() -> None:
    rules = replace(RULES, status={**RULES.status, 30: "DRAFT", 40: {"skip": "not synced"}})
    assert one("invoices", invoice(status=30), rules)[1]["target_status"] == "DRAFT"
    stream, r = one("invoices", invoice(status=40), rules)
    assert stream == "rejects" and r["action"] == "skip" and r["reason"] == "status 40: not synced"
    assert r["invoice_id"] == invoice()["id"]


def test_tax_inclusive_and_exclusive() -> None:
    assert one("invoices", invoice(calculation_method=3))[1]["tax_inclusive"] is True
    assert one("invoices", invoice(calculation_method=2))[1]["tax_inclusive"] is False
    stream, r = one("invoices", invoice(calculation_method=7))
    assert stream == "rejects" and "calculation_method" in r["reason"]


def test_invoice_number_longer_than_25_is_rejected() -> None:
    stream, r = one("invoices", invoice(number=12345), replace(RULES, number_prefix="X" * 21))
    assert stream == "rejects" and "invoice_number" in r["reason"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (invoice(patient_id=None), "patient_id"),
        (invoice(issue_date=None), "issue_date"),
        (invoice(total_amount="lots"), "total_amount"),
        (item(unit_price=None), "unit_price"),
        (item(quantity="x1"), "quantity"),
        (item(invoice_id=""), "invoice_id"),
        (item(unit_price="NaN"), "unit_price"),
        (item(unit_price="-Infinity"), "unit_price"),
        (item(unit_price="-5.00"), "unit_price is negative"),
        (item(quantity="-1"), "quantity is negative"),
        (item(tax_rate="150"), "tax_rate is not a percentage"),
        (item(tax_rate="-10"), "tax_rate is not a percentage"),
        (item(tax_rate="15.0"), "tax_rate 15 is not one of the clinic's rates (0, 10 in"),
    ],
)
def test_unmappable_records_are_rejected_naming_the_field(record, field) -> None:
    stream = "invoice_items" if "unit_price" in record else "invoices"
    out, r = one(stream, record, replace(RULES, filters={}))
    assert out == "rejects" and field in r["reason"] and r["record_id"] == record["id"]


def test_invoice_item_to_line() -> None:
    stream, line = one("invoice_items", item(name="Dry needling, left knee " * 20))
    assert stream == "invoice_lines"
    assert (
        line["name"] == ("Dry needling, left knee " * 20)[:200].strip() or len(line["name"]) == 200
    )
    assert len(line["name"]) <= 200
    assert (line["quantity"], line["unit_amount"], line["tax_name"], line["tax_percent"]) == (
        "1",
        "24.99",
        "GST",
        "10",
    )
    assert line["description"] is None and line["position"] is None and line["deleted"] is False
    assert "discount_amount" not in line and "discount_percent" not in line


def test_control_characters_are_removed_and_emoji_and_accents_kept() -> None:
    _, customer = one(
        "patients",
        patient(
            first_name="Zo\u00eb\x00\x1b[31m", last_name="\u202eO'Brien \U0001f600 e\u0301\ud83d"
        ),
    )
    assert (customer["given_name"], customer["surname"]) == (
        "Zo\u00eb",
        "O'Brien \U0001f600 \u00e9",
    )
    _, line = one("invoice_items", item(name="Massage\t\x1b]0;t\x07\U0001f486\u200d\u2640\ufe0f\n"))
    assert line["name"] == "Massage \U0001f486\u200d\u2640\ufe0f"


def test_gst_free_line_and_deleted_line() -> None:
    _, line = one(
        "invoice_items", item(tax_name=None, tax_rate="0.0", deleted_at="2025-07-05T00:00:00Z")
    )
    assert line["tax_percent"] == "0" and line["tax_name"] is None and line["deleted"] is True


def test_discounts() -> None:
    _, money = one("invoice_items", item(is_monetary_discount=True, discounted_amount="5.5"))
    assert money["discount_amount"] == "5.50" and "discount_percent" not in money
    _, percent = one(
        "invoice_items",
        item(is_monetary_discount=False, discount_percentage="12.50", discounted_amount="3.12"),
    )
    assert percent["discount_percent"] == "12.5" and "discount_amount" not in percent
    _, zero = one("invoice_items", item(is_monetary_discount=False, discount_percentage="0.0"))
    assert "discount_percent" not in zero and "discount_amount" not in zero


@pytest.mark.parametrize(
    ("utc", "local"),
    [
        # Sydney leaves daylight saving at 03:00 on Sunday 7 April 2024 (UTC+11 -> UTC+10)
        ("2024-04-06T13:30:00Z", "2024-04-07"),  # +11: 00:30 on the 7th (a fixed +10 says the 6th)
        ("2024-04-07T13:30:00Z", "2024-04-07"),  # +10: 23:30 on the 7th (a fixed +11 says the 8th)
        ("2024-04-07T14:00:00Z", "2024-04-08"),
        # and enters it at 02:00 on Sunday 6 October 2024 (UTC+10 -> UTC+11)
        ("2024-10-05T13:30:00Z", "2024-10-05"),
        ("2024-10-06T13:30:00Z", "2024-10-07"),
    ],
)
def test_dates_are_in_the_clinics_zone_across_daylight_saving(utc, local) -> None:
    assert local_date(utc, "Australia/Sydney", "closed_at") == local
    _, h = one("invoices", invoice(status=20, closed_at=utc))
    assert h["payment_date"] == local


def test_payment_date_falls_back_to_updated_at() -> None:
    _, h = one("invoices", invoice(status=20, closed_at=None, updated_at="2024-04-06T13:30:00Z"))
    assert h["payment_date"] == "2024-04-07"


def test_filters_park_or_skip() -> None:
    rejecting = replace(RULES, filters={"invoices": (Filter("issue_date >= '2024-01-01'"),)})
    assert one("invoices", invoice(issue_date="2024-05-01"), rejecting)[0] == "invoices"
    stream, r = one("invoices", invoice(issue_date="2023-12-31"), rejecting)
    assert stream == "rejects" and "filter invoices[0]" in r["reason"] and r["action"] == "park"
    skipping = replace(RULES, filters={"invoices": (Filter("business_id == '1'", "skip"),)})
    stream, r = one("invoices", invoice(business_id="2"), skipping)
    assert stream == "rejects" and r["action"] == "skip"
    # A skipped item stays in the stream, marked, so the target can still check the invoice
    # against Cliniko's total while leaving the line off the PayPal invoice.
    leaving_out = replace(
        RULES, filters={"invoice_items": (Filter("code != 'PRD-HP'", action="skip"),)}
    )
    stream, line = one("invoice_items", item(), leaving_out)
    assert stream == "invoice_lines" and "filter invoice_items[0]" in line["excluded"]
    _, line = one("invoice_items", item(code="SRV-1"), leaving_out)
    assert "excluded" not in line
    broken = replace(RULES, filters={"patients": (Filter("no_such_field == 1"),)})
    stream, r = one("patients", patient(), broken)
    assert stream == "rejects" and "could not be evaluated" in r["reason"]


def test_other_streams_are_not_forwarded() -> None:
    assert map_record("appointments", {"id": "1"}, RULES) == []


def test_owner_by_the_practitioners_user_email() -> None:
    rules = replace(RULES, owners_by_email={"jo@clinic.example": "Physio team"})
    _, owner = one("users", {"id": "7", "email": "Jo@Clinic.example", "updated_at": None}, rules)
    assert owner == {"user_id": "7", "owner": "Physio team", "updated_at": None}
    _, other = one("users", {"id": "8", "email": "al@clinic.example"}, rules)
    assert other["owner"] == "unassigned"
    _, prac = one("practitioners", {"id": "35805565", "user_id": "7"}, rules)
    assert prac == {
        "practitioner_id": "35805565",
        "user_id": "7",
        "display_name": None,
        "updated_at": None,
    }


@pytest.mark.parametrize(
    ("record", "name"),
    [
        ({"display_name": "Dr Ana Lee", "first_name": "Ana", "last_name": "Lee"}, "Dr Ana Lee"),
        (
            {"display_name": " ", "title": "Dr", "first_name": "Ana", "last_name": "Lee"},
            "Dr Ana Lee",
        ),
        ({"first_name": "Ana\u202e", "last_name": None}, "Ana"),
    ],
)
def test_a_practitioners_name_for_the_memo(record, name) -> None:
    _, prac = one("practitioners", {"id": "1", "user_id": "7", **record})
    assert prac["display_name"] == name


def test_the_memo_keeps_practitioner_for_target_paypal() -> None:
    rules = replace(RULES, memo="{number}: {practitioner}, {owner}")
    _, header = one("invoices", invoice(), rules)
    assert header["memo"].endswith(": {practitioner}, {owner}")


def test_singer_messages_through_the_mapper() -> None:
    state = {"bookmarks": {"invoices": {"replication_key_value": "2025-07-02T18:51:22Z"}}}
    out = run_mapper(
        [
            {
                "type": "SCHEMA",
                "stream": "appointments",
                "schema": {"type": "object"},
                "key_properties": ["id"],
            },
            {"type": "RECORD", "stream": "appointments", "record": {"id": "1"}},
            {
                "type": "SCHEMA",
                "stream": "invoices",
                "schema": {"type": "object"},
                "key_properties": ["id"],
            },
            {"type": "RECORD", "stream": "invoices", "record": invoice()},
            {"type": "RECORD", "stream": "invoices", "record": invoice(id="2", status=40)},
            {"type": "STATE", "value": state},
        ]
    )
    kinds = [(m["type"], m.get("stream")) for m in out]
    assert kinds == [
        ("SCHEMA", "invoices"),
        ("SCHEMA", "rejects"),
        ("RECORD", "invoices"),
        ("RECORD", "rejects"),
        ("STATE", None),
    ]
    assert out[-1]["value"] == state
    assert out[0]["key_properties"] == ["invoice_id"]


def test_records_that_decide_held_invoices_carry_the_rules_fingerprint(tmp_path) -> None:
    messages = [
        {"type": "SCHEMA", "stream": s, "schema": {"type": "object"}, "key_properties": ["id"]}
        for s in ("patients", "invoices", "invoice_items")
    ] + [
        {"type": "RECORD", "stream": "patients", "record": patient()},
        {"type": "RECORD", "stream": "patients", "record": patient(id="8", email=None)},
        {"type": "RECORD", "stream": "invoices", "record": invoice()},
        {"type": "RECORD", "stream": "invoice_items", "record": item()},
    ]
    records = [m for m in run_mapper(messages) if m["type"] == "RECORD"]
    fingerprint = rules_fingerprint(RULES)
    assert [(m["stream"], m["record"].get("rules_fingerprint")) for m in records] == [
        ("customers", fingerprint),
        ("rejects", fingerprint),
        ("invoices", fingerprint),
        ("invoice_lines", None),  # lines come with their invoice
    ]
    for message in records:
        assert_contract(message["stream"], message["record"])

    # Other rules, another fingerprint; the same rules written otherwise, the same one.
    changed = tmp_path / "changed.yaml"
    changed.write_text("customers:\n  shared_email: allow\n")
    reordered = tmp_path / "reordered.yaml"
    shipped = yaml.safe_load(default_text())
    reordered.write_text(
        "# the shipped rules, keys sorted\n" + yaml.safe_dump(shipped, sort_keys=True)
    )
    assert rules_fingerprint(load(changed)) != fingerprint
    assert rules_fingerprint(load(reordered)) == fingerprint
    mapped = run_mapper(messages, {"mapping_file": str(changed)})
    assert {m["record"].get("rules_fingerprint") for m in mapped if m["type"] == "RECORD"} == {
        rules_fingerprint(load(changed)),
        None,
    }


def test_tax_rates_rule_accepts_the_clinics_rates_only() -> None:
    assert RULES.tax_rates == {Decimal(0), Decimal(10)}
    assert one("invoice_items", item(tax_rate="10.0"))[0] == "invoice_lines"
    assert one("invoice_items", item(tax_rate="0.0"))[0] == "invoice_lines"
    anything = replace(RULES, tax_rates=None)  # a rules file without the list
    assert one("invoice_items", item(tax_rate="15.0"), anything)[0] == "invoice_lines"


def test_a_merged_patient_follows_the_patient_it_was_merged_into() -> None:
    # Its own email (here invalid) is nobody's: the survivor's billing details apply.
    merged = patient(
        merged_with_patient_id="7783301", email="deb@example", archived_at="2025-01-01T00:00:00Z"
    )
    stream, c = one("patients", merged)
    assert stream == "customers"
    assert c == {
        "customer_id": "7783300",
        "merged_into": "7783301",
        "email": None,
        "updated_at": "2024-03-15T04:37:32Z",
    }
    assert_contract("customers", c)
