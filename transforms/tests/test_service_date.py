"""The date of service: an invoice's appointment, its day in the clinic's zone, by template."""

from __future__ import annotations

from pathlib import Path

import pytest
from map_test_helpers import assert_contract
from test_mapping import RULES, invoice, one
from test_validate import broken, line_of, validate

from map_cliniko_paypal.rules import build

LINE = "Seen {service_date} by {practitioner}, invoice {number}"


@pytest.mark.parametrize(
    ("starts_at", "day"),
    [
        ("2025-07-02T23:30:00Z", "2025-07-03"),  # the next morning in Sydney (AEST)
        ("2025-10-04T13:59:59Z", "2025-10-04"),  # just before daylight saving begins
        ("2025-10-04T14:00:00Z", "2025-10-05"),
    ],
)
def test_an_appointment_is_its_day_in_the_clinics_zone(starts_at, day) -> None:
    record = {"id": "9001", "starts_at": starts_at, "updated_at": "2025-07-03T00:00:00Z",
              "patient_name": "Deborah Villegas", "notes": "Dry needling, left knee"}
    stream, a = one("individual_appointments", record)
    assert stream == "appointments"
    assert a == {"appointment_id": "9001", "service_date": day,
                 "updated_at": "2025-07-03T00:00:00Z"}  # no name, no notes
    assert_contract("appointments", a)


def test_an_invoice_names_its_appointment_and_leaves_the_date_to_the_target() -> None:
    rules = build({"invoices": {"line_description": LINE, "memo": "{number} {service_date}"}})
    stream, h = one("invoices", invoice(appointment_id="9001"), rules)
    assert stream == "invoices" and h["appointment_id"] == "9001"
    assert h["line_description"] == "Seen {service_date} by {practitioner}, invoice 17"
    assert h["memo"] == "17 {service_date}"
    assert_contract("invoices", h)
    assert one("invoices", invoice())[1]["line_description"] is None  # off by default


def test_extra_information_on_the_line_follows_the_line_template() -> None:
    rules = build(
        {"invoices": {"line_description": LINE}, "bill_to": {"extra_information": "line"}}
    )
    _, h = one("invoices", invoice(patient_extra_information="NDIS participant 430123456"), rules)
    assert h["line_description"] == (
        "Seen {service_date} by {practitioner}, invoice 17\n\nNDIS participant 430123456"
    )


def test_validate_keeps_the_owner_and_ids_off_the_line(tmp_path: Path) -> None:
    wrong = '  line_description: "{owner} {patient_id}"'
    path = broken(tmp_path, "  line_description: null", wrong)
    result = validate(path)
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    where = line_of(path, "{owner} {patient_id}")
    assert first.startswith(f"{path}:{where}: ")
    assert "invoices.line_description: unknown field(s) owner, patient_id" in first
    assert "allowed: number, practitioner, service_date, custom[Field name]" in first
    good = broken(tmp_path, "  line_description: null", f'  line_description: "{LINE}"')
    assert validate(good).returncode == 0
    assert RULES.line_description is None
