"""`clinic-fleet check`: load clinics.yml and the code location as Dagster would, in one line."""

from __future__ import annotations

import sys

import dagster as dg

from clinic_fleet.definitions import build
from clinic_fleet.registry import RegistryError, load_registry
from clinic_fleet.settings import FleetSettings


def main(argv: list[str] | None = None) -> int:
    """Check the registry: one line saying what is wrong, or what the fleet holds."""
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["check"]):
        print("usage: clinic-fleet check", file=sys.stderr)
        return 2
    settings = FleetSettings.from_environment()
    try:
        clinics = load_registry(settings.clinics_file)
    except RegistryError as error:
        print(f"clinic-fleet: {error}", file=sys.stderr)
        return 1
    dg.Definitions.validate_loadable(build(settings, clinics))
    print(
        f"{settings.clinics_file}: {len(clinics)} clinics, each daily at 02:00 in its zone: "
        + ", ".join(f"{c.name} ({c.time_zone})" for c in clinics)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
