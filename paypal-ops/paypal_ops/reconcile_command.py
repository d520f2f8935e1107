"""`paypal-ops reconcile`: Cliniko against PayPal invoice by invoice, the report, and its alert.

Exit status 0 when everything matches, 1 when something needs attention, 2 when a side could
not be read.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from map_cliniko_paypal.rules import Rules, RulesError, load
from paypal_ops import reconcile_sources as sources
from paypal_ops.accounts import AccountClients, AccountUnusable, account_keys
from paypal_ops.options import (
    StoreAddress,
    alert_urls_from_environment,
    open_store,
    paypal_client,
    paypal_options,
)
from paypal_ops.reconcile import ReconcileError, Reconciliation, kind_words, reconcile
from paypal_ops.reconcile_alert import reconciliation_alert
from paypal_ops.reconcile_files import write
from target_paypal.alerts import notify
from target_paypal.client import PayPalClient, PayPalError
from target_paypal.store import Store


@click.command("reconcile")
@click.option("--cliniko-base-url", envvar=["PAYPAL_OPS_CLINIKO_BASE_URL", "TAP_CLINIKO_BASE_URL"])
@click.option(
    "--cliniko-api-key", envvar=["PAYPAL_OPS_CLINIKO_API_KEY", "TAP_CLINIKO_API_KEY"], required=True
)
@paypal_options
@click.option(
    "--mapping-file",
    envvar=["PAYPAL_OPS_MAPPING_FILE", "MAP_CLINIKO_PAYPAL_MAPPING_FILE"],
    help="The sync's rules file (default: the shipped one).",
)
@click.option(
    "--output-dir",
    envvar="PAYPAL_OPS_RECONCILE_DIR",
    default="output/reconcile",
    show_default=True,
)
@click.pass_obj
def reconcile_command(
    store_url: StoreAddress, output_dir: str, mapping_file: str | None, **settings: str
) -> None:
    """Cliniko against PayPal, invoice by invoice.

    Exit 0 when all matches, 1 when something needs attention, 2 when a side could not be read.
    """
    try:
        result = run_reconcile(store_url, mapping_file, settings)
    except (ReconcileError, PayPalError, RulesError, AccountUnusable) as error:
        click.echo(f"reconcile stopped: {error}", err=True)
        raise SystemExit(2) from None
    paths = write(result, Path(output_dir))
    _alert(store_url, result)
    mismatches = ", ".join(f"{kind_words(k)} {n}" for k, n in result.counts.items() if n)
    click.echo(f"Reconciliation: {'all matches' if result.ok else mismatches}")
    for why, count in result.held.items():
        click.echo(f"  held back on purpose ({why}): {count}")
    click.echo(f"  written: {', '.join(str(p) for p in paths.values())}")
    raise SystemExit(0 if result.ok else 1)


def run_reconcile(
    store_url: StoreAddress, mapping_file: str | None, settings: dict
) -> Reconciliation:
    """Read both sides in full and compare them."""
    rules: Rules = load(mapping_file)
    tap_config = {"api_key": settings["cliniko_api_key"]}
    if settings.get("cliniko_base_url"):
        tap_config["base_url"] = settings["cliniko_base_url"]
    store = open_store(store_url)
    clients = _paypal_clients(settings, rules, store)  # before Cliniko's long read
    records = sources.read_cliniko(tap_config)
    wanted, paypal = sources.wanted_invoices(records, rules), sources.list_accounts(clients)
    result = reconcile(
        wanted,
        sources.customer_emails(records, rules),
        paypal,
        store,
        rules.number_prefix,
        rules.time_zone,
        frozenset(
            str(entry["invoicer"]["tax_id"])
            for entry in rules.invoicers.by_business.values()
            if entry["invoicer"].get("tax_id")
        ),
    )
    sources.mark_accounts(result.items, paypal, wanted)
    return result


def _paypal_clients(
    settings: dict, rules: Rules, store: Store
) -> dict[str | None, PayPalClient]:
    """A client of the default account and of every other one; AccountUnusable if one has none.

    An account left out would make its invoices "missing": reconcile stops instead.
    """
    default = paypal_client(
        settings["paypal_base_url"],
        settings.get("paypal_client_id"),
        settings.get("paypal_client_secret"),
        max_requests_per_second=10,
    )
    clients = AccountClients(default)
    return {None: default, **{key: clients.client(key) for key in account_keys(rules, store)}}


def _alert(store_url: StoreAddress, result: Any) -> None:
    """Mismatches reach the alert channels (once per reconciliation); never fails the command."""
    alert = reconciliation_alert(asdict(result))
    urls = alert_urls_from_environment()
    if alert is not None and urls:
        notify(urls, alert, open_store(store_url))
