"""The target's durable store (SQLAlchemy Core; SQLite by default, PostgreSQL for shared use).

It holds what PayPal cannot: the customer directory, the staged Cliniko records, the
cross-references Cliniko id <-> PayPal invoice, the hash last applied, an append-only audit log
of PayPal writes (IDs and outcomes, no personal data), dead letters, and runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

DEFAULT_STORE = "sqlite:///.meltano/target-paypal/store.db"
metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("email", sa.String(254), index=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
)
invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("invoice_id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(40), index=True),
    sa.Column("practitioner_id", sa.String(40), index=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("dirty", sa.Boolean, nullable=False, default=True, index=True),
    sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
)
lines = sa.Table(
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
    sa.Index("ix_dead_letters_record", "stream", "record_id"),
)
practitioners = sa.Table(
    "practitioners",
    metadata,
    sa.Column("practitioner_id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40)),
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


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WebhookEvent:
    """What the store keeps of one PayPal event: IDs, type, status, PayPal's create_time."""

    event_id: str
    event_type: str
    paypal_id: str | None
    status: str | None
    created_at: str


@dataclass(frozen=True)
class Xref:
    invoice_id: str
    paypal_id: str | None
    invoice_number: str | None
    paypal_status: str | None
    applied_hash: str | None
    conflict: str | None
    owner: str | None = None


@dataclass
class InvoiceInputs:
    """What the applier reads for one invoice (`Store.invoice_inputs`)."""

    header: dict | None
    lines: list[dict]
    customer: dict | None
    customer_left_out: tuple[str, str] | None = None  # only read when the customer is missing
    owner: str | None = None
    xref: Xref | None = None


class StoreError(RuntimeError):
    """The store cannot be opened or written: the run must stop before touching PayPal."""


def open_engine(url: str, lock_timeout_seconds: float = 30) -> Engine:
    """The store's engine, checked before anything is read from or written to PayPal: a file
    that is not a SQLite database (corrupt, truncated) or a store another process keeps locked
    for longer than `lock_timeout_seconds` stops the run with a StoreError. A damaged file is
    never recreated or repaired here: it is left as it is for a restore."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        busy_ms = int(lock_timeout_seconds * 1000)
        sa.event.listen(engine, "connect", lambda conn, _: _sqlite_pragmas(conn, busy_ms))
    try:
        metadata.create_all(engine)
        _add_missing_columns(engine)
        if engine.dialect.name == "sqlite":
            _check_writable(engine)
    except sa.exc.SQLAlchemyError as error:
        raise _store_error(engine, error, lock_timeout_seconds) from None
    return engine


def _store_error(engine: Engine, error: sa.exc.SQLAlchemyError, waited: float) -> StoreError:
    where = engine.url.database if engine.dialect.name == "sqlite" else None
    where = where or engine.url.render_as_string(hide_password=True)
    detail = str(getattr(error, "orig", None) or "").lower()
    if "locked" in detail or "busy" in detail:
        return StoreError(
            f"the store {where} is locked by another process (waited {waited:g} s): let the "
            "other sync or paypal-ops command finish (or stop it), then run again"
        )
    if engine.dialect.name == "sqlite" and isinstance(error, sa.exc.DatabaseError):
        return StoreError(
            f"the store {where} is corrupt or not a SQLite database ({detail or 'unreadable'}); "
            "it was left untouched: restore it from a backup, or set store_url "
            "(TARGET_PAYPAL_STORE_URL) to the right file"
        )
    return StoreError(
        f"the store at {where} cannot be used ({type(error).__name__}): check store_url "
        "(TARGET_PAYPAL_STORE_URL)"
    )


def _check_writable(engine: Engine) -> None:
    """Take and release SQLite's write lock, waiting at most the busy timeout for it."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("ROLLBACK")
        cursor.close()
    except Exception as error:  # the driver's own OperationalError: wrap it as SQLAlchemy would
        raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, error) from error
    finally:
        raw.close()


