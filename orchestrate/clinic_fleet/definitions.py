"""The Dagster code location: every clinic of the registry as an asset, a job and a schedule.

For each clinic `<c>` of clinics.yml:

* asset `<c>/paypal_invoices`: the clinic's PayPal invoicing kept as its Cliniko says. Its
  materialization is `meltano run --state-id-suffix <c> cliniko-to-paypal` with that clinic's
  environment; the run's summary (created, updated, parked, conflicts, ...) is its metadata and
  the run's tags. Check `nothing_parked` (a warning): records wait for a person.
* check `reconciled`: `paypal-ops reconcile` after the sync, Cliniko against PayPal invoice by
  invoice; it fails (an error) on any mismatch.
* job `sync_<c>`, tagged `clinic: <c>`: the Dagster instance (dagster.yaml) runs at most one
  run per clinic tag and at most FLEET_MAX_CONCURRENT_RUNS at once.
* schedule `sync_<c>_daily`: 02:00 every day in the clinic's own time zone.
"""

# No `from __future__ import annotations`: Dagster checks the context's annotation as a type.
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetCheckExecutionContext, AssetExecutionContext

from clinic_fleet.meltano import ALREADY_RUNNING, MeltanoFailed, Notify
from clinic_fleet.operations import OUTCOMES, Summary, reconcile, summary, sync
from clinic_fleet.registry import Clinic, load_registry
from clinic_fleet.settings import FleetSettings, MissingSecret, clinic_environment

DAILY_AT_TWO = "0 2 * * *"
CLINIC_TAG = "clinic"
ASSET_NAME = "paypal_invoices"
IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def build(settings: FleetSettings, clinics: list[Clinic]) -> dg.Definitions:
    """The definitions for these clinics."""
    assets, checks, jobs, schedules = [], [], [], []
    status = (
        dg.DefaultScheduleStatus.RUNNING
        if settings.schedules_running
        else dg.DefaultScheduleStatus.STOPPED
    )
    for clinic in clinics:
        key = dg.AssetKey([clinic.name, ASSET_NAME])
        assets.append(_sync_asset(settings, clinics, clinic, key))
        checks.append(_reconciled_check(settings, clinics, clinic, key))
        job = dg.define_asset_job(
            f"sync_{clinic.name}",
            selection=dg.AssetSelection.assets(key),
            description=f"Cliniko -> PayPal for clinic {clinic.name}, then its reconciliation.",
            # Definition tags, which Dagster also puts on every run of the job (schedule, UI, API):
            # the run queue's per-clinic limit counts them.
            tags={CLINIC_TAG: clinic.name},
            executor_def=dg.in_process_executor,
        )
        jobs.append(job)
        schedules.append(
            dg.ScheduleDefinition(
                name=f"sync_{clinic.name}_daily",
                job=job,
                cron_schedule=DAILY_AT_TWO,
                execution_timezone=clinic.time_zone,
                default_status=status,
                description=f"Every day at 02:00 {clinic.time_zone}.",
            )
        )
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=jobs, schedules=schedules)


def _environment(settings: FleetSettings, clinics: list[Clinic], clinic: Clinic) -> dict[str, str]:
    try:
        return clinic_environment(clinic, clinics, settings)
    except MissingSecret as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None


def _sync_asset(
    settings: FleetSettings, clinics: list[Clinic], clinic: Clinic, key: dg.AssetKey
) -> dg.AssetsDefinition:
    @dg.asset(
        key=key,
        group_name="clinics",
        kinds={"meltano", "paypal"},
        description=(
            f"Clinic {clinic.name}'s PayPal invoicing, kept as its Cliniko says by `meltano run "
            f"--state-id-suffix {clinic.name} cliniko-to-paypal`."
        ),
        metadata={"time_zone": clinic.time_zone, "rules": dg.MetadataValue.path(clinic.rules)},
        check_specs=[
            dg.AssetCheckSpec(
                "nothing_parked",
                asset=key,
                description="No record waits for a person (paypal-ops dead-letters list).",
            )
        ],
    )
    def paypal_invoices(context: AssetExecutionContext) -> dg.MaterializeResult:
        if context.run.tags.get(CLINIC_TAG) != clinic.name:
            raise dg.Failure(
                description=f"this run lacks the tag {CLINIC_TAG}={clinic.name}, which keeps "
                "runs of one clinic apart: launch it again without removing the job's tags",
                allow_retries=False,
            )
        env = _environment(settings, clinics, clinic)
        log = settings.clinic_dir(clinic.name) / "logs" / f"{context.run.run_id}.log"
        context.log.info(f"meltano run --state-id-suffix {clinic.name} cliniko-to-paypal ({log})")

        def notify(level: str, text: str) -> None:
            (context.log.warning if level in ("warning", "error") else context.log.info)(text)

        try:
            store_run_id = _sync(context, settings, clinic, env, log, notify)
            result = summary(settings, env, log, store_run_id)
        except MeltanoFailed as error:
            raise dg.Failure(
                description=str(error),
                metadata={"log": dg.MetadataValue.path(log)},
                allow_retries=False,
            ) from None
        context.log.info(f"clinic {clinic.name}: {result.line}")
        context.instance.add_run_tags(context.run.run_id, _summary_tags(result))
        return dg.MaterializeResult(
            metadata=_summary_metadata(result, log),
            check_results=[_parked_result(result)],
        )

    return paypal_invoices


