"""The code location: an asset, two checks, a job and a 02:00 schedule per clinic; a run's
summary as metadata, its failure as one line. `meltano` is a stand-in here (conftest.py); the
real one runs in tests/test_fleet.py."""

from __future__ import annotations

import dagster as dg
import pytest
from fleet_helpers import calls_of, clinic_entry, clinics_of, write_registry

from clinic_fleet.cli import main
from clinic_fleet.definitions import build, load
from clinic_fleet.settings import FleetSettings


def run(settings: FleetSettings, name: str, **tags: str) -> dg.ExecuteInProcessResult:
    defs = build(settings, clinics_of(settings))
    return defs.resolve_job_def(f"sync_{name}").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={"clinic": name, **tags},
        raise_on_error=False,
    )


def test_each_clinic_has_its_asset_checks_job_and_schedule(fleet_env: FleetSettings) -> None:
    defs = load(fleet_env)
    job = defs.resolve_job_def("sync_harbour")
    assert job.tags == {"clinic": "harbour"}
    assert job.executor_def.name == "in_process"
    schedule = defs.resolve_schedule_def("sync_harbour_daily")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Australia/Sydney"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # FLEET_SCHEDULES=stopped
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey(["harbour", "paypal_invoices"])
    assert {k.name for k in graph.get_check_keys_for_assets({key})} == {
        "nothing_parked",
        "reconciled",
    }


def test_the_schedules_follow_each_clinics_zone(
    fleet_env: FleetSettings, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "perth.yaml").write_text("version: 1\ntime_zone: Australia/Perth\n")
    entries = [
        clinic_entry("sydney"),
        clinic_entry("perth", time_zone="Australia/Perth", rules="perth.yaml"),
    ]
    write_registry(fleet_env.clinics_file, *entries)
    monkeypatch.setenv("FLEET_SCHEDULES", "running")
    defs = load(FleetSettings.from_environment())
    zones = {s.name: s.execution_timezone for s in defs.schedules or []}  # type: ignore[union-attr]
    assert zones == {"sync_sydney_daily": "Australia/Sydney", "sync_perth_daily": "Australia/Perth"}
    running = defs.resolve_schedule_def("sync_perth_daily").default_status
    assert running == dg.DefaultScheduleStatus.RUNNING


def test_a_run_has_the_summary_as_metadata_and_the_checks(
    fleet_env: FleetSettings, fake_meltano
) -> None:
    result = run(fleet_env, "sunrise")
    assert result.success
    [materialization] = result.asset_materializations_for_node("sunrise__paypal_invoices")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert {k: metadata[k] for k in ("created", "updated", "parked", "conflicts")} == {
        "created": 41,
        "updated": 2,
        "parked": 21,
        "conflicts": 1,
    }
    assert (
        metadata["summary"]
        == "created 41, updated 2, parked 21, conflicts 1 (open dead letters 35)"
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["nothing_parked"].passed
    assert checks["nothing_parked"].severity == dg.AssetCheckSeverity.WARN
    assert checks["reconciled"].passed
    calls = [c["args"] for c in calls_of(fake_meltano)]
    assert calls == [
        ["--log-format=json", "run", "--state-id-suffix", "sunrise", "cliniko-to-paypal"],
        ["--log-format=json", "invoke", "paypal-ops", "summary", "--json", "--run", "7"],
        ["--log-format=json", "invoke", "paypal-ops", "reconcile"],
    ]
    env = calls_of(fake_meltano)[0]["env"]
    assert env["TAP_CLINIKO_API_KEY"] == "sunrise-key" and env["TARGET_PAYPAL_CLINIC"] == "sunrise"


def test_a_failed_sync_fails_the_run_with_its_one_line(
    fleet_env: FleetSettings, fake_meltano, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MELTANO", "paypal-down")
    result = run(fleet_env, "sunrise")
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert description.startswith("target-paypal stopped: PayPal unreachable at http://x")
    assert "\n" not in description
    assert len(calls_of(fake_meltano)) == 1  # no summary, no reconciliation


def test_a_mismatch_fails_the_reconciled_check_not_the_run(
    fleet_env: FleetSettings, fake_meltano, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MELTANO", "mismatch")
    result = run(fleet_env, "sunrise")
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["reconciled"].passed
    assert checks["reconciled"].metadata["mismatch_missing_in_paypal"].value == 1


def test_a_reconciliation_that_could_not_read_a_side_fails_the_run(
    fleet_env: FleetSettings, fake_meltano, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MELTANO", "cliniko-down")
    result = run(fleet_env, "sunrise")
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert description == "reconciliation not done: reconcile stopped: Cliniko unreachable"


def test_a_dead_workers_meltano_job_is_forced_past_when_no_other_run_is_in_progress(
    fleet_env: FleetSettings, fake_meltano, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MELTANO", "stale")
    result = run(fleet_env, "sunrise")
    assert result.success
    runs = [c["args"] for c in calls_of(fake_meltano) if "run" in c["args"]]
    assert runs[1][-1] == "--force" and "--force" not in runs[0]


def test_a_run_without_its_clinic_tag_is_refused(fleet_env: FleetSettings, fake_meltano) -> None:
    result = run(fleet_env, "sunrise", clinic="harbour")
    assert not result.success
    assert calls_of(fake_meltano) == []


def test_a_missing_secret_fails_the_run_before_meltano(
    fleet_env: FleetSettings, fake_meltano, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARBOUR_KEY")
    result = run(fleet_env, "harbour")
    [failure] = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert description.startswith("clinic harbour: HARBOUR_KEY is not set")
    assert calls_of(fake_meltano) == []


def test_check_says_what_the_fleet_holds_or_what_is_wrong(
    fleet_env: FleetSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 0
    assert "2 clinics" in capsys.readouterr().out
    write_registry(fleet_env.clinics_file, clinic_entry("Bad Name"))
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("clinic-fleet: ") and "is not a clinic name" in err