def _add_missing_columns(engine: Engine) -> None:
    """A store made by an earlier version gains the columns added since (all nullable)."""
    inspector = sa.inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(
                        sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
                    )


def _sqlite_pragmas(connection: Any, busy_timeout_ms: int) -> None:
    """WAL: readers do not block the writer, and a commit survives a killed process without an
    fsync per transaction (synchronous=NORMAL); wait for a lock instead of failing at once
    (set first, so that switching to WAL waits for a lock too)."""
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    """Every read and write of the target's own data."""

    def __init__(self, url: str, lock_timeout_seconds: float = 30) -> None:
        self.engine = open_engine(url, lock_timeout_seconds)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- staging ------------------------------------------------------------------------------
    def stage_customers(self, records: Iterable[dict[str, Any]]) -> None:
        """Upsert customers. Invoices become dirty for a customer that is new or changed, and
        for every customer sharing its old or new email (the shared-email rule may now apply)."""
        records = list(records)
        with self.begin() as conn:
            _supersede(conn, "customers", "patients", [r["customer_id"] for r in records])
            for record in records:
                customer_id = record["customer_id"]
                old = conn.execute(
                    sa.select(customers.c.record).where(customers.c.customer_id == customer_id)
                ).scalar_one_or_none()
                _upsert(
                    conn,
                    customers,
                    "customer_id",
                    {
                        "customer_id": customer_id,
                        "email": (record.get("email") or "").lower() or None,
                        "record": record,
                        "staged_at": now(),
                    },
                )
                if old == record:
                    continue
                emails = {
                    (r.get("email") or "").lower() for r in (old, record) if r and r.get("email")
                }
                owners_of = sa.select(customers.c.customer_id).where(customers.c.email.in_(emails))
                conn.execute(
                    invoices.update()
                    .where(
                        sa.or_(
                            invoices.c.customer_id == customer_id,
                            invoices.c.customer_id.in_(owners_of),
                        )
                    )
                    .values(dirty=True)
                )

    def stage_invoices(self, records: Iterable[dict[str, Any]]) -> None:
        records = list(records)
        with self.begin() as conn:
            _supersede(conn, "invoices", "invoices", [r["invoice_id"] for r in records])
            for record in records:
                _upsert(
                    conn,
                    invoices,
                    "invoice_id",
                    {
                        "invoice_id": record["invoice_id"],
                        "customer_id": record["customer_id"],
                        "practitioner_id": record.get("practitioner_id"),
                        "record": record,
                        "dirty": True,
                        "staged_at": now(),
                    },
                )

    def stage_lines(self, records: list[dict[str, Any]]) -> None:
        with self.begin() as conn:
            _supersede(conn, "invoice_lines", "invoice_items", [r["line_id"] for r in records])
            for record in records:
                _upsert(
                    conn,
                    lines,
                    "line_id",
                    {
                        "line_id": record["line_id"],
                        "invoice_id": record["invoice_id"],
                        "record": record,
                    },
                )
            touched = {record["invoice_id"] for record in records}
            conn.execute(
                invoices.update().where(invoices.c.invoice_id.in_(touched)).values(dirty=True)
            )

    def stage_practitioners(self, records: Iterable[dict[str, Any]]) -> None:
        self._stage_reference(practitioners, "practitioner_id", "user_id", records)

    def stage_owners(self, records: Iterable[dict[str, Any]]) -> None:
        self._stage_reference(owners, "user_id", "owner", records)

    def _stage_reference(
        self, table: sa.Table, key: str, value: str, records: Iterable[dict[str, Any]]
    ) -> None:
        """Upsert a practitioner or owner; the invoices whose owner it changes become dirty."""
        with self.begin() as conn:
            for record in records:
                old = conn.execute(
                    sa.select(table.c[value]).where(table.c[key] == record[key])
                ).one_or_none()
                _upsert(conn, table, key, {key: record[key], value: record.get(value)})
                if old is not None and old[0] != record.get(value):
                    practitioner_ids = (
                        [record[key]]
                        if table is practitioners
                        else sa.select(practitioners.c.practitioner_id).where(
                            practitioners.c.user_id == record[key]
                        )
                    )
                    conn.execute(
                        invoices.update()
                        .where(invoices.c.practitioner_id.in_(practitioner_ids))
                        .values(dirty=True)
                    )

    def skip(self, stream: str, record_id: str, reason: str) -> None:
        """A record a rule leaves out on purpose (not an error: nothing to replay)."""
        with self.begin() as conn:
            _upsert2(
                conn,
                skipped,
                {"stream": stream, "record_id": record_id},
                {"reason": reason[:500], "at": now()},
            )

    def left_out(self, stream: str, record_id: str) -> tuple[str, str] | None:
        """("skip", reason) or ("park", reason) when the mapper left this record out."""
        with self.begin() as conn:
            return _left_out(conn, stream, record_id)

    def skipped_ids(self, stream: str) -> set[str]:
        """Records a rule skipped: left out by the mapper, or whose latest outcome is skipped."""
        with self.begin() as conn:
            rules = set(
                conn.execute(sa.select(skipped.c.record_id).where(skipped.c.stream == stream))
                .scalars()
                .all()
            )
            latest: dict[str, str] = {}
            rows = conn.execute(
                sa.select(outcomes.c.record_id, outcomes.c.outcome)
                .where(outcomes.c.stream == stream)
                .order_by(outcomes.c.run_id)
            )
            for record_id, outcome in rows:
                latest[record_id] = outcome
        return rules | {r for r, outcome in latest.items() if outcome == "skipped"}

    def shared_emails(self) -> dict[str, list[str]]:
        """Customer id -> the other customers with the same email (case-insensitive)."""
        with self.begin() as conn:
            shared = (
                sa.select(customers.c.email)
                .where(customers.c.email.is_not(None))
                .group_by(customers.c.email)
                .having(sa.func.count() > 1)
            )
            rows = conn.execute(
                sa.select(customers.c.email, customers.c.customer_id).where(
                    customers.c.email.in_(shared)
                )
            ).all()
        by_email: dict[str, list[str]] = {}
        for email, customer_id in rows:
            by_email.setdefault(email, []).append(customer_id)
        return {
            cid: sorted(other for other in ids if other != cid)
            for ids in by_email.values()
            for cid in ids
        }

    # --- reading for composition --------------------------------------------------------------
    def dirty_invoice_ids(self) -> list[str]:
        with self.begin() as conn:
            query = sa.select(invoices.c.invoice_id).where(invoices.c.dirty.is_(True))
            return list(conn.execute(query.order_by(invoices.c.invoice_id)).scalars())

    def invoice_inputs(self, invoice_id: str) -> InvoiceInputs:
        """Everything applying one invoice reads, in one transaction: the applier's workers
        would otherwise open four per invoice (bundle, left-out patient, owner, xref)."""
        with self.begin() as conn:
            header, items, customer = _bundle(conn, invoice_id)
            inputs = InvoiceInputs(header, items, customer)
            if header is None:
                return inputs
            if customer is None:
                inputs.customer_left_out = _left_out(conn, "customers", header["customer_id"])
            inputs.owner = _owner_of(conn, header.get("practitioner_id"))
            inputs.xref = _xref(conn, invoice_id)
        return inputs

    def mark_dirty(self, invoice_ids: Iterable[str]) -> None:
        ids = list(invoice_ids)
        with self.begin() as conn:
            for start in range(0, len(ids), SUPERSEDE_CHUNK):  # one statement per chunk
                chunk = ids[start : start + SUPERSEDE_CHUNK]
                conn.execute(
                    invoices.update().where(invoices.c.invoice_id.in_(chunk)).values(dirty=True)
                )

    # --- cross-references ---------------------------------------------------------------------
    def xref(self, invoice_id: str) -> Xref | None:
        with self.begin() as conn:
            return _xref(conn, invoice_id)

    def save_xref(self, xref: Xref) -> None:
        with self.begin() as conn:
            _upsert(conn, xrefs, "invoice_id", {**xref.__dict__, "updated_at": now()})

    def xrefs(self) -> list[Xref]:
        with self.begin() as conn:
            rows = conn.execute(sa.select(xrefs)).mappings().all()
        return [Xref(**{k: r[k] for k in Xref.__dataclass_fields__}) for r in rows]

    # --- audit, dead letters, runs ------------------------------------------------------------
    def audit(self, run_id: int | None, entries: Iterable[dict[str, Any]]) -> None:
        rows = [{"at": now(), "run_id": run_id, **entry} for entry in entries]
        if rows:
            with self.begin() as conn:
                conn.execute(audit.insert(), rows)

    def audit_log(self, run_id: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(audit).order_by(audit.c.id)
        if run_id is not None:
            query = query.where(audit.c.run_id == run_id)
        with self.begin() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def run_invoice_outcomes(self, run_id: int) -> dict[str, str]:
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(outcomes.c.record_id, outcomes.c.outcome).where(
                    outcomes.c.run_id == run_id, outcomes.c.stream == "invoices"
                )
            )
            return {record_id: outcome for record_id, outcome in rows}

    def invoice_headers(self, invoice_ids: set[str]) -> dict[str, dict[str, Any]]:
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(invoices.c.invoice_id, invoices.c.record).where(
                    invoices.c.invoice_id.in_(invoice_ids)
                )
            )
            return {invoice_id: record for invoice_id, record in rows}

    def park(
        self,
        stream: str,
        record_id: str | None,
        reason: str,
        record: dict | None = None,
        debug_id: str | None = None,
    ) -> None:
        """Keep a record that could not be applied, with why; one open letter per record."""
        with self.begin() as conn:
            _park(conn, stream, record_id, reason, record, debug_id)

    def record_outcome(
        self,
        run_id: int | None,
        invoice_id: str,
        audit_entries: list[dict],
        xref: Xref | None,
        parked: tuple[str, str | None] | None,
        done: bool,
        result: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Everything one invoice's outcome changes, in one transaction."""
        with self.begin() as conn:
            if result is not None and run_id is not None:
                _note_outcome(conn, run_id, "invoices", invoice_id, result, reason)
            if audit_entries:
                conn.execute(
                    audit.insert(), [{"at": now(), "run_id": run_id, **e} for e in audit_entries]
                )
            if xref is not None:
                _upsert(conn, xrefs, "invoice_id", {**xref.__dict__, "updated_at": now()})
            if parked is not None:
                _park(conn, "invoices", invoice_id, parked[0], None, parked[1])
            elif done:
                conn.execute(
                    dead_letters.update()
                    .where(
                        dead_letters.c.stream == "invoices",
                        dead_letters.c.record_id == invoice_id,
                        dead_letters.c.resolved_at.is_(None),
                    )
                    .values(resolved_at=now(), resolution=result or "applied")
                )
            if done or parked is not None:
                conn.execute(
                    invoices.update().where(invoices.c.invoice_id == invoice_id).values(dirty=False)
                )

    def resolve(self, stream: str, record_id: str, resolution: str) -> None:
        with self.begin() as conn:
            conn.execute(
                dead_letters.update()
                .where(
                    dead_letters.c.stream == stream,
                    dead_letters.c.record_id == record_id,
                    dead_letters.c.resolved_at.is_(None),
                )
                .values(resolved_at=now(), resolution=resolution)
            )

    def discard(self, letter_id: int, why: str) -> None:
        """Close one dead letter by hand, with the reason, and say so in the audit log."""
        with self.begin() as conn:
            letter = conn.execute(
                sa.select(dead_letters.c.stream, dead_letters.c.record_id).where(
                    dead_letters.c.id == letter_id
                )
            ).one()
            conn.execute(
                dead_letters.update()
                .where(dead_letters.c.id == letter_id)
                .values(resolved_at=now(), resolution=f"discarded: {why}"[:300])
            )
            conn.execute(
                audit.insert().values(
                    at=now(),
                    invoice_id=letter.record_id if letter.stream == "invoices" else None,
                    operation=f"discard {letter.stream}"[:40],
                    outcome=f"dead letter {letter_id} ({letter.record_id}): {why}"[:300],
                )
            )
            if letter.stream == "invoices":
                conn.execute(
                    invoices.update()
                    .where(invoices.c.invoice_id == letter.record_id)
                    .values(dirty=False)
                )

    def open_dead_letters(self, stream: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(dead_letters).where(dead_letters.c.resolved_at.is_(None))
        if stream:
            query = query.where(dead_letters.c.stream == stream)
        with self.begin() as conn:
            return [dict(r) for r in conn.execute(query.order_by(dead_letters.c.id)).mappings()]

    def parked_lines(self, invoice_id: str) -> list[str]:
        """The ids of an invoice's lines kept as open dead letters (by the mapper or target)."""
        streams = ("invoice_lines", "rejects:invoice_items")
        query = sa.select(dead_letters.c.record_id, dead_letters.c.record).where(
            dead_letters.c.resolved_at.is_(None), dead_letters.c.stream.in_(streams)
        )
        with self.begin() as conn:
            rows = conn.execute(query).all()
        return sorted(
            str(record_id)
            for record_id, record in rows
            if isinstance(record, dict) and str(record.get("invoice_id")) == invoice_id
        )

    def open_dead_letter_ids(self, stream: str) -> list[str]:
        """Record ids of a stream's open letters, without loading the kept records."""
        query = sa.select(dead_letters.c.record_id).where(
            dead_letters.c.resolved_at.is_(None), dead_letters.c.stream == stream
        )
        with self.begin() as conn:
            return [r for r in conn.execute(query.order_by(dead_letters.c.id)).scalars() if r]

    def open_dead_letter_count(self) -> int:
        query = sa.select(sa.func.count()).where(dead_letters.c.resolved_at.is_(None))
        with self.begin() as conn:
            return int(conn.execute(query.select_from(dead_letters)).scalar_one())

    def note_outcome(
        self, run_id: int, stream: str, record_id: str | None, outcome: str, reason: str | None
    ) -> None:
        with self.begin() as conn:
            _note_outcome(conn, run_id, stream, record_id or "(no id)", outcome, reason)

    def run_outcomes(self, run_id: int) -> dict[str, dict[str, int]]:
        """Stream -> outcome -> how many records ended the run that way."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(outcomes.c.stream, outcomes.c.outcome, sa.func.count())
                .where(outcomes.c.run_id == run_id)
                .group_by(outcomes.c.stream, outcomes.c.outcome)
            ).all()
        found: dict[str, dict[str, int]] = {}
        for stream, outcome, count in rows:
            found.setdefault(stream, {})[outcome] = count
        return found

    def run_reasons(self, run_id: int, outcome: str) -> list[tuple[str, str, int]]:
        """(stream, reason, count) of the records that ended the run with `outcome`."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(outcomes.c.stream, outcomes.c.reason, sa.func.count())
                .where(outcomes.c.run_id == run_id, outcomes.c.outcome == outcome)
                .group_by(outcomes.c.stream, outcomes.c.reason)
                .order_by(sa.func.count().desc())
            ).all()
        return [(s, r or "", n) for s, r, n in rows]

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.begin() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(limit)).mappings()
            return [dict(r) for r in rows]

    def start_run(self) -> int:
        with self.begin() as conn:
            result = conn.execute(runs.insert().values(started_at=now(), status="running"))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(self, run_id: int, status: str, counts: dict[str, Any]) -> None:
        with self.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(finished_at=now(), status=status, counts=json.loads(json.dumps(counts)))
            )
            conn.execute(
                outcomes.delete().where(outcomes.c.run_id <= run_id - KEEP_OUTCOMES_OF_RUNS)
            )

    def run(self, run_id: int) -> dict[str, Any] | None:
        with self.begin() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one_or_none()
        return None if row is None else dict(row)

    def new_parked(self, run_id: int) -> list[tuple[str, str, str]]:
        """(stream, record_id, reason) of the records this run parked that were not parked
        before it: their open dead letter was made during the run (a retry still parked is not
        new)."""
        run = self.run(run_id)
        if run is None:
            return []
        with self.begin() as conn:
            parked = conn.execute(
                sa.select(outcomes.c.stream, outcomes.c.record_id, outcomes.c.reason)
                .where(outcomes.c.run_id == run_id, outcomes.c.outcome == "parked")
                .order_by(outcomes.c.stream, outcomes.c.record_id)
            ).all()
            letters = conn.execute(
                sa.select(dead_letters.c.stream, dead_letters.c.record_id).where(
                    dead_letters.c.resolved_at.is_(None),
                    dead_letters.c.created_at >= _aware(run["started_at"]),
                )
            ).all()
        opened = {(stream, record_id) for stream, record_id in letters}
        found = []
        for stream, record_id, reason in parked:
            source = f"rejects:{REJECT_STREAMS_BY_TARGET.get(stream, stream)}"
            if (stream, record_id) in opened or (source, record_id) in opened:
                found.append((stream, record_id, reason or ""))
        return found

    def notified(self, subject: str) -> bool:
        with self.begin() as conn:
            return (
                conn.execute(
                    sa.select(notifications.c.subject).where(notifications.c.subject == subject)
                ).first()
                is not None
            )

    def note_notified(
        self, subject: str, kind: str, run_id: int | None, delivered: int, channels: int
    ) -> None:
        with self.begin() as conn:
            _upsert(
                conn,
                notifications,
                "subject",
                {
                    "subject": subject,
                    "kind": kind,
                    "run_id": run_id,
                    "sent_at": now(),
                    "delivered": delivered,
                    "channels": channels,
                },
            )

    # --- PayPal webhooks ----------------------------------------------------------------------
    def record_webhook(
        self,
        transmission_id: str,
        event: WebhookEvent,
        hand_closed: Callable[..., str | None],
        keep: bool = True,
    ) -> str:
        """One verified delivery, in one transaction: "replayed" when its transmission id was
        seen before (nothing changes), "duplicate" when its event id was already recorded (a
        PayPal retry), "ignored" when not `keep` (only the transmission is remembered), else
        "recorded" (the event row, and the invoice's xref status when the
        event is not older than the last one recorded for that invoice). `hand_closed(status,
        xref, staged)` gives the conflict reason when the status was not set by this sync."""
        try:
            return self._record_webhook(transmission_id, event, hand_closed, keep)
        except sa.exc.IntegrityError:  # the same delivery twice at once: the loser looks again
            return self._record_webhook(transmission_id, event, hand_closed, keep)

    def _record_webhook(
        self,
        transmission_id: str,
        event: WebhookEvent,
        hand_closed: Callable[..., str | None],
        keep: bool,
    ) -> str:
        with self.begin() as conn:
            seen = conn.execute(
                sa.select(webhook_transmissions.c.transmission_id).where(
                    webhook_transmissions.c.transmission_id == transmission_id
                )
            ).first()
            if seen is not None:
                return "replayed"
            at = now()
            conn.execute(
                webhook_transmissions.delete().where(
                    webhook_transmissions.c.received_at < at - KEEP_TRANSMISSIONS
                )
            )
            conn.execute(
                webhook_transmissions.insert().values(
                    transmission_id=transmission_id, event_id=event.event_id, received_at=at
                )
            )
            if not keep:
                return "ignored"
            known = conn.execute(
                sa.select(webhook_events.c.event_id).where(
                    webhook_events.c.event_id == event.event_id
                )
            ).first()
            if known is not None:
                return "duplicate"
            row = (
                conn.execute(sa.select(xrefs).where(xrefs.c.paypal_id == event.paypal_id))
                .mappings()
                .one_or_none()
                if event.paypal_id
                else None
            )
            newer = conn.execute(
                sa.select(sa.func.max(webhook_events.c.created_at)).where(
                    webhook_events.c.paypal_id == event.paypal_id
                )
            ).scalar_one_or_none()
            conn.execute(
                webhook_events.insert().values(
                    event_id=event.event_id,
                    event_type=event.event_type,
                    paypal_id=event.paypal_id,
                    invoice_id=row["invoice_id"] if row else None,
                    status=event.status,
                    created_at=event.created_at,
                    received_at=at,
                )
            )
            if row is None or event.status is None or (newer or "") > event.created_at:
                return "recorded"
            xref = Xref(**{k: row[k] for k in Xref.__dataclass_fields__})
            staged = conn.execute(
                sa.select(invoices.c.record).where(invoices.c.invoice_id == xref.invoice_id)
            ).scalar_one_or_none()
            conflict = hand_closed(event.status, xref, staged)
            values: dict[str, Any] = {"paypal_status": event.status, "updated_at": at}
            if conflict:
                values["conflict"] = conflict[:300]
            conn.execute(xrefs.update().where(xrefs.c.invoice_id == xref.invoice_id).values(values))
            return "recorded"

    def webhook_events(self) -> list[dict[str, Any]]:
        with self.begin() as conn:
            query = sa.select(webhook_events).order_by(webhook_events.c.received_at)
            return [dict(r) for r in conn.execute(query).mappings()]


