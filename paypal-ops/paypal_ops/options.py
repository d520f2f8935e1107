"""The settings every paypal-ops command shares: the store, PayPal's URL and credentials, alerts.

Each option reads the utility's own variable first (`PAYPAL_OPS_*`, as Meltano passes the
utility's settings), then the one target-paypal reads, so one set of secrets serves both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import click

from target_paypal.alerts import parse_urls
from target_paypal.client import PAYPAL_SANDBOX, PayPalClient
from target_paypal.store import DEFAULT_STORE, Store, StoreError

Command = TypeVar("Command", bound=Callable[..., Any])
STORE_VARIABLES = ["PAYPAL_OPS_STORE_URL", "TARGET_PAYPAL_STORE_URL"]
ALERT_URL_VARIABLES = ("PAYPAL_OPS_ALERT_URLS", "TARGET_PAYPAL_ALERT_URLS")

CLINIC_VARIABLES = ["PAYPAL_OPS_CLINIC", "TARGET_PAYPAL_CLINIC"]

store_option = click.option(
    "--store-url",
    envvar=STORE_VARIABLES,
    help=f"target-paypal's store (default {DEFAULT_STORE}).",
)
clinic_option = click.option(
    "--clinic",
    envvar=CLINIC_VARIABLES,
    help="The clinic whose records to work on, as target-paypal's `clinic` (default: none).",
)


class StoreAddress(NamedTuple):
    """Which store and which clinic in it every command of the group works on."""

    url: str | None
    clinic: str | None = None


def open_store(address: StoreAddress | str | None) -> Store:
    """The clinic's store (`store_option`, `clinic_option` read the environment), or one line."""
    if not isinstance(address, StoreAddress):
        address = StoreAddress(address)
    try:
        return Store(address.url or DEFAULT_STORE, clinic=address.clinic or None)
    except StoreError as error:
        raise click.ClickException(str(error)) from None


def paypal_options(command: Command) -> Command:
    """Add PayPal's base URL, client id and client secret to a command."""
    options = [
        click.option(
            "--paypal-base-url",
            "--paypal-url",
            "paypal_base_url",
            envvar=["PAYPAL_OPS_PAYPAL_BASE_URL", "TARGET_PAYPAL_BASE_URL"],
            default=PAYPAL_SANDBOX,
            show_default=True,
            help="PayPal's API base URL.",
        ),
        click.option(
            "--paypal-client-id",
            "--client-id",
            "paypal_client_id",
            envvar=["PAYPAL_OPS_PAYPAL_CLIENT_ID", "TARGET_PAYPAL_CLIENT_ID"],
            help="PayPal REST app client id.",
        ),
        click.option(
            "--paypal-client-secret",
            "--client-secret",
            "paypal_client_secret",
            envvar=["PAYPAL_OPS_PAYPAL_CLIENT_SECRET", "TARGET_PAYPAL_CLIENT_SECRET"],
            help="PayPal REST app secret.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def paypal_client(
    base_url: str, client_id: str | None, client_secret: str | None, **limits: Any
) -> PayPalClient:
    """A PayPal client, or a usage error naming the variables when a credential is missing."""
    if not (client_id and client_secret):
        raise click.UsageError(
            "no PayPal credentials: set --paypal-client-id and --paypal-client-secret "
            "(or TARGET_PAYPAL_CLIENT_ID / TARGET_PAYPAL_CLIENT_SECRET)"
        )
    return PayPalClient(base_url, client_id, client_secret, **limits)


def alert_urls_from_environment() -> list[str]:
    """The alert channels from the environment (a JSON list), the utility's own first."""
    return next((parse_urls(os.environ[v]) for v in ALERT_URL_VARIABLES if os.environ.get(v)), [])
