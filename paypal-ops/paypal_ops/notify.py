"""`paypal-ops notify`: alert about recent runs that failed or parked records, once per run.

It also alerts about invoices waiting for approval past their rule's `alert_after_days`, once
per invoice and wait (`target_paypal.alerts.approvals_alert`).

Meant to run after every scheduled run, whatever its exit status:

    meltano run cliniko-to-paypal; meltano invoke paypal-ops notify

A run that crashed (or was killed) never finishes: its row in the store stays `running`. The
target alerts about parked records itself at the end of a run; this command catches what it
could not (a crash, or a channel that was down then).
"""

from __future__ import annotations

import click

from paypal_ops.options import StoreAddress, alert_urls_from_environment, open_store
from target_paypal.alerts import approvals_alert, channel, notify, run_alert


@click.command("notify")
@click.option(
    "--alert-url",
    "alert_urls",
    multiple=True,
    help="An Apprise URL (repeat for more). Default: PAYPAL_OPS_ALERT_URLS (a JSON list).",
)
@click.option(
    "--runs",
    "last",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="How many of the latest runs to look at.",
)
@click.pass_obj
def notify_command(store_url: StoreAddress, alert_urls: tuple[str, ...], last: int) -> None:
    """Alert about the latest runs that failed or parked new records, once each.

    Then about invoices waiting for approval too long (once per invoice and wait). A run that
    failed never finished; runs already alerted about are passed over. Exit 1 when an alert
    reached no channel.
    """
    urls = list(alert_urls) or alert_urls_from_environment()
    if not urls:
        raise click.ClickException(
            "no alert URL: set alert_urls (PAYPAL_OPS_ALERT_URLS) or pass --alert-url"
        )
    store = open_store(store_url)
    undelivered = 0
    for run in reversed(store.runs(limit=last)):
        alert = run_alert(store, run["id"])
        if alert is None or store.notified(alert.subject):
            continue
        sent = notify(urls, alert, store)
        undelivered += not sent
        click.echo(f"Run {run['id']} ({alert.kind}): alert sent to {sent} of {len(urls)} channels")
    waiting = approvals_alert(store)
    if waiting is not None:
        sent = notify(urls, waiting, store)
        undelivered += not sent
        click.echo(
            f"Approval queue ({1 + len(waiting.also)} waiting too long): alert sent to {sent} "
            f"of {len(urls)} channels"
        )
    if undelivered:
        names = ", ".join(channel(u) for u in urls)
        raise click.ClickException(f"{undelivered} alert(s) reached no channel ({names})")
