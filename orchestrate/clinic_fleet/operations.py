"""A clinic's sync, its summary and its reconciliation, as the Dagster steps call them.

Each is a `meltano` command in the project, with the clinic's environment: the same commands
an operator runs by hand (`meltano run --state-id-suffix <clinic> cliniko-to-paypal`,
`meltano invoke paypal-ops summary`, `meltano invoke paypal-ops reconcile`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinic_fleet.meltano import MeltanoFailed, Notify, invoke, run_sync
from clinic_fleet.settings import FleetSettings

# The summary's invoice outcomes shown as the run's metadata (paypal-ops summary --json).
OUTCOMES = ("created", "updated", "unchanged", "skipped", "parked", "conflict")


@dataclass
class Summary:
    """What one run of the sync did, from target-paypal's store."""

    store_run_id: int
    invoices: dict[str, int]
    open_dead_letters: int
    seconds: float | None
    parked_reasons: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def line(self) -> str:
        """Created 41, updated 0, parked 21, conflicts 0 (open dead letters 35)."""
        get = self.invoices.get
        return (
            f"created {get('created', 0)}, updated {get('updated', 0)}, "
            f"parked {get('parked', 0)}, conflicts {get('conflict', 0)} "
            f"(open dead letters {self.open_dead_letters})"
        )


@dataclass
class Reconciliation:
    """Cliniko against PayPal: 0 all matches, 1 something needs attention, 2 not read."""

    returncode: int
    counts: dict[str, int]
    held: dict[str, int]
    report: Path
    why: str


def sync(
    settings: FleetSettings,
    clinic: str,
    env: Mapping[str, str],
    log: Path,
    notify: Notify | None = None,
    force: bool = False,
) -> int | None:
    """Run the clinic's sync; its store run id. MeltanoFailed (one line) when it fails."""
    outcome = run_sync(settings.meltano, clinic, env, settings.project_root, log, notify, force)
    if outcome.returncode != 0:
        raise MeltanoFailed(outcome.error_line or "meltano run failed")
    return outcome.store_run_id


def summary(
    settings: FleetSettings, env: Mapping[str, str], log: Path, store_run_id: int | None
) -> Summary:
    """`paypal-ops summary --json` of the run (the latest finished one when its id is unknown)."""
    args = ["paypal-ops", "summary", "--json"]
    if store_run_id is not None:
        args += ["--run", str(store_run_id)]
    code, out, why = invoke(settings.meltano, args, env, settings.project_root, log)
    if code != 0:
        raise MeltanoFailed(f"the sync ran, but its summary could not be read: {why}")
    try:
        data: dict[str, Any] = json.loads(out)
    except ValueError:
        raise MeltanoFailed("the sync ran, but paypal-ops summary --json printed no JSON") from None
    parked = (data.get("reasons") or {}).get("parked") or []
    return Summary(
        store_run_id=int(data["run_id"]),
        invoices={k: int((data.get("invoices") or {}).get(k, 0)) for k in OUTCOMES},
        open_dead_letters=int(data.get("open_dead_letters") or 0),
        seconds=data.get("seconds"),
        parked_reasons=[(str(s), str(r), int(n)) for s, r, n in parked],
    )


def reconcile(settings: FleetSettings, env: Mapping[str, str], log: Path) -> Reconciliation:
    """`paypal-ops reconcile`, and the counts of its reconcile.json."""
    folder = Path(env["PAYPAL_OPS_RECONCILE_DIR"])
    code, _, why = invoke(
        settings.meltano, ["paypal-ops", "reconcile"], env, settings.project_root, log
    )
    report = folder / "reconcile.json"
    if code not in (0, 1) or not report.exists():
        return Reconciliation(code or 2, {}, {}, report, why or "no reconcile.json written")
    data = json.loads(report.read_text())
    return Reconciliation(
        code, dict(data.get("counts") or {}), dict(data.get("held") or {}), report, why
    )
