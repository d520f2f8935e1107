"""Which PayPal account an invoice is written to: the default one, or its business's own.

The mapping's `invoicers.by_business` may give a business a PayPal account of its own, by the
names of the environment variables that hold its client id and secret; the mapper stamps them
on the business's invoices as `paypal_account`. The store names an account by those two names
(`account_key`: "ID_VARIABLE:SECRET_VARIABLE"; None is target-paypal's own settings), never by
the secrets, and keeps each invoice's account in `xrefs.account`.

An account that cannot be used parks its invoices with the reason, retried every run: a
variable not set where the pipeline runs, or credentials PayPal refuses. The default account's
refused credentials still stop the run at its start (`target.TargetPayPal._check_paypal`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from target_paypal.apply import VOID, InvoiceWriter
from target_paypal.client import PayPalClient, PayPalError
from target_paypal.compose import Invoicer
from target_paypal.store.directory import Xref

# The start of every reason this module parks an invoice with (store/retry.py: every run).
UNUSABLE = "PayPal account "


class AccountUnusable(Exception):
    """The invoice's PayPal account cannot be used now; the message says what to do.

    `summary`: the same without the invoice's figures, to group a run's reasons.
    """

    def __init__(self, reason: str, summary: str | None = None) -> None:
        super().__init__(reason)
        self.summary = summary or reason


def account_key(named: Mapping[str, Any] | None) -> str | None:
    """The store's name of an invoice's `paypal_account`; None for the default account."""
    if not named:
        return None
    return f"{named['client_id_env']}:{named['client_secret_env']}"


def credentials(
    key: str, environ: Mapping[str, str] = os.environ, runs: str = "the pipeline"
) -> tuple[str, str]:
    """The client id and secret of an account, from the variables its key names.

    `runs`: what reads them, for the message (the pipeline, or paypal-ops).
    """
    names = key.split(":", 1)
    unset = [name for name in names if not environ.get(name)]
    if unset:
        which, it = (f"variable {unset[0]}", "it") if len(unset) == 1 else ("variables", "them")
        if len(unset) > 1:
            which += f" {' and '.join(unset)}"
        raise AccountUnusable(
            f"{UNUSABLE}{key}: environment {which} not set: set {it} where {runs} runs (e.g. in "
            ".env), then run again"
        )
    return environ[names[0]], environ[names[1]]


def account_client(
    default: PayPalClient,
    key: str,
    environ: Mapping[str, str] = os.environ,
    runs: str = "the pipeline",
) -> PayPalClient:
    """A client of the account `key` whose token PayPal gave (so its credentials are good).

    AccountUnusable when its variables are not set or PayPal refuses them; any other
    PayPalError (PayPal out of reach) is raised as it is.
    """
    client = default.for_account(*credentials(key, environ, runs))
    try:
        client.access_token()
    except PayPalError as error:
        if error.status not in (400, 401):
            raise
        name = "invalid_client" if error.status == 401 else error.name
        raise AccountUnusable(
            f"{UNUSABLE}{key}: PayPal refused its client id/secret (HTTP {error.status} {name}): "
            f"check {' and '.join(key.split(':', 1))} where {runs} runs"
        ) from None
    return client


class Accounts:
    """One invoice writer per PayPal account, each made (and its token checked) on first use.

    Thread-safe: the applier's workers ask for writers in parallel.
    """

    def __init__(self, default: InvoiceWriter, environ: Mapping[str, str] = os.environ) -> None:
        self.default = default
        self.environ = environ
        self._made: dict[str, InvoiceWriter | AccountUnusable] = {}
        self._lock = threading.Lock()

    def writer(self, key: str | None) -> InvoiceWriter:
        """The writer of this account; AccountUnusable (the same one all run) if it cannot be."""
        if key is None:
            return self.default
        with self._lock:
            if key not in self._made:
                self._made[key] = self._make(key)
            made = self._made[key]
        if isinstance(made, AccountUnusable):
            raise made
        return made

    def clients(self) -> list[PayPalClient]:
        """Every account's client made so far, the default's first (for the calls count)."""
        with self._lock:
            made = [w.client for w in self._made.values() if isinstance(w, InvoiceWriter)]
        return [self.default.client, *made]

    def _make(self, key: str) -> InvoiceWriter | AccountUnusable:
        try:
            client = account_client(self.default.client, key, self.environ)
        except AccountUnusable as unusable:
            return unusable
        except PayPalError as error:  # out of reach: its invoices wait for the next run
            return AccountUnusable(f"{UNUSABLE}{key}: no token ({error}): retried on the next run")
        # The email is the business's own (the mapper's invoicer block), never the default's.
        invoicer = Invoicer(**{**self.default.invoicer.__dict__, "email_address": None})
        return InvoiceWriter(client, invoicer, self.default.send_invoices)


@dataclass(frozen=True)
class Placed:
    """Where one invoice is written: its account's writer and key, and its xref there."""

    writer: InvoiceWriter
    key: str | None
    xref: Xref | None


def place(accounts: Accounts, header: dict[str, Any], xref: Xref | None) -> Placed:
    """The account an invoice is written to: the rules', unless it is already in another.

    Moved by the rules from one account to another: a void one is cancelled where it is; one
    cancelled (or deleted) there by a person is created anew in its new account; any other is
    parked (AccountUnusable), as two payable copies must never exist.
    """
    wanted = account_key(header.get("paypal_account"))
    held = xref.account if xref is not None and xref.paypal_id else wanted
    if held == wanted:
        return Placed(accounts.writer(wanted), wanted, xref)
    old = accounts.writer(held)
    if header["target_status"] == VOID:
        return Placed(old, held, xref)
    assert xref is not None and xref.paypal_id  # as `held != wanted`
    current = old.client.get_invoice(xref.paypal_id)
    status = (current or {}).get("status")
    if status in (None, "CANCELLED"):
        return Placed(accounts.writer(wanted), wanted, None)
    todo = "the next run then creates it in the new account), or put the rules back"
    raise AccountUnusable(
        f"{UNUSABLE}{held or 'default'}: invoice {header['invoice_id']} is there as "
        f"{xref.invoice_number} ({status}), and the rules now put its business in "
        f"{wanted or 'default'}: cancel it there ({todo}",
        f"{UNUSABLE}{held or 'default'}: moved by the rules to {wanted or 'default'}: cancel "
        f"it there ({todo}",
    )
