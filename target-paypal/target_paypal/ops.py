"""`paypal-ops`: commands over target-paypal's store for the people running the sync.

`summary` prints what the last run did (records read; invoices created, updated, unchanged,
skipped by a rule, parked; with reasons, IDs never names). Declared in meltano.yml as the
`paypal-ops` utility; it reads the same `store_url` as the target.
"""

from __future__ import annotations

import json
import os

import click

from target_paypal.store import Store, StoreError
from target_paypal.summary import INVOICE_OUTCOMES
from target_paypal.webhooks import webhooks_command

DEFAULT_STORE = "sqlite:///.meltano/target-paypal/store.db"
CLINIKO_NAMES = {
    "customers": "patients",
    "invoices": "invoices",
    "invoice_lines": "invoice items",
    "practitioners": "practitioners",
    "owners": "users",
}
LABELS = {"skipped": "skipped by a rule", "conflict": "conflicts"}


def open_store(store_url: str | None) -> Store:
    try:
        return Store(store_url or os.environ.get("TARGET_PAYPAL_STORE_URL") or DEFAULT_STORE)
    except StoreError as error:
        raise click.ClickException(str(error)) from None


@click.group()
@click.option(
    "--store-url",
    envvar=["PAYPAL_OPS_STORE_URL", "TARGET_PAYPAL_STORE_URL"],
    help=f"target-paypal's store (default {DEFAULT_STORE}).",
)
@click.pass_context
def cli(ctx: click.Context, store_url: str | None) -> None:
    """Operate the Cliniko -> PayPal sync from target-paypal's store."""
    ctx.obj = store_url


@cli.command()
@click.option("--run", "run_id", type=int, help="Run id (default: the latest finished run).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def summary(store_url: str | None, run_id: int | None, as_json: bool) -> None:
    """What one run did, every invoice accounted for."""
    store = open_store(store_url)
    finished = [r for r in store.runs(limit=1000) if r["finished_at"] is not None]
    run = next((r for r in finished if run_id in (None, r["id"])), None)
    if run is None:
        raise click.ClickException("no finished run in the store yet: run the pipeline first")
    counts = run["counts"] or {}
    reasons = {
        outcome: store.run_reasons(run["id"], outcome) for outcome in ("skipped", "parked")
    }
    if as_json:
        payload = {**counts, "run_id": run["id"], "reasons": reasons}
        click.echo(json.dumps(payload, indent=2, default=str))
        return
    for line in describe_run(run["id"], counts, reasons):
        click.echo(line)


def describe_run(
    run_id: int, counts: dict, reasons: dict[str, list[tuple[str, str, int]]]
) -> list[str]:
    read = counts.get("read", {})
    invoices = counts.get("invoices", {})
    accounted = sum(invoices.get(k, 0) for k in INVOICE_OUTCOMES)
    lines = [
        f"Run {run_id}: {counts.get('seconds', '?')} s in target-paypal",
        "  Records read:   "
        + (", ".join(f"{CLINIKO_NAMES.get(s, s)} {n}" for s, n in read.items()) or "none"),
        "  Invoices:       "
        + ", ".join(f"{LABELS.get(k, k)} {invoices.get(k, 0)}" for k in INVOICE_OUTCOMES)
        + f"  (= {accounted})",
    ]
    for outcome in ("skipped", "parked"):
        rows = [(s, r, n) for s, r, n in reasons.get(outcome, []) if s == "invoices"]
        if rows:
            lines.append(f"  {LABELS.get(outcome, outcome).capitalize()}:")
            lines.extend(f"    {n:6d}  {r or '(no reason recorded)'}" for _, r, n in rows[:10])
    others = {
        s: c for s, c in counts.get("left_out", {}).items() if s != "invoices" and any(c.values())
    }
    for stream, by_outcome in others.items():
        parts = ", ".join(f"{LABELS.get(k, k)} {v}" for k, v in sorted(by_outcome.items()))
        lines.append(f"  {CLINIKO_NAMES.get(stream, stream).capitalize()} left out: {parts}")
    lines.append(f"  Open dead letters (kept for replay): {counts.get('open_dead_letters', 0)}")
    return lines


cli.add_command(webhooks_command)


def main() -> None:
    cli(prog_name="paypal-ops")


if __name__ == "__main__":
    main()