def _sync(
    context: AssetExecutionContext,
    settings: FleetSettings,
    clinic: Clinic,
    env: dict[str, str],
    log: Path,
    notify: Notify,
) -> int | None:
    """The sync; again with --force when Meltano still counts a dead worker's run as running.

    A worker that died mid-run (a machine lost, a container killed) leaves its Meltano job
    "running" until it goes stale, 5 minutes after its last heartbeat. The run queue lets one
    run per clinic through, so when Dagster has no other run of this clinic in progress, that
    job's worker is gone; target-paypal's store lock still refuses a second live run.
    """
    try:
        return sync(settings, clinic.name, env, log, notify)
    except MeltanoFailed as error:
        if ALREADY_RUNNING not in str(error):
            raise
        others = [
            run.run_id
            for run in context.instance.get_runs(
                filters=dg.RunsFilter(tags={CLINIC_TAG: clinic.name}, statuses=IN_PROGRESS)
            )
            if run.run_id != context.run.run_id
        ]
        if others:
            raise
        context.log.warning(
            f"clinic {clinic.name}: Meltano still counts an earlier run as running, and no other "
            "Dagster run of this clinic is in progress: its worker died; running with --force"
        )
        return sync(settings, clinic.name, env, log, notify, force=True)


def _reconciled_check(
    settings: FleetSettings, clinics: list[Clinic], clinic: Clinic, key: dg.AssetKey
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name="reconciled",
        description="Cliniko against PayPal, invoice by invoice (paypal-ops reconcile).",
    )
    def reconciled(context: AssetCheckExecutionContext) -> dg.AssetCheckResult:
        env = _environment(settings, clinics, clinic)
        log = settings.clinic_dir(clinic.name) / "logs" / f"{context.run.run_id}.log"
        outcome = reconcile(settings, env, log)
        if outcome.returncode not in (0, 1):
            raise dg.Failure(
                description=f"reconciliation not done: {outcome.why}",
                metadata={"log": dg.MetadataValue.path(log)},
                allow_retries=False,
            )
        mismatches = {k: n for k, n in outcome.counts.items() if n}
        context.log.info(
            f"clinic {clinic.name}: reconciliation "
            + (", ".join(f"{k} {n}" for k, n in mismatches.items()) or "all matches")
        )
        return dg.AssetCheckResult(
            passed=outcome.returncode == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None if outcome.returncode == 0 else "Cliniko and PayPal differ",
            metadata={
                "mismatches": sum(mismatches.values()),
                **{f"mismatch_{k}": n for k, n in outcome.counts.items()},
                **{f"held_{k}": n for k, n in outcome.held.items()},
                "report": dg.MetadataValue.path(outcome.report),
            },
        )

    return reconciled


def _summary_metadata(result: Summary, log: object) -> dict[str, Any]:
    return {
        **{("conflicts" if k == "conflict" else k): result.invoices[k] for k in OUTCOMES},
        "open_dead_letters": result.open_dead_letters,
        "store_run_id": result.store_run_id,
        "target_seconds": result.seconds or 0.0,
        "summary": result.line,
        "log": dg.MetadataValue.path(str(log)),
    }


def _summary_tags(result: Summary) -> dict[str, str]:
    """The summary as the run's tags, shown in the runs list: the fleet at a glance."""
    invoices = result.invoices
    return {
        "fleet/created": str(invoices["created"]),
        "fleet/updated": str(invoices["updated"]),
        "fleet/parked": str(invoices["parked"]),
        "fleet/conflicts": str(invoices["conflict"]),
    }


def _parked_result(result: Summary) -> dg.AssetCheckResult:
    reasons = [f"{n} {stream}: {reason}" for stream, reason, n in result.parked_reasons[:10]]
    return dg.AssetCheckResult(
        check_name="nothing_parked",
        passed=result.open_dead_letters == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            None
            if result.open_dead_letters == 0
            else f"{result.open_dead_letters} records wait for a person"
        ),
        metadata={
            "open_dead_letters": result.open_dead_letters,
            "parked_this_run": result.invoices["parked"],
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in reasons) or "none"),
        },
    )


def load(settings: FleetSettings | None = None) -> dg.Definitions:
    """The code location's definitions, from the registry the settings name."""
    settings = settings or FleetSettings.from_environment()
    return build(settings, load_registry(settings.clinics_file))
