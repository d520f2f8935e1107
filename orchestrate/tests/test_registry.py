"""clinics.yml: what a clinic must give, and one line naming the file and field when it does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_helpers import REPO, RULES, clinic_entry, write_registry

from clinic_fleet.registry import RegistryError, load_registry


def error_of(path: Path) -> str:
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


def test_the_shipped_registry_loads() -> None:
    clinics = load_registry(REPO / "clinics.yml")
    assert [(c.name, c.time_zone) for c in clinics] == [
        ("sunrise", "Australia/Sydney"),
        ("harbour", "Australia/Perth"),
    ]
    assert clinics[1].rules == REPO / "clinics" / "harbour-rules.yaml"
    assert clinics[1].env["TARGET_PAYPAL_INVOICER_BUSINESS_NAME"] == "Harbour Physio"


def test_a_clinic_with_its_fields(tmp_path: Path) -> None:
    entry = clinic_entry("north_2", env={"TARGET_PAYPAL_MAX_CONCURRENCY": 2, "X_ON": True})
    entry["paypal_base_url"] = "http://127.0.0.1:8766"
    [clinic] = load_registry(write_registry(tmp_path / "clinics.yml", entry))
    assert clinic.name == "north_2" and clinic.rules == RULES
    assert clinic.secret_variables == ("NORTH_2_KEY", "NORTH_2_ID", "NORTH_2_SECRET")
    assert clinic.paypal_base_url == "http://127.0.0.1:8766" and clinic.cliniko_base_url is None
    assert clinic.env == {"TARGET_PAYPAL_MAX_CONCURRENCY": "2", "X_ON": "true"}


def test_rules_are_found_beside_the_registry(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "perth.yaml").write_text("version: 1\ntime_zone: Australia/Perth\n")
    entry = clinic_entry("perth", rules="rules/perth.yaml", time_zone="Australia/Perth")
    [clinic] = load_registry(write_registry(tmp_path / "clinics.yml", entry))
    assert clinic.rules == tmp_path / "rules" / "perth.yaml"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"name": "North Clinic"}, "clinics[0].name: 'North Clinic' is not a clinic name"),
        ({"name": "x" * 41}, "is not a clinic name"),
        ({"time_zone": "Mars/Base"}, "clinics[0] (north).time_zone: 'Mars/Base' is not a known"),
        ({"time_zone": "Australia/Perth"}, "time_zone: Australia/Perth, but its rules file"),
        ({"rules": "missing.yaml"}, "clinics[0] (north).rules: "),
        ({"cliniko_api_key_env": "sk-live-123"}, "cliniko_api_key_env: 'sk-live-123' is not an"),
        ({"paypal_base_url": "127.0.0.1:8766"}, "paypal_base_url: expected an http(s) URL"),
        ({"env": {"TARGET_PAYPAL_CLIENT_SECRET": "x"}}, "env.TARGET_PAYPAL_CLIENT_SECRET: looks"),
        ({"env": ["A=1"]}, "env: expected a mapping"),
        ({"env": {"A": {"b": 1}}}, "env.A: expected a text or number value"),
        ({"colour": "blue"}, "clinics[0].colour: unknown field"),
    ],
)
def test_a_mistake_is_one_line_naming_the_field(tmp_path: Path, change: dict, says: str) -> None:
    path = write_registry(tmp_path / "clinics.yml", {**clinic_entry("north"), **change})
    assert says in error_of(path)


@pytest.mark.parametrize("field", ["name", "time_zone", "rules", "paypal_client_secret_env"])
def test_a_missing_field_is_named(tmp_path: Path, field: str) -> None:
    entry = clinic_entry("north")
    del entry[field]
    assert f"clinics[0].{field}: missing" in error_of(write_registry(tmp_path / "c.yml", entry))


def test_a_clinic_listed_twice(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "clinics.yml", clinic_entry("a"), clinic_entry("a"))
    assert "clinics[1].name: a is listed twice" in error_of(path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "no clinics registry here"),
        ("clinics: [a\n", "not a readable YAML file"),
        ("clinics: []\n", "clinics: expected a list of clinics, one at least"),
        ("- a\n", "clinics: expected a list"),
    ],
)
def test_an_unusable_file(tmp_path: Path, text: str | None, says: str) -> None:
    path = tmp_path / "clinics.yml"
    if text is not None:
        path.write_text(text)
    assert says in error_of(path)
