"""Records a run left out, summed up: a line per kind of record and reason, count and what to do.

No IDs: each record and its reason stay in the store (`paypal-ops dead-letters list`), and are
logged one by one at debug level only.
"""

from __future__ import annotations

import re
from typing import Any

from target_paypal.reader import printable
from target_paypal.summary import CLINIKO_NAMES

DEAD_LETTERS = "paypal-ops dead-letters list"
OTHER_NAMES = {"input": "input lines"}
NOTHING_TO_DO = "nothing to do"
# How the mapper's and the applier's reasons end when they say what to do ("… refund or apply
# it by hand in PayPal", "… add one in Cliniko", "… or allow it in the mapping").
ADVICE_ENDINGS = ("in Cliniko", "in PayPal", "in the mapping")
CLINIKO_ID = re.compile(r"\b\d{6,}\b")  # Cliniko's ids are 64-bit numbers; counts are not
# The applier's summed-up reasons for invoices held by their patient: not retried on every run,
# only when the patient (its record or reject) or the mapping rules change.
HELD_BY_PATIENT = ("patient parked by the mapper", "patient shares its email")
# The applier's summed-up reason for invoices held by a reversal (applier.py, reversals.py).
HELD_BY_REVERSAL = "paid or part reversal in Cliniko"
# Reasons the target gives a record it cannot stage (sinks.input_problem, the reader).
INPUT_PROBLEMS = (
    "does not match the contract",
    "currency_code is not",
    "unknown stream",
    "a RECORD for stream",
)


def kind(stream: str, count: int) -> str:
    """What a clinic calls `count` records of a stream: `68 invoices`, `1 patient`."""
    plural = CLINIKO_NAMES.get(stream) or OTHER_NAMES.get(stream) or f"{printable(stream)} records"
    return f"{count:,} {plural.removesuffix('s') if count == 1 else plural}"


def what_to_do(outcome: str, stream: str, reason: str) -> str:
    """What a person does about records left out for `reason` (their kind: `stream`)."""
    if outcome == "skipped":
        return NOTHING_TO_DO
    if stream == "invoices" and reason.startswith(HELD_BY_PATIENT):  # store/retry.py
        says = reason.rstrip().endswith(ADVICE_ENDINGS)  # the reason already says what to do
        fix = "correct the patient in Cliniko; " * (not says)
        return f"{fix}retried when the patient or the mapping rules change ({DEAD_LETTERS})"
    if stream == "invoices" and reason.startswith(HELD_BY_REVERSAL):  # store/retry.py
        return (
            "act in PayPal or Cliniko as each letter says; retried when the invoice or its "
            f"reversal changes in Cliniko ({DEAD_LETTERS})"
        )
    if reason.rstrip().endswith(ADVICE_ENDINGS):  # the reason already says what to do
        return f"retried on every run ({DEAD_LETTERS})"
    if stream == "input":
        return "fix what writes target-paypal's input (tap or mapper) and run again"
    if reason.startswith("parked by the mapper"):
        return (
            "correct them in Cliniko (the next run reads them again) or change the mapping "
            f"rules ({DEAD_LETTERS})"
        )
    if stream != "invoices" or reason.startswith(INPUT_PROBLEMS):
        return (
            "fix what writes target-paypal's input (the mapper or its rules), then "
            f"`paypal-ops dead-letters replay` ({DEAD_LETTERS})"
        )
    if reason.startswith("PayPal refused"):
        return f"retried on every run; each has PayPal's debug_id ({DEAD_LETTERS})"
    if reason.startswith("incomplete"):
        return f"retried on every run, applied once its records arrive ({DEAD_LETTERS})"
    return f"retried on every run ({DEAD_LETTERS})"


def _without_ids(rows: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Reasons that name a record (`patient 1234567 not received`) grouped as one, IDs masked.

    Invoices first, then the other kinds, largest first.
    """
    grouped: dict[tuple[str, str], int] = {}
    for stream, reason, count in rows:
        key = (stream, CLINIKO_ID.sub("…", reason))
        grouped[key] = grouped.get(key, 0) + count
    ordered = sorted(grouped.items(), key=lambda item: (item[0][0] != "invoices", -item[1]))
    return [(stream, reason, count) for (stream, reason), count in ordered]


def summed_up(reasons: dict[str, list[tuple[str, str, int]]]) -> list[tuple[str, dict[str, Any]]]:
    """The log lines, with their fields, for a run's (stream, reason, count) by outcome.

    Args:
        reasons: Outcome ("parked", "skipped") -> the store's `run_reasons` for it.

    Returns:
        (message, extra) of each line: invoices first, then the other kinds, largest first.
    """
    lines = []
    for outcome, rows in reasons.items():
        for stream, reason, count in _without_ids(rows):
            text = printable(reason or "no reason recorded", 300)
            todo = what_to_do(outcome, stream, reason)
            message = f"{outcome.capitalize()} {kind(stream, count)}: {text}: {todo}"
            extra = {
                "kind": "left_out",
                "outcome": outcome,
                "stream": stream,
                "reason": text,
                "count": count,
            }
            lines.append((message, extra))
    return lines
