"""The PayPal accounts paypal-ops reads: the default one, and each business's own.

The mapping's `invoicers.by_business` may give a business a PayPal account of its own, named by
the environment variables that hold its credentials (target_paypal/accounts.py: the key
"ID_VARIABLE:SECRET_VARIABLE"; None is the default account, paypal-ops' own PayPal settings).
The store keeps each invoice's account in `xrefs.account`. paypal-ops reads the credentials
from the same variables as the pipeline, so they must be set where it runs too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from map_cliniko_paypal.rules import Rules
from target_paypal.accounts import AccountUnusable, account_client
from target_paypal.client import PayPalClient
from target_paypal.store import Store

__all__ = ["AccountClients", "AccountUnusable", "account_keys"]


def account_keys(rules: Rules, store: Store) -> list[str]:
    """The accounts to read besides the default: those the rules name, and those in the store.

    An account the rules no longer name (a business moved back) may still hold its invoices.
    """
    return sorted(set(rules.invoicers.account_keys()) | set(store.accounts_in_use()))


class AccountClients:
    """One PayPal client per account, made (and its token checked) on first use."""

    def __init__(self, default: PayPalClient, environ: Mapping[str, str] = os.environ) -> None:
        self.default = default
        self.environ = environ
        self._made: dict[str, PayPalClient] = {}

    def client(self, key: str | None) -> PayPalClient:
        """The account's client; AccountUnusable (one line naming the variables) if it has none.

        A variable not set, or credentials PayPal refuses; any other PayPalError is raised.
        """
        if key is None:
            return self.default
        if key not in self._made:
            self._made[key] = account_client(self.default, key, self.environ, "paypal-ops")
        return self._made[key]
