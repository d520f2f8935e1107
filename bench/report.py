"""The figures as one table with each target MET or MISSED, and as JSON for comparing runs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import KNOWN as PIPELINE

MEMORY_CAP_MB = 200
MEMORY_GROWTH = 0.20
TAP_RATIO = 0.60
FIRST_RUN_SECONDS = 600  # the largest size's first run, limits off
RERUN_SECONDS = 20  # the largest size's no-change rerun
RERUN_GROWTH = 2.0  # ... and at most this many times the smallest size's
TARGET_CPU_MS = 4.0  # target-paypal's CPU per invoice applied


@dataclass
class Row:
    measurement: str
    figure: str
    target: str = ""
    met: bool | None = None  # None: a figure without a target

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("MET" if self.met else "MISSED")


def tap_rows(tap: dict[str, Any]) -> list[Row]:
    return [
        Row(f"tap: patients/s reading {tap['records']:,} (rate limit off)",
            f"{tap['tap_records_per_second']:,}/s"),
        Row("plain requests loop over the same pages", f"{tap['plain_records_per_second']:,}/s"),
        Row("tap / plain loop" + (" (median of interleaved pairs)" if "pairs" in tap else ""),
            f"{tap['ratio']:.2f}", f">= {TAP_RATIO:.2f}", tap["ratio"] >= TAP_RATIO),
    ]


def limit_rows(limit: dict[str, Any]) -> list[Row]:
    if limit["share_used"] is None:
        return [Row(f"tap under Cliniko's limit ({limit['limit']})",
                    f"too few requests ({limit['requests']}) to measure", ">= 90 %, no 429")]
    return [
        Row(f"tap under Cliniko's limit ({limit['limit']}): share of allowed rate used",
            f"{limit['share_used']:.1%} ({limit['requests']} requests)",
            ">= 90 %, no 429", limit["share_used"] >= 0.9 and limit["429s"] == 0),
        Row("429s from Cliniko", str(limit["429s"])),
    ]


def mapper_rows(mapper: dict[str, Any]) -> list[Row]:
    return [Row(f"mapper: records/s ({mapper['records_in']:,} in)",
                f"{mapper['records_per_second']:,}/s")]


def target_rows(target: dict[str, Any]) -> list[Row]:
    rows = []
    for key in ("concurrency_1", "concurrency_8"):
        run = target[key]
        rows.append(Row(
            f"target: invoices/s, {target['latency_ms']} ms per PayPal call, "
            f"max_concurrency {run['max_concurrency']}",
            f"{run['invoices_per_second']:.2f}/s ({run['invoices_written']} invoices, "
            f"{run['share_of_rate_limit']:.0%} of {target['max_requests_per_second']}/s)"))
    rows.append(Row("target: concurrency 8 / concurrency 1", f"{target['speedup']:.2f}x",
                    ">= 6x", target["speedup"] >= 6))
    return rows


def e2e_rows(runs: dict[str, dict[str, Any]]) -> list[Row]:
    rows = []
    largest = max(runs, key=lambda k: runs[k]["invoices"])
    smallest = min(runs, key=lambda k: runs[k]["invoices"])
    for label, run in runs.items():
        first, again = run["first_run"], run["rerun"]
        big = label == largest
        rows.append(Row(f"e2e {label} invoices: meltano run wall time (limits off)",
                        f"{first['seconds']} s ({first['paypal_calls_per_invoice']} "
                        "PayPal calls/invoice)", f"<= {FIRST_RUN_SECONDS} s" if big else "",
                        first["seconds"] <= FIRST_RUN_SECONDS if big else None))
        rows.extend(cpu_rows(label, first, big))
        rows.append(Row(f"e2e {label}: peak memory (MB)", _peaks(first["peak_memory_mb"])))
        rows.append(rerun_row(label, again, runs[smallest]["rerun"] if big else None))
    rows.extend(memory_rows(runs))
    return rows


def cpu_rows(label: str, first: dict[str, Any], big: bool) -> list[Row]:
    """CPU per 1,000 invoices across every process, and target-paypal's per invoice applied."""
    rows = []
    if "cpu_seconds_per_1000_invoices" in first:
        rows.append(Row(f"e2e {label}: CPU s per 1,000 invoices, all processes",
                        f"{first['cpu_seconds_per_1000_invoices']} ({_cpus(first)})"))
    per_invoice = first.get("target_cpu_ms_per_invoice_applied")
    if per_invoice is not None:
        rows.append(Row(f"e2e {label}: target-paypal CPU per invoice applied",
                        f"{per_invoice} ms ({first['invoices_applied']:,} applied)",
                        f"<= {TARGET_CPU_MS:g} ms" if big else "",
                        per_invoice <= TARGET_CPU_MS if big else None))
    return rows


def rerun_row(label: str, again: dict[str, Any], small: dict[str, Any] | None) -> Row:
    """The no-change rerun; the largest size's against its cap and the smallest size's."""
    figure = (f"{again['seconds']} s, {again['cliniko_requests']} Cliniko requests "
              f"({again['cliniko_endpoints']} endpoints), {again['paypal_writes']} PayPal writes")
    if small is None:
        return Row(f"e2e {label}: no-change rerun", figure)
    ok = again["cliniko_requests"] <= again["cliniko_endpoints"] and again["paypal_writes"] == 0
    ratio = again["seconds"] / small["seconds"] if small["seconds"] else 0.0
    return Row(f"e2e {label}: no-change rerun", f"{figure}; {ratio:.1f}x the smallest",
               f"<= {RERUN_SECONDS} s and <= {RERUN_GROWTH:g}x, 1 request/endpoint, 0 writes",
               ok and again["seconds"] <= RERUN_SECONDS and ratio <= RERUN_GROWTH)