KEEP_OUTCOMES_OF_RUNS = 100
# Transmission ids older than this are forgotten; the receiver refuses far older events anyway.
KEEP_TRANSMISSIONS = dt.timedelta(days=7)


def _bundle(conn: Connection, invoice_id: str) -> tuple[dict | None, list[dict], dict | None]:
    header = conn.execute(
        sa.select(invoices.c.record).where(invoices.c.invoice_id == invoice_id)
    ).scalar_one_or_none()
    items = list(
        conn.execute(sa.select(lines.c.record).where(lines.c.invoice_id == invoice_id)).scalars()
    )
    customer = None
    if header is not None:
        customer = conn.execute(
            sa.select(customers.c.record).where(customers.c.customer_id == header["customer_id"])
        ).scalar_one_or_none()
    return header, items, customer


def _left_out(conn: Connection, stream: str, record_id: str) -> tuple[str, str] | None:
    reason = conn.execute(
        sa.select(skipped.c.reason).where(
            skipped.c.stream == stream, skipped.c.record_id == record_id
        )
    ).scalar_one_or_none()
    if reason is not None:
        return "skip", reason
    reason = conn.execute(
        sa.select(dead_letters.c.reason).where(
            dead_letters.c.stream == f"rejects:{REJECT_STREAMS_BY_TARGET[stream]}",
            dead_letters.c.record_id == record_id,
            dead_letters.c.resolved_at.is_(None),
        )
    ).scalar_one_or_none()
    return ("park", reason) if reason is not None else None


