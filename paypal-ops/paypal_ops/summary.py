"""`paypal-ops summary`: what one run did, every invoice accounted for (IDs and counts only)."""

from __future__ import annotations

import json
from typing import Any

import click

from paypal_ops.options import StoreAddress, open_store
from paypal_ops.parked_reasons import HELD_BY_RULES, NEEDS_PERSON, split
from target_paypal.apply import TO_PAYER
from target_paypal.summary import CLINIKO_NAMES, INVOICE_OUTCOMES

# How an outcome reads in the summary, where its bare name would not do.
OUTCOME_WORDS = {
    "held": "held for approval",
    "skipped": "skipped by a rule",
    "conflict": "conflicts",
}
OUTCOME_HEADINGS = {
    "held": "Held for approval (PayPal drafts until a person decides: paypal-ops approvals list)",
    "skipped": "Skipped by a rule (nothing to do)",
    "parked": "Parked for a person (kept as dead letters)",
}


@click.command("summary")
@click.option("--run", "run_id", type=int, help="Run id (default: the latest finished run).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def summary_command(store_url: StoreAddress, run_id: int | None, as_json: bool) -> None:
    """What one run did, every invoice accounted for."""
    store = open_store(store_url)
    finished = [r for r in store.runs(limit=1000) if r["finished_at"] is not None]
    run = next((r for r in finished if run_id in (None, r["id"])), None)
    if run is None:
        raise click.ClickException("no finished run in the store yet: run the pipeline first")
    counts = run["counts"] or {}
    reasons = {outcome: store.run_reasons(run["id"], outcome) for outcome in OUTCOME_HEADINGS}
    now = split(store.open_dead_letters())
    to_payers = sum(
        n
        for outcome in ("created", "updated")
        for _, reason, n in store.run_reasons(run["id"], outcome)
        if reason == TO_PAYER
    )
    if as_json:
        payload = {**counts, "run_id": run["id"], "reasons": reasons, "to_payers": to_payers}
        payload["open_dead_letters_now"] = {
            "needs_a_person": now[NEEDS_PERSON],
            "held_by_rules": now[HELD_BY_RULES],
        }
        click.echo(json.dumps(payload, indent=2, default=str))
        return
    for line in describe_run(run["id"], counts, reasons, now, to_payers):
        click.echo(line)


def describe_run(
    run_id: int,
    counts: dict[str, Any],
    reasons: dict[str, list[tuple[str, str, int]]],
    now: dict[str, int] | None = None,
    to_payers: int = 0,
) -> list[str]:
    """The summary's lines: records read, every invoice's outcome, what was left out.

    `now`: the open dead letters at this moment by kind (parked_reasons.split), if known.
    `to_payers`: how many of those created or updated are addressed to a third-party payer.
    """
    read = counts.get("read", {})
    invoices = counts.get("invoices", {})
    accounted = sum(invoices.get(k, 0) for k in INVOICE_OUTCOMES)
    lines = [
        f"Run {run_id}: {counts.get('seconds', '?')} s in target-paypal",
        "  Records read:   "
        + (", ".join(f"{CLINIKO_NAMES.get(s, s)} {n}" for s, n in read.items()) or "none"),
        "  Invoices:       "
        + ", ".join(f"{OUTCOME_WORDS.get(k, k)} {invoices.get(k, 0)}" for k in INVOICE_OUTCOMES)
        + f"  (= {accounted})",
    ]
    if to_payers:
        lines.append(
            f"  To third-party payers: {to_payers} of those created or updated (a plan "
            "manager, an insurer or another payer named in the patient's billing details)"
        )
    for outcome in OUTCOME_HEADINGS:
        rows = reasons.get(outcome, [])
        if rows:
            lines.append(f"  {OUTCOME_HEADINGS[outcome]}:")
            lines.extend(_reason_lines(rows))
    others = {
        s: c for s, c in counts.get("left_out", {}).items() if s != "invoices" and any(c.values())
    }
    for stream, by_outcome in others.items():
        parts = ", ".join(f"{OUTCOME_WORDS.get(k, k)} {v}" for k, v in sorted(by_outcome.items()))
        lines.append(f"  {CLINIKO_NAMES.get(stream, stream).capitalize()} left out: {parts}")
    letters = counts.get("open_dead_letters", 0)
    lines.append(
        f"  Open dead letters: {letters}, each waiting for a person to act as its reason says "
        "(retried as each reason says; paypal-ops dead-letters list)"
        if letters
        else "  Open dead letters: 0"
    )
    if now and any(now.values()):
        lines.append(
            f"  Open now: {now[NEEDS_PERSON]:,} need a person (something went wrong), "
            f"{now[HELD_BY_RULES]:,} held back by the clinic's rules on purpose (no email, "
            "open credit, a filter…); paypal-ops report lists them by reason"
        )
    return lines


def _reason_lines(rows: list[tuple[str, str, int]]) -> list[str]:
    """Invoices' reasons first, then other records' named by kind; the ten largest of each."""
    invoices = [(r, n) for s, r, n in rows if s == "invoices"][:10]
    others = [(f"{CLINIKO_NAMES.get(s, s)}: {r}", n) for s, r, n in rows if s != "invoices"][:10]
    return [f"    {n:6d}  {r or '(no reason recorded)'}" for r, n in invoices + others]
