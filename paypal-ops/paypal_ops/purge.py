"""`purge`: what the store keeps past its retention settings, shown (`--dry-run`) or removed.

The same settings as target-paypal's (`dead_letter_retention_days`, `audit_retention_days`),
which the target applies at the end of every run anyway: purge is for a store no run has
opened for a while, or to see what the next run will remove. It holds the clinic's run lock,
so it never runs beside a sync of the same clinic. Counts and dates only, never a record.
"""

from __future__ import annotations

import click

from paypal_ops.options import StoreAddress, open_store
from target_paypal.store import Removal, RetentionDays, StoreError
from target_paypal.store.retention import AUDIT_RETENTION_DAYS, DEAD_LETTER_RETENTION_DAYS

DAYS = click.IntRange(min=0)


def describe(removals: list[Removal]) -> list[str]:
    """One line per kind of data: table, count, what, the oldest one's date."""
    lines = []
    for r in removals:
        oldest = f" (oldest {r.oldest:%Y-%m-%d})" if r.oldest and r.count else ""
        lines.append(f"  {r.table:<13} {r.count:>9,}  {r.what}{oldest}")
    return lines


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
@click.option(
    "--dead-letter-retention-days",
    type=DAYS,
    envvar=["PAYPAL_OPS_DEAD_LETTER_RETENTION_DAYS", "TARGET_PAYPAL_DEAD_LETTER_RETENTION_DAYS"],
    default=DEAD_LETTER_RETENTION_DAYS,
    show_default=True,
    help="How long an open dead letter keeps its record (target-paypal's setting).",
)
@click.option(
    "--audit-retention-days",
    type=DAYS,
    envvar=["PAYPAL_OPS_AUDIT_RETENTION_DAYS", "TARGET_PAYPAL_AUDIT_RETENTION_DAYS"],
    default=AUDIT_RETENTION_DAYS,
    show_default=True,
    help="How long the audit log, runs and outcomes are kept (target-paypal's setting).",
)
@click.pass_obj
def purge_command(
    store_url: StoreAddress,
    dry_run: bool,
    dead_letter_retention_days: int,
    audit_retention_days: int,
) -> None:
    """Remove what the store keeps past its retention (dead letters' records, old audit)."""
    days = RetentionDays(dead_letter_retention_days, audit_retention_days)
    store = open_store(store_url)
    try:
        store.hold_run_lock()  # never beside a sync of the same clinic
    except StoreError as error:
        raise click.ClickException(f"purge: {error}") from None
    try:
        removals = store.retention_preview(days)
        heading = "would remove" if dry_run else "removes"
        click.echo(
            f"Retention (dead letters' records {days.dead_letters} days, audit "
            f"{days.audit} days) {heading}:"
        )
        for line in describe(removals):
            click.echo(line)
        if dry_run:
            click.echo("Nothing removed (--dry-run); `paypal-ops purge` removes it.")
            return
        removed = store.apply_retention(days)
        click.echo(f"Removed {sum(removed.values()):,} (rows deleted or records dropped).")
        if removed["dead_letter_records_expired"]:
            click.echo(
                f"{removed['dead_letter_records_expired']:,} open dead letter(s) now need "
                "Cliniko's record to be replayed (paypal-ops dead-letters list)."
            )
    finally:
        store.release_run_lock()
