"""Benchmark part `memory`: what fills meltano's own memory during `meltano run cliniko-to-paypal`.

meltano is the pipeline's one process whose memory grew with the clinic's size. memray records
every allocation of the meltano process (not of the plugins it starts, which are other
programs); at the run's high-water mark the live allocations are summed by the place in the
code that made them. The run is made twice on the same clinic, each on a fresh PayPal account
and store: with Meltano's default `elt.buffer_size` and with this project's (meltano.yml).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from bench import e2e, measure
from bench.paths import REPO
from bench.profiles import heap_at_peak
from bench.sandbox import Sandbox

MELTANO_DEFAULT_BUFFER = 10 * 1024 * 1024  # Meltano 4.4's `elt.buffer_size` default


def project_buffer_size() -> int:
    config = yaml.safe_load((REPO / "meltano.yml").read_text())
    return int(config.get("elt", {}).get("buffer_size", MELTANO_DEFAULT_BUFFER))


def profile(sandbox: Sandbox, folder: Path) -> dict[str, Any]:
    """The run with each buffer size: meltano's peak RSS, its heap at the peak and by place."""
    runs = {}
    for label, size in (("Meltano's default", MELTANO_DEFAULT_BUFFER),
                        ("this project's", project_buffer_size())):
        runs[label] = profiled_run(sandbox, folder / f"buffer-{size}", size)
    return {"invoices": sandbox.seeded["invoices"], "runs": runs}


def profiled_run(sandbox: Sandbox, folder: Path, buffer_size: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    sandbox.reset_paypal()
    env = {**e2e.meltano_env(sandbox, folder), "MELTANO_ELT_BUFFER_SIZE": str(buffer_size)}
    capture = folder / "meltano.memray"
    meltano = Path(sys.executable).parent / "meltano"
    command = [sys.executable, "-m", "memray", "run", "-q", "--force", "-o", str(capture),
               str(meltano), "run", "cliniko-to-paypal"]
    log = folder / "run.log"
    done = measure.check(measure.run(command, env=env, cwd=REPO, log=log, watch_memory=True),
                         "meltano run under memray", log)
    # The root process is meltano (under memray's name: python); the plugins keep theirs.
    rss = max((mb for name, mb in done.peak_mb.items() if name not in measure.KNOWN),
              default=0.0)
    return {"buffer_size": buffer_size, "peak_rss_mb": rss, **heap_at_peak(capture, "meltano")}