def _owner_of(conn: Connection, practitioner_id: str | None) -> str | None:
    if not practitioner_id:
        return None
    return conn.execute(  # type: ignore[no-any-return]
        sa.select(owners.c.owner)
        .join(practitioners, practitioners.c.user_id == owners.c.user_id)
        .where(practitioners.c.practitioner_id == practitioner_id)
    ).scalar_one_or_none()


def _xref(conn: Connection, invoice_id: str) -> Xref | None:
    row = (
        conn.execute(sa.select(xrefs).where(xrefs.c.invoice_id == invoice_id))
        .mappings()
        .one_or_none()
    )
    return None if row is None else Xref(**{k: row[k] for k in Xref.__dataclass_fields__})


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes (stored in UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _note_outcome(
    conn: Connection, run_id: int, stream: str, record_id: str, outcome: str, reason: str | None
) -> None:
    _upsert2(
        conn,
        outcomes,
        {"run_id": run_id, "stream": stream, "record_id": record_id},
        {"outcome": outcome, "reason": (reason or "")[:500] or None},
    )


def _park(
    conn: Connection,
    stream: str,
    record_id: str | None,
    reason: str,
    record: dict | None,
    debug_id: str | None,
) -> None:
    open_letter = conn.execute(
        sa.select(dead_letters.c.id, dead_letters.c.attempts).where(
            dead_letters.c.stream == stream,
            dead_letters.c.record_id == record_id,
            dead_letters.c.resolved_at.is_(None),
        )
    ).one_or_none()
    values = {"reason": reason[:500], "debug_id": debug_id, "record": record}
    if open_letter is None:
        conn.execute(
            dead_letters.insert().values(
                stream=stream, record_id=record_id, created_at=now(), attempts=1, **values
            )
        )
    else:
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.id == open_letter.id)
            .values(attempts=open_letter.attempts + 1, **values)
        )


