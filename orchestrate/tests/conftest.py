"""Fixtures of the fleet's unit tests: two clinics, and a stand-in `meltano`."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from fleet_helpers import FAKE, clinic_entry, write_registry

from clinic_fleet.settings import FleetSettings


@pytest.fixture
def fake_meltano(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `meltano`; returns the file its calls are written to."""
    script = tmp_path / "meltano"
    script.write_text(FAKE.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_MELTANO_CALLS", str(calls))
    monkeypatch.setenv("FLEET_MELTANO", str(script))
    return calls


@pytest.fixture
def fleet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_meltano: Path) -> FleetSettings:
    """Two clinics with their secrets set; settings pointing into tmp_path."""
    registry = write_registry(
        tmp_path / "clinics.yml",
        clinic_entry("sunrise"),
        clinic_entry("harbour", cliniko_base_url="http://127.0.0.1:9/v1"),
    )
    for name in ("SUNRISE", "HARBOUR"):
        for kind in ("KEY", "ID", "SECRET"):
            monkeypatch.setenv(f"{name}_{kind}", f"{name.lower()}-{kind.lower()}")
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("FLEET_CLINICS_FILE", str(registry))
    monkeypatch.setenv("FLEET_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("FLEET_SCHEDULES", "stopped")
    return FleetSettings.from_environment()
