"""`paypal-ops webhooks --webhook-id`: one webhook id per PayPal account.

PayPal registers a webhook per REST app, and signs each delivery for its webhook's id, so every
account has an id of its own. A value is `WEBHOOK_ID` (the default account: paypal-ops' own
PayPal settings) or `ACCOUNT_KEY=WEBHOOK_ID`, the account named as `xrefs.account` names it
("ID_VARIABLE:SECRET_VARIABLE", target_paypal/accounts.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import click

from paypal_ops.webhook_verify import WebhookIds

ACCOUNT_KEY = re.compile(r"[A-Z][A-Z0-9_]*:[A-Z][A-Z0-9_]*")


def account_name(key: str | None) -> str:
    """The account as a log line or a message names it."""
    return key or "default"


def parse_webhook_ids(values: Iterable[str]) -> WebhookIds:
    """The webhook id of each account, the default first; ValueError (one line) if malformed."""
    ids: dict[str | None, str] = {}
    for value in values:
        key, webhook_id = _split(value)
        if key in ids:
            raise ValueError(f"two webhook ids for the {account_name(key)} account")
        if webhook_id in ids.values():
            raise ValueError(f"webhook id {webhook_id} is given for two accounts")
        ids[key] = webhook_id
    return dict(sorted(ids.items(), key=lambda item: item[0] is not None))


def _split(value: str) -> tuple[str | None, str]:
    key, equals, webhook_id = value.strip().rpartition("=")
    if not webhook_id.strip():
        raise ValueError(f"{value!r} has no webhook id")
    if equals and not ACCOUNT_KEY.fullmatch(key):
        raise ValueError(
            f"{key!r} is not an account key: ID_VARIABLE:SECRET_VARIABLE, as xrefs.account"
        )
    return (key if equals else None), webhook_id.strip()


def webhook_ids_callback(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> WebhookIds:
    """`parse_webhook_ids` as a click callback: a malformed value is a usage error."""
    try:
        return parse_webhook_ids(values)
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from None
