"""The target's durable store (SQLAlchemy Core; SQLite by default, PostgreSQL for shared use).

It holds what PayPal cannot: the customer directory, the staged Cliniko records, the
cross-references Cliniko id <-> PayPal invoice, the hash last applied, an append-only audit log
of PayPal writes (IDs and outcomes, no personal data), dead letters, and runs.

`Store` is composed of one class per concern, each in its own module and each reading and
writing through the engine `StoreBase` opens (`engine`): `staging` (with `email_key`, the
keyed hash of emails), `directory`, `kept` (records cut down once applied), `dead_letters`,
`runs`, `webhooks`, `approvals` (the approval queue), `retention` (how long each is kept),
`retry` (which parked invoices a run tries again), `first_writes` (which invoices never
reached PayPal) and `reversals` (invoices reversed, and the refunds recorded for them). The
tables are in `schema`, the shared upsert in `sql`; where each clinic's tables live in
`clinics`.
"""

from __future__ import annotations

from target_paypal.store.approvals import Approval, Approvals
from target_paypal.store.conflicts import retry_every_method
from target_paypal.store.dead_letters import DeadLetters
from target_paypal.store.directory import CustomerDirectory, Xref
from target_paypal.store.engine import DEFAULT_STORE, StoreError
from target_paypal.store.first_writes import FirstWrites
from target_paypal.store.kept import KeptRecords
from target_paypal.store.retention import Removal, Retention, RetentionDays
from target_paypal.store.retry import RetryPlans
from target_paypal.store.reversals import Reversals
from target_paypal.store.runs import RunHistory
from target_paypal.store.staging import InvoiceInputs, Staging
from target_paypal.store.webhooks import WebhookEvent, WebhookLog

__all__ = [
    "Approval",
    "DEFAULT_STORE",
    "InvoiceInputs",
    "Removal",
    "RetentionDays",
    "Store",
    "StoreError",
    "WebhookEvent",
    "Xref",
]


@retry_every_method
class Store(
    KeptRecords,
    Staging,
    CustomerDirectory,
    DeadLetters,
    RunHistory,
    WebhookLog,
    Approvals,
    Retention,
    RetryPlans,
    FirstWrites,
    Reversals,
):
    """Every read and write of one clinic's data, one transaction per call.

    A call PostgreSQL aborts as a deadlock victim or on a serialization failure is run again
    (`conflicts`); `hold_run_lock` keeps a second run of the same clinic out (`run_lock`).
    """
