"""Benchmark 4: `meltano run cliniko-to-paypal` end to end, then again with nothing changed."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from bench import measure
from bench.paths import BIN, REPO
from bench.sandbox import API_KEY, CLIENT_ID, CLIENT_SECRET, Sandbox
from tap_cliniko.registry import all_definitions
from target_paypal.store import Store

BILLING_STREAMS = (
    "users",
    "practitioners",
    "patients",
    "invoices",
    "invoice_items",
    "individual_appointments",
)


def billing_endpoints() -> int:
    """Requests a no-change rerun needs: one per endpoint the job's streams read."""
    return sum(len(d.paths) for d in all_definitions(None) if d.name in BILLING_STREAMS)


def meltano_env(sandbox: Sandbox, folder: Path) -> dict[str, str]:
    """As tests/conftest.py: the dev environment pointed at this sandbox, with its own state
    and store. Both rate limits are off so the run measures our code, not a limit."""
    store = f"sqlite:///{folder / 'store.db'}"
    return {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_CLINIKO_BASE_URL": sandbox.cliniko_url,
        "TAP_CLINIKO_API_KEY": API_KEY,
        "TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": "0",
        "TARGET_PAYPAL_BASE_URL": sandbox.paypal_url,
        "TARGET_PAYPAL_CLIENT_ID": CLIENT_ID,
        "TARGET_PAYPAL_CLIENT_SECRET": CLIENT_SECRET,
        "TARGET_PAYPAL_STORE_URL": store,
        "TARGET_PAYPAL_MAX_REQUESTS_PER_SECOND": "0",
    }


def meltano_run(env: dict[str, str], log: Path) -> measure.Measured:
    command = [str(BIN / "meltano"), "run", "cliniko-to-paypal"]
    done = measure.run(command, env=env, cwd=REPO, log=log, watch_memory=True)
    return measure.check(done, "meltano run cliniko-to-paypal", log)


def first_run(sandbox: Sandbox, env: dict[str, str], folder: Path) -> dict[str, Any]:
    sandbox.reset_paypal()
    sandbox.set_rate_limit(None)
    sandbox.reset_stats()
    done = meltano_run(env, folder / "first-run.log")
    calls = sandbox.paypal_calls()
    invoices = sandbox.seeded["invoices"]
    applied = applied_invoices(folder)
    return {
        "seconds": round(done.seconds, 1),
        "phases": phases(folder / "first-run.log"),
        "peak_memory_mb": done.peak_mb,
        "cpu_seconds": done.cpu_seconds,
        "cpu_seconds_all_processes": done.cpu_total,
        "cpu_seconds_per_1000_invoices": round(done.cpu_total / invoices * 1000, 2),
        "invoices_applied": applied,
        "target_cpu_ms_per_invoice_applied": (
            round(done.cpu_seconds.get("target-paypal", 0) / applied * 1000, 2) if applied else None
        ),
        "cliniko_requests": sandbox.stats()["requests"],
        "paypal_calls": len(calls),
        "paypal_writes": sum(1 for c in calls if _is_write(c)),
        "paypal_calls_per_invoice": round(len(calls) / invoices, 2),
    }


def rerun(sandbox: Sandbox, env: dict[str, str], folder: Path) -> dict[str, Any]:
    sandbox.reset_stats()
    sandbox.clear_paypal_calls()
    done = meltano_run(env, folder / "rerun.log")
    calls = sandbox.paypal_calls()
    return {
        "seconds": round(done.seconds, 1),
        "phases": phases(folder / "rerun.log"),
        "peak_memory_mb": done.peak_mb,
        "cpu_seconds": done.cpu_seconds,
        "cpu_seconds_all_processes": done.cpu_total,
        "cliniko_requests": sandbox.stats()["requests"],
        "cliniko_endpoints": billing_endpoints(),
        "paypal_calls": len(calls),
        "paypal_writes": sum(1 for c in calls if _is_write(c)),
    }


# Where a run's time goes, from the milestones in meltano's log (each line starts with its time).
MILESTONES = (
    ("start-up and discovery", ("Beginning sync of",)),
    ("read, map and stage", ("target-paypal", "completed processing")),
    ("apply to PayPal and finish", ("target-paypal run ",)),
)


def phases(log: Path) -> dict[str, float]:
    """Seconds from the log's first line to the first line of each milestone, as intervals."""
    times: dict[str, dt.datetime] = {}
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    for line in log.read_text().splitlines():
        stamp = _stamp(line)
        if stamp is None:
            continue
        first, last = first or stamp, stamp
        for name, markers in MILESTONES:
            if name not in times and all(m in line for m in markers):
                times[name] = stamp
    result, since = {}, first
    for name, _ in MILESTONES:
        if name in times and since is not None:
            result[name] = round((times[name] - since).total_seconds(), 1)
            since = times[name]
    if since is not None and last is not None:
        result["after the target"] = round((last - since).total_seconds(), 1)
    return result


def _stamp(line: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(line.split(" ", 1)[0].rstrip("Z"))
    except ValueError:
        return None


def applied_invoices(folder: Path) -> int:
    """Invoices the last run brought into PayPal (created, updated or held as drafts), from the
    run's summary in target-paypal's store."""
    store = Store(f"sqlite:///{folder / 'store.db'}")
    counts = store.runs(limit=1)[0]["counts"]["invoices"]
    return sum(int(counts.get(k, 0)) for k in ("created", "updated", "held"))


def _is_write(call: dict[str, Any]) -> bool:
    return bool(call.get("is_write"))


def pipeline(sandbox: Sandbox, folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    env = meltano_env(sandbox, folder)
    return {
        "invoices": sandbox.seeded["invoices"],
        "patients": sandbox.seeded["patients"],
        "first_run": first_run(sandbox, env, folder),
        "rerun": rerun(sandbox, env, folder),
    }
