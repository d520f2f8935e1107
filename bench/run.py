"""`make bench`: every benchmark against the sandbox, one table, and results/latest.json.

BENCH_ONLY=tap,limit,mapper,target,e2e,memory,fleet runs some parts; BENCH_SCALE=0.1 shrinks every
size (for a quick smoke run; its figures are not comparable with a full run's).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import e2e, fleet, machine, mapper, meltano_memory, report, sandbox, tap, target
from bench.paths import RESULTS

PARTS = ("tap", "limit", "mapper", "target", "e2e", "memory", "fleet")
# Sizes at BENCH_SCALE=1.
TAP_PATIENTS = 100_000
SMALL, LARGE = 10_000, 100_000  # invoices (and as many patients) in the two end-to-end runs
TARGET_PATIENTS, TARGET_INVOICES = 200, 300  # ~160 of them written to PayPal (the rest held)


def scaled(n: int, scale: float, least: int = 50) -> int:
    return max(least, int(n * scale))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed(label: str, step: Callable[[], Any]) -> Any:
    say(f"bench: {label} ...")
    started = time.perf_counter()
    result = step()
    say(f"bench: {label} done in {time.perf_counter() - started:.0f} s")
    return result


def small_clinic(parts: set[str], scale: float, work: Path, results: dict[str, Any]) -> None:
    """One sandbox of 10,000 invoices: the rate-limit run, the mapper's input, e2e small, and
    meltano's memory profile."""
    size = scaled(SMALL, scale)
    with timed(f"seeding {size:,} invoices", lambda: sandbox.start(
            size, size, work / "sandbox-small.log")) as sb:
        if "limit" in parts:
            results["limit"] = timed("tap under the rate limit", lambda: tap.rate_limit_use(
                sb, work / "limit", ["patients", "invoices"]))
        if "mapper" in parts:
            source = timed("tap output for the mapper", lambda: mapper.prepare_input(
                sb.cliniko_url, work / "mapper", "tap-billing"))
            results["mapper"] = timed("mapper", lambda: mapper.throughput(
                source, work / "mapper"))
        if "e2e" in parts:
            results["e2e"][f"{size:,}"] = timed(f"e2e {size:,}", lambda: e2e.pipeline(
                sb, work / "e2e-small"))
        if "memory" in parts:
            results["memory"] = timed("meltano's memory under memray", lambda: (
                meltano_memory.profile(sb, work / "memory")))


def target_clinic(scale: float, work: Path, results: dict[str, Any]) -> None:
    """A small clinic whose mapped records the target writes at two concurrencies."""
    patients, invoices = scaled(TARGET_PATIENTS, scale, 20), scaled(TARGET_INVOICES, scale, 30)
    with sandbox.start(patients, invoices, work / "sandbox-target.log") as sb:
        folder = work / "target"
        tap_out = mapper.prepare_input(sb.cliniko_url, folder, "tap-billing")
        mapped = folder / "mapped.singer"
        mapper.run_mapper(tap_out, mapped)
        results["target"] = timed("target", lambda: target.concurrency(sb, mapped, folder))


def large_clinic(parts: set[str], scale: float, work: Path, results: dict[str, Any]) -> None:
    """One sandbox of 100,000 patients: the tap's read speed, and e2e large."""
    patients = scaled(TAP_PATIENTS, scale)
    invoices = scaled(LARGE, scale) if "e2e" in parts else 10
    with timed(f"seeding {patients:,} patients, {invoices:,} invoices", lambda: sandbox.start(
            patients, invoices, work / "sandbox-large.log")) as sb:
        if "tap" in parts:
            results["tap"] = timed("tap throughput", lambda: tap.throughput(sb, work / "tap"))
        if "e2e" in parts:
            results["e2e"][f"{invoices:,}"] = timed(f"e2e {invoices:,}", lambda: e2e.pipeline(
                sb, work / "e2e-large"))


def main() -> int:
    parts = {p.strip() for p in os.environ.get("BENCH_ONLY", ",".join(PARTS)).split(",")}
    unknown = parts - set(PARTS)
    if unknown:
        say(f"bench: unknown BENCH_ONLY part(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(PARTS)}")
        return 2
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    work = RESULTS / "work"  # logs and Singer files of the last run, for a closer look
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: dict[str, Any] = {"machine": machine.describe(), "scale": scale,
                               "parts": sorted(parts), "e2e": {}}
    started = time.perf_counter()
    if parts & {"limit", "mapper", "e2e", "memory"}:
        small_clinic(parts, scale, work, results)
    if "target" in parts:
        target_clinic(scale, work, results)
    if parts & {"tap", "e2e"}:
        large_clinic(parts, scale, work, results)
    if "fleet" in parts:
        results["fleet"] = timed("fleet of clinics", lambda: fleet.run(
            scaled(fleet.INVOICES, scale), work / "fleet", say))
    if not results["e2e"]:
        del results["e2e"]
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    rows = report.rows_for(results)
    print(describe_machine(results["machine"]))
    print(report.table(rows))
    print(NOTES)
    say(f"bench: figures in {report.write_json(results, rows, RESULTS)} "
        f"({results['total_seconds']:.0f} s in all)")
    return 0


NOTES = """\
Notes: e2e runs switch both rate limits off (tap max_requests_per_minute 0, target
max_requests_per_second 0) and add no PayPal latency, so they measure this project's code.
The target's invoices/s is over its applying time (first to last PayPal call).
The fleet keeps each clinic's own limits (Cliniko 200 requests/min; PayPal max_concurrency 8,
max_requests_per_second 100) with 100 ms per PayPal call; CPU s are of every process of the
runs (meltano and its plugins), PostgreSQL's and the sandboxes' given apart."""


def describe_machine(m: dict[str, Any]) -> str:
    return (f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, "
            f"{m['os']}; load average at start {m['load_average_at_start']}")


if __name__ == "__main__":
    raise SystemExit(main())