def _upsert(conn: Connection, table: sa.Table, key: str, values: dict[str, Any]) -> None:
    """Insert or replace by primary key, portably (SQLite and PostgreSQL)."""
    _upsert2(conn, table, {key: values[key]}, {k: v for k, v in values.items() if k != key})


# The Cliniko stream a target stream's rejects come from (dead letters are named after it).
REJECT_STREAMS_BY_TARGET = {
    "customers": "patients",
    "invoices": "invoices",
    "invoice_lines": "invoice_items",
    "practitioners": "practitioners",
    "owners": "users",
}


def _supersede(conn: Connection, stream: str, source: str, record_ids: list[str]) -> None:
    """Valid records replace what the mapper had left out under the same ids. Two statements
    per batch rather than per record: staging is most of a first run's store work."""
    for start in range(0, len(record_ids), SUPERSEDE_CHUNK):
        chunk = record_ids[start : start + SUPERSEDE_CHUNK]
        conn.execute(
            dead_letters.update()
            .where(
                dead_letters.c.stream == f"rejects:{source}",
                dead_letters.c.record_id.in_(chunk),
                dead_letters.c.resolved_at.is_(None),
            )
            .values(resolved_at=now(), resolution="superseded by a valid record")
        )
        conn.execute(
            skipped.delete().where(skipped.c.stream == stream, skipped.c.record_id.in_(chunk))
        )


SUPERSEDE_CHUNK = 500  # ids per IN (...): old SQLite builds allow 999 parameters a statement


def _upsert2(
    conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]
) -> None:
    """Insert or replace by a composite primary key."""
    update, insert = _upsert_statements(table, tuple(key), tuple(values))
    params = {f"p_{k}": v for k, v in (*key.items(), *values.items())}
    if conn.execute(update, params).rowcount == 0:
        conn.execute(insert, params)


@cache
def _upsert_statements(
    table: sa.Table, key: tuple[str, ...], columns: tuple[str, ...]
) -> tuple[sa.Update, sa.Insert]:
    """An upsert's two statements with bound parameters, built once per table and column set:
    building them per call with the values inside cost more CPU than running them (SQLAlchemy
    computes a cache key for every new statement object). Parameter names are `p_<column>`
    (an UPDATE may not bind a column's own name)."""
    update = (
        table.update()
        .where(*[table.c[k] == sa.bindparam(f"p_{k}") for k in key])
        .values({c: sa.bindparam(f"p_{c}") for c in columns})
    )
    insert = table.insert().values({c: sa.bindparam(f"p_{c}") for c in (*key, *columns)})
    return update, insert
