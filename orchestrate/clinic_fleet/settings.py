"""Where the fleet finds its project, registry and `meltano`, and what each clinic's run gets.

Read from the environment (the `dagster` utility's settings in meltano.yml set them when it is
started through `meltano invoke`): FLEET_CLINICS_FILE, FLEET_MELTANO, FLEET_OUTPUT_DIR,
FLEET_SCHEDULES.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clinic_fleet.registry import Clinic

# Meltano keeps each plugin's config, catalog and state files under <sys dir>/run/<plugin>/, one
# set per project: two clinics' runs at once would read each other's (even each other's API
# key). Each clinic's runs get a sys dir of their own, linking to the installed plugins.
INSTALLED = ("extractors", "loaders", "mappers", "utilities")
# The variables a clinic's run gets from its registry entry; none is inherited from the worker.
PER_CLINIC = (
    "TAP_CLINIKO_API_KEY",
    "TAP_CLINIKO_BASE_URL",
    "TARGET_PAYPAL_CLIENT_ID",
    "TARGET_PAYPAL_CLIENT_SECRET",
    "TARGET_PAYPAL_BASE_URL",
    "TARGET_PAYPAL_CLINIC",
    "MAP_CLINIKO_PAYPAL_MAPPING_FILE",
    "PAYPAL_OPS_CLINIKO_API_KEY",
    "PAYPAL_OPS_CLINIKO_BASE_URL",
    "PAYPAL_OPS_PAYPAL_CLIENT_ID",
    "PAYPAL_OPS_PAYPAL_CLIENT_SECRET",
    "PAYPAL_OPS_PAYPAL_BASE_URL",
    "PAYPAL_OPS_CLINIC",
    "PAYPAL_OPS_MAPPING_FILE",
    "PAYPAL_OPS_RECONCILE_DIR",
)


class MissingSecret(RuntimeError):
    """A clinic's secret is not in the worker's environment (one line, naming the variable)."""


@dataclass(frozen=True)
class FleetSettings:
    """The fleet's own settings."""

    project_root: Path
    clinics_file: Path
    meltano: str
    output_dir: Path
    schedules_running: bool

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> FleetSettings:
        """Read them from `env` (default: this process's environment)."""
        env = os.environ if env is None else env
        root = Path(env.get("MELTANO_PROJECT_ROOT") or Path.cwd()).resolve()
        return cls(
            project_root=root,
            clinics_file=root / env.get("FLEET_CLINICS_FILE", "clinics.yml"),
            meltano=env.get("FLEET_MELTANO") or _meltano(root),
            output_dir=root / env.get("FLEET_OUTPUT_DIR", "output/fleet"),
            schedules_running=env.get("FLEET_SCHEDULES", "running").lower() != "stopped",
        )

    def clinic_dir(self, clinic: str) -> Path:
        """Where a clinic's run logs and reconciliation reports go."""
        return self.output_dir / clinic


def _meltano(root: Path) -> str:
    """`meltano` on the PATH, else the one that installed the project (.meltano/run/bin)."""
    return shutil.which("meltano") or str(root / ".meltano" / "run" / "bin")


def clinic_environment(
    clinic: Clinic,
    clinics: list[Clinic],
    settings: FleetSettings,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one clinic's `meltano` processes.

    The worker's environment (the store's URL, MELTANO_DATABASE_URI, MELTANO_ENVIRONMENT, ...)
    without any clinic's secret variables (nor other clinics' business-account ones), plus this
    clinic's secrets under the names the tap, the target and paypal-ops read, its base URLs,
    rules, name and registry `env`.
    """
    base = os.environ if base is None else base
    others = {name for c in clinics for name in c.secret_variables}
    others |= {name for c in clinics if c.name != clinic.name for name in c.account_variables}
    others -= set(clinic.account_variables)  # its businesses' own accounts: read by their names
    env = {k: v for k, v in base.items() if k not in others and k not in PER_CLINIC}
    key, client_id, secret = (_secret(clinic, name, base) for name in clinic.secret_variables)
    rules = str(clinic.rules)
    env.update(
        {
            "TAP_CLINIKO_API_KEY": key,
            "PAYPAL_OPS_CLINIKO_API_KEY": key,
            "TARGET_PAYPAL_CLIENT_ID": client_id,
            "PAYPAL_OPS_PAYPAL_CLIENT_ID": client_id,
            "TARGET_PAYPAL_CLIENT_SECRET": secret,
            "PAYPAL_OPS_PAYPAL_CLIENT_SECRET": secret,
            "MAP_CLINIKO_PAYPAL_MAPPING_FILE": rules,
            "PAYPAL_OPS_MAPPING_FILE": rules,
            "TARGET_PAYPAL_CLINIC": clinic.name,
            "PAYPAL_OPS_CLINIC": clinic.name,
            "PAYPAL_OPS_RECONCILE_DIR": str(settings.clinic_dir(clinic.name) / "reconcile"),
        }
    )
    if clinic.cliniko_base_url:
        env["TAP_CLINIKO_BASE_URL"] = env["PAYPAL_OPS_CLINIKO_BASE_URL"] = clinic.cliniko_base_url
    if clinic.paypal_base_url:
        env["TARGET_PAYPAL_BASE_URL"] = env["PAYPAL_OPS_PAYPAL_BASE_URL"] = clinic.paypal_base_url
    env["MELTANO_SYS_DIR_ROOT"] = str(clinic_sys_dir(settings, clinic.name, base))
    env.update(clinic.env)
    if env.get("TARGET_PAYPAL_STORE_URL") and "PAYPAL_OPS_STORE_URL" not in clinic.env:
        env["PAYPAL_OPS_STORE_URL"] = env["TARGET_PAYPAL_STORE_URL"]  # the same store
    return env


def clinic_sys_dir(settings: FleetSettings, clinic: str, base: Mapping[str, str]) -> Path:
    """`<sys dir>/fleet/<clinic>`: the clinic's own Meltano sys dir, made on first use.

    One run per clinic at a time (the run queue's limit), so one folder per clinic suffices.
    """
    shared = settings.project_root / base.get("MELTANO_SYS_DIR_ROOT", ".meltano")
    own = shared / "fleet" / clinic
    own.mkdir(parents=True, exist_ok=True)
    for kind in INSTALLED:
        link = own / kind
        if not link.is_symlink():
            (shared / kind).mkdir(exist_ok=True)
            link.symlink_to(shared / kind, target_is_directory=True)
    return own


def _secret(clinic: Clinic, variable: str, env: Mapping[str, str]) -> str:
    value = env.get(variable, "")
    if not value:
        what = {
            clinic.cliniko_api_key_env: "Cliniko API key",
            clinic.paypal_client_id_env: "PayPal client id",
            clinic.paypal_client_secret_env: "PayPal client secret",
        }[variable]
        raise MissingSecret(
            f"clinic {clinic.name}: {variable} is not set (its {what}): set it in the "
            "environment of the Dagster workers"
        )
    return value
