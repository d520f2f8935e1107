"""Benchmark 3: target-paypal writing invoices with 100 ms added to every PayPal call, one
invoice at a time and eight at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import measure, singer
from bench.paths import BIN
from bench.sandbox import CLIENT_ID, CLIENT_SECRET, Sandbox

LATENCY_MS = 100
MAX_REQUESTS_PER_SECOND = 100  # as meltano.yml's dev environment
CREATE = ("POST", "/v2/invoicing/invoices")


def target_config(folder: Path, sandbox: Sandbox, concurrency: int) -> Path:
    return singer.write_json(folder / f"target-config-{concurrency}.json", {
        "base_url": sandbox.paypal_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "invoicer_email": "accounts@sunrise-clinic.example",
        "invoicer_business_name": "Sunrise Allied Health",
        "store_url": f"sqlite:///{folder / f'store-{concurrency}.db'}",
        "max_concurrency": concurrency,
        "max_requests_per_second": MAX_REQUESTS_PER_SECOND,
    })


def run_once(sandbox: Sandbox, source: Path, folder: Path, concurrency: int) -> dict[str, Any]:
    """A first sync of `source` into an empty PayPal account and an empty store."""
    sandbox.reset_paypal()
    sandbox.set_paypal_latency(LATENCY_MS)
    config, log = target_config(folder, sandbox, concurrency), folder / f"target-{concurrency}.log"
    command = [str(BIN / "target-paypal"), "--config", str(config)]
    with source.open() as stdin:
        done = measure.check(measure.run(command, stdin=stdin, log=log), "target-paypal", log)
    sandbox.set_paypal_latency(0)
    calls = sandbox.paypal_calls()
    created = sum(1 for c in calls if (c["method"], c["path"]) == CREATE)
    # The applying time is the span of PayPal calls: the process's start-up and its staging
    # of records are the same at any concurrency and would hide what concurrency changes.
    span = calls[-1]["at"] - calls[0]["at"] if len(calls) > 1 else 0.0
    return {
        "max_concurrency": concurrency,
        "invoices_written": created,
        "paypal_calls": len(calls),
        "apply_seconds": round(span, 2),
        "process_seconds": round(done.seconds, 2),
        "invoices_per_second": round(created / span, 2) if span else 0.0,
        "calls_per_second": round(len(calls) / span, 1) if span else 0.0,
        "share_of_rate_limit": round(len(calls) / span / MAX_REQUESTS_PER_SECOND, 3)
        if span else 0.0,
    }


def concurrency(sandbox: Sandbox, source: Path, folder: Path) -> dict[str, Any]:
    one = run_once(sandbox, source, folder, 1)
    eight = run_once(sandbox, source, folder, 8)
    return {
        "latency_ms": LATENCY_MS,
        "max_requests_per_second": MAX_REQUESTS_PER_SECOND,
        "concurrency_1": one,
        "concurrency_8": eight,
        "speedup": round(eight["invoices_per_second"] / one["invoices_per_second"], 2)
        if one["invoices_per_second"] else 0.0,
    }
