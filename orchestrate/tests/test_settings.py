"""What each clinic's `meltano` processes get: its own secrets under the plugins' names, none of
another clinic's, its own Meltano sys dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_helpers import RULES, clinic_entry, clinics_of, write_registry

from clinic_fleet.settings import FleetSettings, MissingSecret, clinic_environment


def test_a_clinic_gets_its_secrets_under_the_plugins_names(
    fleet_env: FleetSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAP_CLINIKO_API_KEY", "a key left in the worker's environment")
    monkeypatch.setenv("TARGET_PAYPAL_STORE_URL", "postgresql+psycopg://db/store")
    sunrise, harbour = clinics_of(fleet_env)
    env = clinic_environment(harbour, [sunrise, harbour], fleet_env)
    assert env["TAP_CLINIKO_API_KEY"] == env["PAYPAL_OPS_CLINIKO_API_KEY"] == "harbour-key"
    assert env["TARGET_PAYPAL_CLIENT_ID"] == env["PAYPAL_OPS_PAYPAL_CLIENT_ID"] == "harbour-id"
    assert env["TARGET_PAYPAL_CLIENT_SECRET"] == env["PAYPAL_OPS_PAYPAL_CLIENT_SECRET"]
    assert env["TARGET_PAYPAL_CLINIC"] == env["PAYPAL_OPS_CLINIC"] == "harbour"
    assert env["TAP_CLINIKO_BASE_URL"] == env["PAYPAL_OPS_CLINIKO_BASE_URL"]
    assert "TARGET_PAYPAL_BASE_URL" not in env  # none in the registry: Meltano's environment's
    assert env["MAP_CLINIKO_PAYPAL_MAPPING_FILE"] == env["PAYPAL_OPS_MAPPING_FILE"]
    assert env["PAYPAL_OPS_STORE_URL"] == env["TARGET_PAYPAL_STORE_URL"]  # the shared store
    assert env["PAYPAL_OPS_RECONCILE_DIR"].endswith("output/harbour/reconcile")
    assert not {k for k, v in env.items() if "sunrise" in v}, "another clinic's secret leaked"


def test_a_business_account_s_variables_reach_its_clinic_only(
    fleet_env: FleetSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rules = tmp_path / "harbour-rules.yaml"
    rules.write_text(
        RULES.read_text().replace(
            "  by_business: {}\n",
            "  by_business:\n    '7':\n      email: south@harbour.example\n"
            "      client_id_env: HARBOUR_SOUTH_ID\n"
            "      client_secret_env: HARBOUR_SOUTH_SECRET\n",
        )
    )
    write_registry(
        fleet_env.clinics_file, clinic_entry("sunrise"), clinic_entry("harbour", rules=str(rules))
    )
    monkeypatch.setenv("HARBOUR_SOUTH_ID", "harbour-south-id")
    monkeypatch.setenv("HARBOUR_SOUTH_SECRET", "harbour-south-secret")
    sunrise, harbour = clinics_of(fleet_env)
    assert harbour.account_variables == ("HARBOUR_SOUTH_ID", "HARBOUR_SOUTH_SECRET")
    own = clinic_environment(harbour, [sunrise, harbour], fleet_env)
    assert own["HARBOUR_SOUTH_SECRET"] == "harbour-south-secret"  # the target reads it by name
    other = clinic_environment(sunrise, [sunrise, harbour], fleet_env)
    assert not {k for k, v in other.items() if "harbour" in v}, "another clinic's secret leaked"


def test_each_clinic_has_its_own_meltano_sys_dir(fleet_env: FleetSettings) -> None:
    clinics = clinics_of(fleet_env)
    dirs = [
        Path(clinic_environment(c, clinics, fleet_env)["MELTANO_SYS_DIR_ROOT"]) for c in clinics
    ]
    root = fleet_env.project_root / ".meltano"
    assert dirs == [root / "fleet" / "sunrise", root / "fleet" / "harbour"]
    for kind in ("extractors", "loaders", "mappers", "utilities"):
        assert (dirs[0] / kind).resolve() == (root / kind).resolve()
    clinic_environment(clinics[0], clinics, fleet_env)  # a second time: links already there


def test_a_missing_secret_is_one_line(
    fleet_env: FleetSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUNRISE_SECRET")
    clinics = clinics_of(fleet_env)
    with pytest.raises(MissingSecret) as caught:
        clinic_environment(clinics[0], clinics, fleet_env)
    assert str(caught.value) == (
        "clinic sunrise: SUNRISE_SECRET is not set (its PayPal client secret): set it in the "
        "environment of the Dagster workers"
    )


def test_the_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("FLEET_CLINICS_FILE", "FLEET_OUTPUT_DIR", "FLEET_SCHEDULES", "FLEET_MELTANO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")
    settings = FleetSettings.from_environment()
    assert settings.clinics_file == tmp_path / "clinics.yml"
    assert settings.output_dir == tmp_path / "output" / "fleet"
    assert settings.meltano == str(tmp_path / ".meltano" / "run" / "bin")
    assert settings.schedules_running
