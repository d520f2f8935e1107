"""Apply chosen invoices at once, between runs, as the next run would (`--apply-now`).

`paypal-ops approvals approve|reject --apply-now` uses it: the decision is in the store and the
invoices are dirty, so applying them now is exactly what the next run would do to them. It
holds the clinic's run lock (no run may write the same invoices meanwhile) and composes with the
settings the last run kept (`writer_settings`: the invoicer, `send_invoices`).
"""

from __future__ import annotations

from target_paypal.applier import DirtyInvoiceApplier
from target_paypal.apply import InvoiceWriter
from target_paypal.client import PayPalClient
from target_paypal.compose import Invoicer
from target_paypal.store import Store

NO_RUN_YET = "no run of target-paypal has written this store yet: run the sync first"


class ApplyNowError(RuntimeError):
    """The invoices cannot be applied now; the message says what to do."""


def apply_now(
    store: Store, client: PayPalClient, invoice_ids: list[str], max_concurrency: int = 4
) -> dict[str, str]:
    """Apply these invoices now; returns each one's outcome (created, updated, held, ...).

    The caller holds the store's run lock (`Store.hold_run_lock`).
    """
    settings = store.writer_settings()
    if settings is None:
        raise ApplyNowError(NO_RUN_YET)
    writer = InvoiceWriter(
        client, Invoicer(**settings["invoicer"]), bool(settings.get("send_invoices", True))
    )
    applier = DirtyInvoiceApplier(store, writer, max_concurrency, run_id=None)
    return applier.apply_now(list(invoice_ids))
