"""The store's tables (SQLAlchemy Core) and how an older store is brought up to them.

There is no migration history: every change so far added nullable columns, so opening a store
creates missing tables and adds missing columns (`add_missing_columns`), and nothing else.
"""

from __future__ import annotations

from contextlib import nullcontext

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    # The keyed hash of the normalised email (`email_key`): finds emails patients share.
    sa.Column("email_hash", sa.String(64), index=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
    # A PayPal invoice that carries the customer's current recipient (`kept`), and when the
    # record was cut down to its IDs (NULL: it holds its full content).
    sa.Column("recipient_in", sa.String(40)),
    sa.Column("stripped_at", sa.DateTime(timezone=True)),
    # The customer it was merged into: its invoices go to that one's recipient (`inputs`).
    sa.Column("merged_into", sa.String(40)),
)
invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("invoice_id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(40), index=True),
    sa.Column("practitioner_id", sa.String(40), index=True),
    sa.Column("appointment_id", sa.String(40), index=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("dirty", sa.Boolean, nullable=False, default=True, index=True),
    sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
    # When its header and lines were cut down to IDs and amounts (NULL: they may hold content).
    sa.Column("stripped_at", sa.DateTime(timezone=True)),
    # When it was first handed to a PayPal write (NULL: never; first_writes.py). Invoices
    # staged by an older version are backfilled: whether they reached PayPal is not known.
    sa.Column(
        "paypal_touched_at", sa.DateTime(timezone=True), info={"backfill": "CURRENT_TIMESTAMP"}
    ),
)
invoice_lines = sa.Table(
    "invoice_lines",
    metadata,
    sa.Column("line_id", sa.String(40), primary_key=True),
    sa.Column("invoice_id", sa.String(40), index=True, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
)
xrefs = sa.Table(
    "xrefs",
    metadata,
    sa.Column("invoice_id", sa.String(40), primary_key=True),
    sa.Column("paypal_id", sa.String(40), unique=True),
    sa.Column("invoice_number", sa.String(25)),
    sa.Column("paypal_status", sa.String(30)),
    sa.Column("applied_hash", sa.String(64)),
    sa.Column("conflict", sa.String(300)),
    sa.Column("owner", sa.String(100)),
    # The PayPal account it is in (`accounts.account_key`); NULL: the default account.
    sa.Column("account", sa.String(200)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
audit = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.Integer),
    sa.Column("invoice_id", sa.String(40)),
    sa.Column("paypal_id", sa.String(40)),
    sa.Column("operation", sa.String(40), nullable=False),
    sa.Column("http_status", sa.Integer),
    sa.Column("debug_id", sa.String(64)),
    sa.Column("outcome", sa.String(300)),
)
dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("stream", sa.String(60), nullable=False),
    sa.Column("record_id", sa.String(60)),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("debug_id", sa.String(64)),
    sa.Column("record", sa.JSON),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolution", sa.String(300)),
    # When retention dropped the kept record of an open letter (dead_letter_retention_days):
    # replaying it then needs Cliniko's record again.
    sa.Column("record_dropped_at", sa.DateTime(timezone=True)),
    sa.Index("ix_dead_letters_record", "stream", "record_id"),
)
practitioners = sa.Table(
    "practitioners",
    metadata,
    sa.Column("practitioner_id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40)),
    sa.Column("display_name", sa.String(140)),  # for the memo's {practitioner}
)
# Reversals of invoices (Cliniko: reversing invoices), and the PayPal refund recorded for each.
reversals = sa.Table(
    "reversals",
    metadata,
    sa.Column("reversal_id", sa.String(40), primary_key=True),
    sa.Column("invoice_id", sa.String(40), nullable=False, index=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("refund_id", sa.String(40)),
    sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
)
# The day of each appointment an invoice is for (for {service_date}).
appointments = sa.Table(
    "appointments",
    metadata,
    sa.Column("appointment_id", sa.String(40), primary_key=True),
    sa.Column("service_date", sa.String(10)),
)
owners = sa.Table(
    "owners",
    metadata,
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String(100), nullable=False),
)
skipped = sa.Table(
    "skipped",
    metadata,
    sa.Column("stream", sa.String(60), primary_key=True),
    sa.Column("record_id", sa.String(60), primary_key=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
# The last outcome of each record in each run: what a run's summary counts.
outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True),
    sa.Column("stream", sa.String(60), primary_key=True),
    sa.Column("record_id", sa.String(60), primary_key=True),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(500)),
)
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("counts", sa.JSON),
)
# Alerts sent, one per subject ("run:5", "reconcile:<time>"): so each is sent once.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("subject", sa.String(80), primary_key=True),
    sa.Column("run_id", sa.Integer, index=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered", sa.Integer, nullable=False),
    sa.Column("channels", sa.Integer, nullable=False),
)

# Invoices a mapping rule holds for approval (`approvals`): waiting as PayPal drafts, approved
# or rejected by a person. `basis` is the mapper's hash of what the rule read (an approval stands
# while it is unchanged); `content` the invoice's staged content when last held or rejected.
approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("invoice_id", sa.String(40), primary_key=True),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("basis", sa.String(64), nullable=False),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("held_since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("alert_after_days", sa.Integer),
    sa.Column("invoice_number", sa.String(25)),
    sa.Column("total", sa.String(20)),
    sa.Column("currency_code", sa.String(3)),
    sa.Column("content", sa.String(64)),
    sa.Column("decided_by", sa.String(100)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("why", sa.String(300)),
)
# What the last run wrote PayPal with that is not a secret (the invoicer, send_invoices), so
# `paypal-ops approvals approve --apply-now` composes exactly as a run would; and the last
# mapping rules' fingerprint the input carried (row `mapping_rules`, store/retry.py).
writer_settings = sa.Table(
    "writer_settings",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
)

# PayPal webhooks: every verified delivery's transmission id (replay protection) and each
# recorded invoice event (PAID, CANCELLED, REFUNDED) once per PayPal event id.
webhook_transmissions = sa.Table(
    "webhook_transmissions",
    metadata,
    sa.Column("transmission_id", sa.String(100), primary_key=True),
    sa.Column("event_id", sa.String(60)),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("event_id", sa.String(60), primary_key=True),
    sa.Column("event_type", sa.String(60), nullable=False),
    sa.Column("paypal_id", sa.String(40), index=True),
    sa.Column("invoice_id", sa.String(40)),
    sa.Column("status", sa.String(30)),
    sa.Column("created_at", sa.String(40)),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)


def add_missing_columns(bind: Engine | Connection, schema: str | None = None) -> None:
    """Add the columns a store made by an earlier version lacks (all of them nullable).

    A column whose `info` names a `backfill` gets that SQL value in the rows already there.

    `schema`: the clinic's PostgreSQL schema (the inspector does not follow the engine's
    schema translation, so it is named here).
    """
    inspector = sa.inspect(bind)
    missing = []
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(dialect=bind.dialect)
                name = f'"{schema}".{table.name}' if schema else table.name
                missing.append(f"ALTER TABLE {name} ADD COLUMN {column.name} {kind}")
                if "backfill" in column.info:
                    fill = column.info["backfill"]
                    missing.append(f"UPDATE {name} SET {column.name} = {fill}")
    if not missing:
        return
    # A connection is already in the caller's transaction.
    with bind.begin() if isinstance(bind, Engine) else nullcontext(bind) as conn:
        for statement in missing:
            conn.execute(sa.text(statement))
