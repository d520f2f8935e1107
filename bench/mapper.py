"""Benchmark 2: map-cliniko-paypal alone, fed a prepared file of the tap's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import measure, singer
from bench.paths import BIN, MAPPING_FILE

BILLING_STREAMS = ["users", "practitioners", "patients", "invoices", "invoice_items"]


def prepare_input(cliniko_url: str, folder: Path, name: str) -> Path:
    """The tap's output for the billing streams (what `meltano run` pipes into the mapper)."""
    config = singer.tap_config(folder, cliniko_url, per_minute=0)
    catalog = singer.catalog(folder, config, BILLING_STREAMS)
    out, log = folder / f"{name}.singer", folder / f"{name}.log"
    command = [str(BIN / "tap-cliniko"), "--config", str(config), "--catalog", str(catalog)]
    with out.open("w") as stdout:
        measure.check(measure.run(command, stdout=stdout, log=log), f"tap for {name}", log)
    return out


def run_mapper(source: Path, out: Path) -> measure.Measured:
    config = singer.write_json(out.with_suffix(".config.json"), {"mapping_file": str(MAPPING_FILE)})
    log = out.with_suffix(".log")
    command = [str(BIN / "map-cliniko-paypal"), "--config", str(config)]
    with source.open() as stdin, out.open("w") as stdout:
        return measure.check(measure.run(command, stdin=stdin, stdout=stdout, log=log),
                             "map-cliniko-paypal", log)


def throughput(source: Path, folder: Path) -> dict[str, Any]:
    """Input records mapped per second (the process's whole life, start-up included)."""
    records_in = sum(singer.count_records(source).values())
    out = folder / "mapped.singer"
    done = run_mapper(source, out)
    records_out = singer.count_records(out)
    return {
        "records_in": records_in,
        "records_out": sum(records_out.values()),
        "out_by_stream": records_out,
        "seconds": round(done.seconds, 2),
        "records_per_second": round(records_in / done.seconds),
    }