def _cpus(first: dict[str, Any]) -> str:
    cpu = first.get("cpu_seconds", {})
    return ", ".join(f"{n} {cpu[n]:.0f} s" for n in PIPELINE if n in cpu)


def memory_rows(runs: dict[str, dict[str, Any]]) -> list[Row]:
    """Each pipeline process under the cap at every size, and growing little with size."""
    by_size = sorted(runs.values(), key=lambda r: r["invoices"])
    peaks = [_all_peaks(r) for r in by_size]
    largest = max((mb for p in peaks for mb in p.values()), default=0.0)
    rows = [Row("peak memory of any pipeline process", f"{largest:.0f} MB",
                f"<= {MEMORY_CAP_MB} MB", largest <= MEMORY_CAP_MB)]
    if len(by_size) >= 2:
        small, big = peaks[0], peaks[-1]
        growth = {n: big[n] / small[n] - 1 for n in big if small.get(n)}
        worst = max(growth, key=lambda n: growth[n]) if growth else "-"
        figure = f"{growth.get(worst, 0):+.0%} ({worst})"
        rows.append(Row(f"memory growth {by_size[0]['invoices']:,} -> "
                        f"{by_size[-1]['invoices']:,} invoices (worst process)", figure,
                        f"<= +{MEMORY_GROWTH:.0%}",
                        all(g <= MEMORY_GROWTH for g in growth.values())))
    return rows


def _all_peaks(run: dict[str, Any]) -> dict[str, float]:
    """Per process, the larger peak of the first run and the rerun."""
    peaks: dict[str, float] = {}
    for part in ("first_run", "rerun"):
        for name, mb in run[part]["peak_memory_mb"].items():
            if name in PIPELINE:
                peaks[name] = max(peaks.get(name, 0.0), mb)
    return peaks


def _peaks(peaks: dict[str, float]) -> str:
    return ", ".join(f"{n} {peaks[n]:.0f}" for n in PIPELINE if n in peaks)


def meltano_memory_rows(memory: dict[str, Any]) -> list[Row]:
    """meltano's memory with each elt.buffer_size, and where its heap is at the peak."""
    rows = []
    for label, run in memory["runs"].items():
        mib = run["buffer_size"] / 1024**2
        imports = run["top_places_mb"].get("imports", 0.0)
        rest = run["heap_peak_mb"] - imports - run["stream_buffers_mb"]
        rows.append(Row(f"meltano at {memory['invoices']:,} invoices, elt.buffer_size {mib:g} MiB "
                        f"({label}): peak RSS; heap at its peak",
                        f"{run['peak_rss_mb']:.0f} MB; {run['heap_peak_mb']} MB = imports "
                        f"{imports} + pipe buffers {run['stream_buffers_mb']} + rest {rest:.1f}"))
    return rows


def fleet_rows(fleet: dict[str, Any]) -> list[Row]:
    """Wall time per fleet size, the 4-to-1 ratio against its target, CPU per 1,000 invoices."""
    sizes = fleet["fleets"]
    each = next(iter(sizes.values()))["invoices_per_clinic"]
    rows = [Row(f"fleet: {n} clinic(s) of {each:,} invoices at once, {fleet['latency_ms']} ms "
                "per PayPal call: wall time", f"{run['wall_seconds']} s")
            for n, run in sizes.items()]
    ratio = fleet["ratio_4_to_1"]
    rows.append(Row("fleet: wall(4) / wall(1)", f"{ratio:.2f}", f"<= {fleet['target_ratio']}",
                    ratio is not None and ratio <= fleet["target_ratio"]))
    for n, run in sizes.items():
        rows.append(Row(f"fleet {n}: CPU s per 1,000 invoices (pipeline; PostgreSQL; sandboxes)",
                        f"{run['pipeline_cpu_per_1000_invoices']}; "
                        f"{run['postgres_cpu_per_1000_invoices']}; "
                        f"{run['sandbox_cpu_per_1000_invoices']} "
                        f"({run['cores_busy']} cores busy, others "
                        f"{run.get('other_cores_busy', '?')})"))
    return rows


def rows_for(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "tap" in results:
        rows += tap_rows(results["tap"])
    if "limit" in results:
        rows += limit_rows(results["limit"])
    if "mapper" in results:
        rows += mapper_rows(results["mapper"])
    if "target" in results:
        rows += target_rows(results["target"])
    if "e2e" in results:
        rows += e2e_rows(results["e2e"])
    if "memory" in results:
        rows += meltano_memory_rows(results["memory"])
    if "fleet" in results:
        rows += fleet_rows(results["fleet"])
    return rows


def table(rows: list[Row]) -> str:
    header = Row("Measurement", "Figure", "Target")
    widths = [max(len(getattr(r, f)) for r in [header, *rows])
              for f in ("measurement", "figure", "target")]
    lines = []
    for row in [header, *rows]:
        cells = [row.measurement, row.figure, row.target]
        verdict = "Verdict" if row is header else row.verdict
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
                     + "  " + verdict)
        if row is header:
            lines.append("-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines)


def write_json(results: dict[str, Any], rows: list[Row], folder: Path) -> Path:
    """`latest.json` and a dated copy beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {**results, "taken_at": stamp, "targets": [asdict(r) | {"verdict": r.verdict}
                                                         for r in rows]}
    text = json.dumps(document, indent=2, default=str)
    (folder / f"{stamp}.json").write_text(text)
    latest = folder / "latest.json"
    latest.write_text(text)
    return latest
