"""What reconciliation compares and reports: one wanted invoice, one mismatch."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Mismatch:
    """One invoice that is not as it should be in PayPal (IDs and field names only)."""

    kind: str
    cliniko_invoice_id: str | None
    paypal_id: str | None
    invoice_number: str | None
    fields: list[str] = field(default_factory=list)
    detail: str = ""
    # The PayPal account it is (or should be) in, as xrefs.account names it; "": the default.
    account: str = ""


@dataclass
class Wanted:
    """What PayPal should show for one Cliniko invoice, by the sync's own rules."""

    invoice_id: str
    number: str
    status: str  # DRAFT, SENT, PAID, VOID, HELD (parked or skipped by the mapper), REVERSED
    date: str
    total: Decimal | None
    tax: Decimal | None
    customer_id: str
    abn: str = ""  # its business's own ABN (invoicers.by_business); "": the default invoicer's
    reversed_amount: Decimal | None = None  # REVERSED: what Cliniko's live reversals undo
    account: str = ""  # its business's own PayPal account (xrefs.account's key); "": the default
