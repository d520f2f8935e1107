"""Helpers of the fleet's unit tests: registries, and a stand-in `meltano` (see conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from clinic_fleet.registry import Clinic, load_registry
from clinic_fleet.settings import FleetSettings

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "transforms" / "map_cliniko_paypal" / "mapping.yaml"

# `meltano --log-format=json run|invoke ...` as the fleet calls it: JSON lines on stderr, the
# command's answer on stdout. FAKE_MELTANO picks what happens; every call is appended to
# FAKE_MELTANO_CALLS with the environment it got.
FAKE = """#!{python}
import json, os, sys, time
args = sys.argv[1:]
mode = os.environ.get("FAKE_MELTANO", "ok")
calls = os.environ["FAKE_MELTANO_CALLS"]
keep = {{k: v for k, v in os.environ.items() if not k.startswith(("PATH", "PYTHON", "LC_"))}}
with open(calls, "a") as out:
    out.write(json.dumps({{"args": args, "env": keep}}) + "\\n")

def line(event, level="info", plugin=None, **fields):
    record = {{"event": event, "level": level, "timestamp": "2026-01-01T00:00:00Z", **fields}}
    if plugin:
        record.update(name=plugin, stdio="stderr", string_id=plugin)
    print(json.dumps(record), file=sys.stderr, flush=True)

if "run" in args:
    line("Running job")
    line("Read invoices: 80 of 80 records", plugin="tap-cliniko--billing", kind="progress")
    if mode == "paypal-down":
        line("target-paypal stopped: PayPal unreachable at http://x (token: HTTP 503, after 2 "
             "tries); nothing written. Run it again when PayPal is back.", "error", "target-paypal")
        line("Loader failed", "error")
        sys.exit(1)
    if mode == "stale" and "--force" not in args:
        line("Another 'dev:tap-cliniko--billing-to-target-paypal:x' pipeline is already running "
             "which started at 2026-01-01. Wait until ...", "error")
        sys.exit(1)
    if mode == "hang":
        time.sleep(60)
    line("target-paypal run 7: read 80 invoices; invoices: created 41", plugin="target-paypal")
    line("Run completed")
elif args[2:4] == ["paypal-ops", "summary"]:
    print(json.dumps({{
        "run_id": 7, "invoices": {{"created": 41, "updated": 2, "unchanged": 0, "skipped": 16,
                                 "parked": 21, "conflict": 1}},
        "open_dead_letters": 35, "seconds": 1.5,
        "reasons": {{"parked": [["invoices", "no usable email", 15]]}},
    }}))
elif args[2:4] == ["paypal-ops", "reconcile"]:
    folder = os.environ["PAYPAL_OPS_RECONCILE_DIR"]
    os.makedirs(folder, exist_ok=True)
    mismatch = 1 if mode == "mismatch" else 0
    with open(os.path.join(folder, "reconcile.json"), "w") as out:
        json.dump({{"ok": not mismatch, "counts": {{"missing_in_paypal": mismatch, "different": 0}},
                   "held": {{"parked": 3}}}}, out)
    if mode == "cliniko-down":
        print("reconcile stopped: Cliniko unreachable", file=sys.stderr)
        sys.exit(2)
    sys.exit(mismatch)
"""


def clinic_entry(name: str, **extra: object) -> dict:
    upper = name.upper()
    return {
        "name": name,
        "time_zone": "Australia/Sydney",
        "rules": str(RULES),
        "cliniko_api_key_env": f"{upper}_KEY",
        "paypal_client_id_env": f"{upper}_ID",
        "paypal_client_secret_env": f"{upper}_SECRET",
        **extra,
    }


def write_registry(path: Path, *entries: dict) -> Path:
    path.write_text(yaml.safe_dump({"clinics": list(entries)}))
    return path


def calls_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def clinics_of(settings: FleetSettings) -> list[Clinic]:
    return load_registry(settings.clinics_file)
