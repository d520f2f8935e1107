"""Which invoices no PayPal write ever went out for, so their first create needs no search.

Before creating an invoice the applier searched PayPal by its reference, in case an earlier
run created it and crashed before saving the cross-reference. For an invoice this store has
never handed to a PayPal write, that search can only come back empty, and it was a third of
a first run's PayPal calls. So:

* `invoices.paypal_touched_at` is set for a chunk of invoices, in one statement, before any
  of them is handed to the workers (a crash afterwards leaves them touched, so searched);
* an invoice is `untouched` only while it is NULL, and only in a store that has seen every
  write to its PayPal account: one whose account held no invoice when the store first wrote
  to it (`paypal_account` row), or one older than this column (it has been the writer).
  A store made anew beside an account with invoices (lost, restored, shared) searches as
  before. Each PayPal account is asked apart (a business's own, `accounts.py`: its own row).
  Invoices staged before the column existed are backfilled as touched.

A create that still meets our invoice in PayPal is refused for its number and adopted
(`settle.SettledWrites.create`); a void one is always searched (`apply.InvoiceWriter._void`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from target_paypal.store.engine import StoreBase
from target_paypal.store.schema import invoices, writer_settings, xrefs
from target_paypal.store.sql import id_batches, upsert_by_key, utc_now

ACCOUNT_ROW = "paypal_account"  # the writer_settings row: {"store_sees_every_write": bool}


class FirstWrites(StoreBase):
    """The store's part that knows which invoices never reached PayPal."""

    def sees_every_write(
        self, account_is_empty: Callable[[], bool | None], account: str | None = None
    ) -> bool:
        """Whether this store has seen every write to a PayPal account (decided once).

        `account_is_empty` is asked only the first time, and only when the store has no
        cross-reference in that account yet; when it cannot tell (None: PayPal did not answer),
        the answer is no for now, and it is asked again next time. `account`: a business's own
        (`accounts.account_key`); None: the default one.
        """
        row = _row(account)
        with self.begin() as conn:
            noted = _noted(conn, row)
            if noted is not None:
                return noted
            query = sa.select(xrefs.c.invoice_id).where(
                xrefs.c.account.is_(None) if account is None else xrefs.c.account == account
            )
            older = conn.execute(query.limit(1)).first() is not None
        sees = older or account_is_empty()
        if sees is None:
            return False
        with self.begin() as conn:
            if _noted(conn, row) is None:
                value = {"store_sees_every_write": sees}
                upsert_by_key(conn, writer_settings, "name", {"name": row, "value": value})
            return bool(_noted(conn, row))

    def mark_touched(self, invoice_ids: Sequence[str]) -> None:
        """Note that a PayPal write may go out for these invoices from now on."""
        with self.begin() as conn:
            for batch in id_batches(invoice_ids):
                conn.execute(
                    invoices.update()
                    .where(invoices.c.invoice_id.in_(batch), invoices.c.paypal_touched_at.is_(None))
                    .values(paypal_touched_at=utc_now())
                )


def _row(account: str | None) -> str:
    """The writer_settings row of an account (a hash: the names may be longer than the key)."""
    if account is None:
        return ACCOUNT_ROW
    return f"{ACCOUNT_ROW}:{hashlib.sha256(account.encode()).hexdigest()[:24]}"


def _noted(conn: sa.Connection, row: str) -> bool | None:
    value = conn.execute(
        sa.select(writer_settings.c.value).where(writer_settings.c.name == row)
    ).scalar_one_or_none()
    return bool(value["store_sees_every_write"]) if isinstance(value, dict) else None
