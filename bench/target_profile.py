"""`python -m bench.target_profile [INVOICES]`: where target-paypal's CPU and memory go.

Not part of `make bench` (it takes as long as an e2e run, twice): the profile behind its
target-paypal figures. A sandbox seeded with INVOICES invoices and as many patients (default
100,000), the tap's and the mapper's output for it written to files, then target-paypal's first
run of that input into an empty PayPal and store, twice: under py-spy (CPU samples; sampling
barely slows it) and under memray (the live heap at its high-water mark). Figures are printed
and written to bench/results/target-profile.json; the raw profiles stay in bench/results/work/.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench import mapper, measure, sandbox
from bench.paths import BIN, RESULTS
from bench.profiles import cpu_by_place, heap_at_peak
from bench.sandbox import Sandbox
from bench.target import target_config

CONCURRENCY = 8  # as meltano.yml's dev environment


def main() -> int:
    invoices = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    work = RESULTS / "work" / "target-profile"
    work.mkdir(parents=True, exist_ok=True)
    with sandbox.start(invoices, invoices, work / "sandbox.log") as sb:
        source = mapper.prepare_input(sb.cliniko_url, work, "tap-billing")
        mapped = work / "mapped.singer"
        mapper.run_mapper(source, mapped)
        result = {"invoices": invoices, "cpu": cpu_profile(sb, mapped, work),
                  "memory": memory_profile(sb, mapped, work)}
    out = RESULTS / "target-profile.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


def cpu_profile(sb: Sandbox, mapped: Path, work: Path) -> dict[str, Any]:
    folder = work / "cpu"
    # --gil: only threads holding the GIL, i.e. running Python, not waiting on PayPal.
    command = [str(BIN / "py-spy"), "record", "--format", "raw", "--rate", "50", "--gil",
               "--full-filenames",
               "-o", str(folder / "target.raw"), "--", *target_command(sb, folder)]
    done = run_target(sb, mapped, folder, command)
    return {"cpu_seconds": done.cpu_total, "seconds": round(done.seconds, 1),
            **cpu_by_place(folder / "target.raw", "target_paypal")}


def memory_profile(sb: Sandbox, mapped: Path, work: Path) -> dict[str, Any]:
    folder = work / "memory"
    capture = folder / "target.memray"
    command = [sys.executable, "-m", "memray", "run", "-q", "--force", "-o", str(capture),
               *target_command(sb, folder)]
    done = run_target(sb, mapped, folder, command)
    return {"peak_rss_mb": max(done.peak_mb.values(), default=0.0),
            **heap_at_peak(capture, "target_paypal")}


def target_command(sb: Sandbox, folder: Path) -> list[str]:
    shutil.rmtree(folder, ignore_errors=True)  # an empty store (and its key) each time
    folder.mkdir(parents=True)
    config = target_config(folder, sb, CONCURRENCY)
    # As the e2e runs: PayPal's request cap off, so the profile is of our code, not of waiting.
    settings = json.loads(config.read_text())
    config.write_text(json.dumps({**settings, "max_requests_per_second": 0}))
    return [str(BIN / "target-paypal"), "--config", str(config)]


def run_target(sb: Sandbox, mapped: Path, folder: Path, command: list[str]) -> measure.Measured:
    sb.reset_paypal()
    log = folder / "target.log"
    with mapped.open() as stdin:
        return measure.check(measure.run(command, stdin=stdin, log=log, watch_memory=True),
                             "target-paypal", log)


if __name__ == "__main__":
    raise SystemExit(main())
