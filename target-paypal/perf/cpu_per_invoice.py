"""target-paypal's CPU per invoice applied: the target alone on a first run, limits off.

    .venv/bin/python target-paypal/perf/cpu_per_invoice.py --invoices 5000 [--work DIR]
        [--profile profile.svg]

A sandbox (its own process, no added latency, no rate limit) is seeded with that many
invoices and patients; tap-cliniko and map-cliniko-paypal turn them once into the target's
input (kept in DIR and reused while the invoice count is the same). Then target-paypal runs
on it against an empty PayPal and an empty SQLite store, max_requests_per_second 0, as the
bench's end-to-end run does. Its CPU (user + system, from getrusage(RUSAGE_CHILDREN) around
the process) is divided by the invoices that ended the run with an outcome. A run on the same
input without its records gives the start-up cost, reported apart. With --profile the target
runs under py-spy (`--gil`: samples of the thread holding the GIL, i.e. Python's CPU), to an
SVG flame graph or, for a .txt, collapsed stacks for `top_functions.py`; the CPU figures then
include py-spy's own overhead: use such a run for shares only.
Figures, not a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import mapper, sandbox  # noqa: E402
from bench.paths import BIN  # noqa: E402


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's children that have ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def target_input(sb: sandbox.Sandbox, work: Path, invoices: int) -> Path:
    """The mapped Singer input of the sandbox's clinic (made once per size)."""
    mapped = work / f"mapped-{invoices}.singer"
    if not mapped.exists():
        tap_out = mapper.prepare_input(sb.cliniko_url, work, f"tap-{invoices}")
        mapper.run_mapper(tap_out, mapped)
        tap_out.unlink()
    return mapped


def no_records(source: Path, out: Path) -> Path:
    """The same input without its records: the target's start-up and end, nothing to apply."""
    with source.open() as lines, out.open("w") as small:
        small.writelines(line for line in lines if json.loads(line).get("type") != "RECORD")
    return out


def run_target(
    sb: sandbox.Sandbox, source: Path, work: Path, profile: Path | None
) -> dict[str, Any]:
    """target-paypal on `source`, from an empty store and PayPal: its CPU and outcomes."""
    store = work / "store.db"
    for stale in work.glob("store.db*"):
        stale.unlink()
    sb.reset_paypal()
    sb.set_paypal_latency(0)
    config = work / "target-config.json"
    config.write_text(
        json.dumps(
            {
                "base_url": sb.paypal_url,
                "client_id": sandbox.CLIENT_ID,
                "client_secret": sandbox.CLIENT_SECRET,
                "invoicer_email": "accounts@sunrise-clinic.example",
                "invoicer_business_name": "Sunrise Allied Health",
                "store_url": f"sqlite:///{store}",
                "max_requests_per_second": 0,
            }
        )
    )
    command = [str(BIN / "target-paypal"), "--config", str(config)]
    if profile is not None:
        raw = ["--format", "raw"] if profile.suffix == ".txt" else []  # collapsed stacks
        spy = [str(BIN / "py-spy"), "record", "-o", str(profile), "--rate", "200", "--gil"]
        command = [*spy, *raw, "--", *command]
    before, started = children_cpu(), time.perf_counter()
    with source.open() as stdin, (work / "target.log").open("w") as log:
        done = subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=log)
    cpu, seconds = children_cpu() - before, time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"target-paypal failed: see {work / 'target.log'}")
    with sqlite3.connect(store) as db:
        applied = db.execute("SELECT count(*) FROM outcomes WHERE stream = 'invoices'").fetchone()
        by = dict(db.execute("SELECT outcome, count(*) FROM outcomes GROUP BY outcome"))
    return {
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(seconds, 2),
        "invoices_with_outcome": applied[0],
        "outcomes": by,
        "paypal_calls": len(sb.paypal_calls()),
    }


def main() -> None:
    """Measure (and optionally profile) one first run; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/target-cpu"))
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    with sandbox.start(args.invoices, args.invoices, args.work / "sandbox.log") as sb:
        source = target_input(sb, args.work, args.invoices)
        one = run_target(sb, no_records(source, args.work / "empty.singer"), args.work, None)
        full = run_target(sb, source, args.work, args.profile)
    n = full["invoices_with_outcome"] or 1
    full["cpu_ms_per_invoice"] = round(1000 * full["cpu_seconds"] / n, 2)
    full["start_up_cpu_seconds"] = one["cpu_seconds"]
    full["cpu_ms_per_invoice_without_start_up"] = round(
        1000 * (full["cpu_seconds"] - one["cpu_seconds"]) / n, 2
    )
    full["paypal_calls_per_invoice"] = round(full["paypal_calls"] / n, 2)
    print(json.dumps(full, indent=2))
    if args.profile:
        print(f"profile: {args.profile}", file=sys.stderr)


if __name__ == "__main__":
    main()
