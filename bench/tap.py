"""Benchmark 1: tap-cliniko's read speed, beside a plain `requests` loop, and its use of
Cliniko's rate limit."""

from __future__ import annotations

import json
import os
import resource
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench import measure, singer
from bench.paths import BIN
from bench.sandbox import API_KEY, Sandbox

# The real limit is 200 a minute. The bench keeps its rate (3.33 requests a second) and scales
# the window down tenfold, so a run of ten windows takes a minute, not ten: at that rate the
# tap is idle between requests just as against Cliniko, so what the figure shows is how close
# its own limiter gets to the limit, which is what matters in production.
THROTTLE_LIMIT, THROTTLE_WINDOW = 20, 6

# The tap's read speed against the plain loop's: the median of at least MIN_PAIRS pairs.
MIN_PAIRS, DEFAULT_PAIRS = 3, 5
TARGET_RATIO = 0.6


def run_tap(folder: Path, config: Path, streams: list[str], name: str) -> tuple[float, dict]:
    """The real executable with a catalog of `streams`; returns (seconds, records by stream)."""
    catalog = singer.catalog(folder, config, streams)
    seconds, _, counts = run_tap_with(folder, config, catalog, name)
    return seconds, counts


def run_tap_with(folder: Path, config: Path, catalog: Path, name: str) -> tuple[float, float, dict]:
    """The real executable with `catalog`; returns (seconds, CPU seconds, records by stream)."""
    out, log = folder / f"{name}.singer", folder / f"{name}.log"
    command = [str(BIN / "tap-cliniko"), "--config", str(config), "--catalog", str(catalog)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out.open("w") as stdout:
        done = measure.check(measure.run(command, stdout=stdout, log=log), name, log)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.seconds, cpu, singer.count_records(out)


def plain_loop(sandbox: Sandbox, collection: str) -> tuple[float, int]:
    """What any client has to do: fetch every page, parse its JSON, follow links.next. The
    same query as the tap's (archived patients included), so the same pages."""
    seconds, _, records = plain_loop_timed(sandbox, collection)
    return seconds, records


def plain_loop_timed(sandbox: Sandbox, collection: str) -> tuple[float, float, int]:
    """`plain_loop`, also giving the CPU seconds it took (seconds, CPU seconds, records)."""
    session = requests.Session()
    session.auth = (API_KEY, "")
    session.headers.update({"User-Agent": singer.USER_AGENT, "Accept": "application/json"})
    url: str | None = f"{sandbox.cliniko_url}/{collection}?per_page=100&q[]=archived_at:*"
    records, started, cpu = 0, time.perf_counter(), time.process_time()
    while url:
        response = session.get(url, timeout=60)
        response.raise_for_status()
        page = response.json()
        records += len(page[collection])
        url = (page.get("links") or {}).get("next")
    return time.perf_counter() - started, time.process_time() - cpu, records


def pairs_wanted() -> int:
    """Tap/plain pairs to run: BENCH_TAP_PAIRS, at least 3 (one pair's ratio varies by ±0.08)."""
    return max(MIN_PAIRS, int(os.environ.get("BENCH_TAP_PAIRS", DEFAULT_PAIRS)))


def throughput(sandbox: Sandbox, folder: Path, pairs: int | None = None) -> dict[str, Any]:
    """Patients read per second, tap against plain loop, with every rate limit off.

    The plain loop's own speed varies a lot from run to run on a shared machine (6.9k-10.6k
    records/s), so the two run in interleaved pairs (tap, plain, tap, plain, ...), each pair's
    ratio is kept, and the figures are the medians over the pairs. CPU seconds (the tap's
    process, start-up included; the loop's own) say more than wall time on a loaded machine.
    """
    pairs = pairs or pairs_wanted()
    sandbox.set_rate_limit(None)
    config = singer.tap_config(folder, sandbox.cliniko_url, per_minute=0)
    catalog = singer.catalog(folder, config, ["patients"])
    # The first request for a query builds the sandbox's cache (seconds at 100,000): warm it
    # up so neither side pays it.
    plain_loop(sandbox, "patients")
    runs: list[dict[str, Any]] = []
    for n in range(1, pairs + 1):
        sandbox.reset_stats()
        tap_seconds, tap_cpu, counts = run_tap_with(folder, config, catalog, f"tap-patients-{n}")
        tap_requests = sandbox.stats()["requests"]
        loop_seconds, loop_cpu, loop_records = plain_loop_timed(sandbox, "patients")
        tap_records = counts.get("patients", 0)
        tap_rate, loop_rate = tap_records / tap_seconds, loop_records / loop_seconds
        runs.append({
            "records": tap_records,
            "tap_seconds": round(tap_seconds, 2),
            "tap_cpu_seconds": round(tap_cpu, 2),
            "tap_records_per_second": round(tap_rate),
            "tap_requests": tap_requests,
            "plain_records": loop_records,
            "plain_seconds": round(loop_seconds, 2),
            "plain_cpu_seconds": round(loop_cpu, 2),
            "plain_records_per_second": round(loop_rate),
            "ratio": round(tap_rate / loop_rate, 3),
        })
    first = runs[0]
    return {
        "records": first["records"],
        "tap_requests": first["tap_requests"],
        "plain_records": first["plain_records"],
        # Medians over the pairs; `ratio` is the median of the pairs' ratios (not the ratio of
        # the two medians), the figure held against TARGET_RATIO.
        "tap_seconds": _median(runs, "tap_seconds", 2),
        "tap_cpu_seconds": _median(runs, "tap_cpu_seconds", 2),
        "tap_records_per_second": round(_median(runs, "tap_records_per_second", 0)),
        "plain_seconds": _median(runs, "plain_seconds", 2),
        "plain_cpu_seconds": _median(runs, "plain_cpu_seconds", 2),
        "plain_records_per_second": round(_median(runs, "plain_records_per_second", 0)),
        "ratio": _median(runs, "ratio", 3),
        "ratio_min": min(r["ratio"] for r in runs),
        "ratio_max": max(r["ratio"] for r in runs),
        "target_ratio": TARGET_RATIO,
        "pair_count": len(runs),
        "pairs": runs,
    }


def _median(runs: list[dict[str, Any]], key: str, places: int) -> float:
    return round(statistics.median(r[key] for r in runs), places)


class RequestClock:
    """Samples the sandbox's request count to time the first and the last request."""

    def __init__(self, sandbox: Sandbox, every: float = 0.05) -> None:
        self.sandbox, self.every = sandbox, every
        self.first: float | None = None
        self.last: float | None = None
        self._seen = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RequestClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.is_set():
            now, count = time.perf_counter(), self.sandbox.stats()["requests"]
            if count > self._seen:
                self.first = self.first or now
                self.last, self._seen = now, count
            self._done.wait(self.every)


def rate_limit_use(sandbox: Sandbox, folder: Path, streams: list[str]) -> dict[str, Any]:
    """The share of Cliniko's allowed request rate the tap uses, and the 429s it gets."""
    sandbox.set_rate_limit(THROTTLE_LIMIT, THROTTLE_WINDOW)
    sandbox.reset_stats()
    config = singer.tap_config(
        folder, sandbox.cliniko_url, per_minute=THROTTLE_LIMIT, window=THROTTLE_WINDOW
    )
    with RequestClock(sandbox) as clock:
        seconds, counts = run_tap(folder, config, streams, "tap-throttled")
    sandbox.set_rate_limit(None)
    stats = sandbox.stats()
    requests_sent, span = stats["requests"], (clock.last or 0) - (clock.first or 0)
    # After the first window's burst every request has to wait for a slot: the steady rate
    # (requests beyond the first window over the time they took) against the allowed rate.
    # Fewer requests than two windows' worth say nothing about the steady rate (a smoke run).
    enough = requests_sent >= 2 * THROTTLE_LIMIT and span > 0
    steady = (requests_sent - THROTTLE_LIMIT) / span if enough else 0.0
    allowed = THROTTLE_LIMIT / THROTTLE_WINDOW
    return {
        "limit": f"{THROTTLE_LIMIT} per {THROTTLE_WINDOW} s",
        "streams": streams,
        "records": sum(counts.values()),
        "requests": requests_sent,
        "span_seconds": round(span, 2),
        "tap_seconds": round(seconds, 2),
        "requests_per_second": round(steady, 3),
        "allowed_per_second": round(allowed, 3),
        "share_used": round(steady / allowed, 3) if enough else None,
        "429s": int(stats["by_status"].get("429", 0)),
        "by_status": stats["by_status"],
    }


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
