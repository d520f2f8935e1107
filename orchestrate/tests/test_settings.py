"""What each clinic's `meltano` processes get: its own secrets under the plugins' names, none of
another clinic's, its own Meltano sys dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_helpers import clinics_of

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
