"""Benchmark part `memory`: what fills meltano's own memory during `meltano run cliniko-to-paypal`.

meltano is the pipeline's one process whose memory grew with the clinic's size. memray records
every allocation of the meltano process (not of the plugins it starts, which are other
programs); at the run's high-water mark the live allocations are summed by the place in the
code that made them. The run is made twice on the same clinic, each on a fresh PayPal account
and store: with Meltano's default `elt.buffer_size` and with this project's (meltano.yml).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from memray import FileReader

from bench import e2e, measure
from bench.paths import REPO
from bench.sandbox import Sandbox

MELTANO_DEFAULT_BUFFER = 10 * 1024 * 1024  # Meltano 4.4's `elt.buffer_size` default
# Where an allocation is put: the first frame, from the innermost, in one of these files.
STREAM_BUFFERS = "asyncio/streams.py"
TOP_PLACES = 5


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
    return {"buffer_size": buffer_size, "peak_rss_mb": rss, **heap_at_peak(capture)}


def heap_at_peak(capture: Path) -> dict[str, Any]:
    """The live heap at meltano's high-water mark: in all, in asyncio's stream buffers (the
    pipes between meltano and its plugins), and the largest places."""
    reader = FileReader(capture)
    places: Counter[str] = Counter()
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        places[place(record.stack_trace(max_stacks=64))] += record.size
    total = sum(places.values())
    buffers = sum(size for where, size in places.items() if STREAM_BUFFERS in where)
    return {
        "heap_peak_mb": round(total / 1024**2, 1),
        "stream_buffers_mb": round(buffers / 1024**2, 1),
        "top_places_mb": {where: round(size / 1024**2, 1)
                          for where, size in places.most_common(TOP_PLACES)},
    }


def place(stack: list[tuple[str, str, int]]) -> str:
    """`asyncio/streams.py:NNN feed_data`, `imports` (code and data of the modules meltano
    loads), or the innermost frame of meltano, or of anything."""
    for function, filename, line in stack:
        if filename.endswith(STREAM_BUFFERS):
            return f"{STREAM_BUFFERS}:{line} {function}"
    if any(filename.startswith("<frozen importlib") for _, filename, _ in stack):
        return "imports"
    for function, filename, line in stack:
        if "/meltano/" in filename:
            return f"meltano/{filename.split('/meltano/', 1)[1]}:{line} {function}"
    if not stack:
        return "(no Python frame)"
    function, filename, line = stack[0]
    return f"{'/'.join(filename.split('/')[-2:])}:{line} {function}"
