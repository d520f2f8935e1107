"""A run's summary: records read, and what became of each invoice (IDs only, no personal data)."""

from __future__ import annotations

from typing import Any

# Target streams as a clinic calls the Cliniko records they come from.
CLINIKO_NAMES = {
    "customers": "patients",
    "invoices": "invoices",
    "invoice_lines": "invoice items",
    "practitioners": "practitioners",
    "owners": "users",
    "appointments": "appointments",
    "reversals": "reversals",
}
# The order a finance user reads them in; every invoice of a run ends in exactly one.
# `held`: waiting for approval, a draft in PayPal (paypal-ops approvals).
INVOICE_OUTCOMES = ("created", "updated", "unchanged", "held", "skipped", "parked", "conflict")


def run_summary(
    received: dict[str, int],
    outcomes: dict[str, dict[str, int]],
    open_dead_letters: int,
    seconds: float,
) -> dict[str, Any]:
    """What `runs.counts` keeps for a run."""
    invoices = outcomes.get("invoices", {})
    return {
        "read": dict(sorted(received.items())),
        "invoices": {name: invoices.get(name, 0) for name in INVOICE_OUTCOMES},
        "left_out": {
            stream: counts
            for stream, counts in sorted(outcomes.items())
            if stream != "invoices" and counts
        },
        "open_dead_letters": open_dead_letters,
        "seconds": round(seconds, 1),
    }


def describe(summary: dict[str, Any]) -> str:
    """One line for the log."""
    read = ", ".join(f"{n} {s}" for s, n in summary["read"].items()) or "nothing"
    invoices = ", ".join(f"{k} {v}" for k, v in summary["invoices"].items() if v) or "none"
    return (
        f"read {read}; invoices: {invoices}; {summary['open_dead_letters']} records parked in "
        f"all; {summary['seconds']} s"
    )
