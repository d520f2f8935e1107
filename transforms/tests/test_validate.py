"""The rules file: the shipped one is valid; mistakes are reported as file:line: message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from map_cliniko_paypal.mapper import MapClinikoPayPal
from map_cliniko_paypal.rules import RulesError, default_text, load

CLI = [sys.executable, "-m", "map_cliniko_paypal.cli"]


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "validate", str(path)], capture_output=True, text=True)


def test_shipped_rules_are_valid(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(default_text())
    result = validate(path)
    assert result.returncode == 0 and result.stdout.strip() == f"{path}: OK"


def test_the_practitioners_name_may_go_on_the_memo(tmp_path: Path) -> None:
    path = broken(tmp_path, "owner {owner}", "owner {owner}, seen by {practitioner}")
    assert validate(path).returncode == 0


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = default_text()
    assert old in text
    path = tmp_path / "mapping.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "needle", "words"),
    [
        ("    20: PAID", "    20: PAYED", "20: PAYED", "invoices.status.20"),
        (
            "  missing_email: park",
            "  missing_email: ignore",
            "missing_email: ignore",
            "missing_email",
        ),
        (
            "  missing_email: park",
            "  missing_email: without_emails",
            "missing_email: without_emails",
            "without_email",
        ),
        ("  payment_method: OTHER", "  payment_methd: OTHER", "payment_methd", "unknown key"),
        (
            "  extra_information: none",
            "  extra_information: additional_information",
            "extra_information: additional",
            "bill_to.extra_information",
        ),
        ("  third_party: true", "  third_party: yes please", "third_party: yes", "third_party"),
        ("  third_party: true", "  third_partys: true", "third_partys", "unknown key"),
        ("    paid: park", "    paid: refunded", "paid: refunded", "invoices.reversals.paid"),
        (
            "time_zone: Australia/Sydney",
            "time_zone: Australia/Sydny",
            "Australia/Sydny",
            "time zone",
        ),
        (
            "owner {owner}",
            "owner {owner_name}",
            "owner_name",
            "memo",
        ),
        (
            "owner {owner}",
            "seen by {practitioner_name}",
            "practitioner_name",
            "allowed: business_id, invoice_id, number, owner, patient_id, practitioner,",
        ),
        (
            "issue_date >= '2000-01-01'",
            "issue_date >= ",
            "issue_date >= ",
            "not a valid expression",
        ),
    ],
)
def test_mistake_is_reported_with_file_and_line(tmp_path: Path, old, new, needle, words) -> None:
    path = broken(tmp_path, old, new)
    result = validate(path)
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{path}:{line_of(path, needle)}: "), result.stdout
    assert words in first


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ninvoices:\n  status: [10, 20\n")
    result = validate(path)
    assert result.returncode == 1 and result.stdout.startswith(f"{path}:4: not valid YAML")


def test_mapper_refuses_a_bad_mapping_file_and_uses_a_good_one(tmp_path: Path) -> None:
    bad = broken(tmp_path, "    30: VOID", "    30: CLOSED")
    with pytest.raises(RulesError) as caught:
        MapClinikoPayPal(config={"mapping_file": str(bad)})
    assert f"{bad}:{line_of(bad, '30: CLOSED')}:" in str(caught.value)
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\ninvoices:\n  number_prefix: 'INV-'\n  status: {10: DRAFT}\n")
    rules = MapClinikoPayPal(config={"mapping_file": str(good)}).rules
    assert rules.number_prefix == "INV-" and rules.status == {10: "DRAFT"}
    assert load(good).time_zone == "Australia/Sydney"


def test_a_run_with_a_bad_mapping_file_stops_with_one_line_per_mistake(tmp_path: Path) -> None:
    path = broken(tmp_path, "    20: PAID", "    20: PAYED")
    config = tmp_path / "config.json"
    config.write_text(f'{{"mapping_file": "{path}"}}')
    done = subprocess.run(
        [sys.executable, "-m", "map_cliniko_paypal.cli", "--config", str(config)],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    stopped = [ln for ln in done.stderr.splitlines() if "stopped" in ln]
    assert stopped == [
        f"map-cliniko-paypal stopped: {path}:{line_of(path, 'PAYED')}: invoices.status.20: "
        "is not one of the allowed forms (see the shipped mapping.yaml)"
    ]
