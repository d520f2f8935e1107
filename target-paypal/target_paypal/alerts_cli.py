"""`paypal-ops notify`: alert about recent runs that failed or parked records, once per run.

Meant to run after every scheduled run, whatever its exit status:

    meltano run cliniko-to-paypal; meltano invoke paypal-ops notify

A run that crashed (or was killed) never finishes: its row in the store stays `running`. The
target alerts about parked records itself at the end of a run; this command catches what it
could not (a crash, or a channel that was down then).
"""

from __future__ import annotations

import os

import click

from target_paypal.alerts import channel, notify, parse_urls, run_alert
from target_paypal.store import DEFAULT_STORE, Store, StoreError

URL_VARIABLES = ("PAYPAL_OPS_ALERT_URLS", "TARGET_PAYPAL_ALERT_URLS")


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
def notify_command(store_url: str | None, alert_urls: tuple[str, ...], last: int) -> None:
    """Alert about the latest runs that failed (never finished) or parked new records and were
    not alerted about yet. Exit 1 when an alert reached no channel."""
    urls = list(alert_urls) or next(
        (parse_urls(os.environ[v]) for v in URL_VARIABLES if os.environ.get(v)), []
    )
    if not urls:
        raise click.ClickException(
            "no alert URL: set alert_urls (PAYPAL_OPS_ALERT_URLS) or pass --alert-url"
        )
    try:
        store = Store(store_url or os.environ.get("TARGET_PAYPAL_STORE_URL") or DEFAULT_STORE)
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    undelivered = 0
    for run in reversed(store.runs(limit=last)):
        alert = run_alert(store, run["id"])
        if alert is None or store.notified(alert.subject):
            continue
        sent = notify(urls, alert, store)
        undelivered += not sent
        click.echo(f"Run {run['id']} ({alert.kind}): alert sent to {sent} of {len(urls)} channels")
    if undelivered:
        names = ", ".join(channel(u) for u in urls)
        raise click.ClickException(f"{undelivered} alert(s) reached no channel ({names})")
