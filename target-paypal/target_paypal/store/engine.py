"""Opening the store: the SQLAlchemy engine, SQLite's pragmas and lock wait, and StoreError.

`StoreBase` holds the engine (pointed at the clinic's schema or file, see `clinics`); every part
of `Store` inherits it and reads and writes through `begin()`, one transaction per call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from target_paypal.private_files import create_private_file, private_folder, tighten
from target_paypal.store.clinics import check_clinic, clinic_schema, clinic_sqlite_url
from target_paypal.store.run_lock import RunLock, StoreHeld, lock_key
from target_paypal.store.schema import add_missing_columns, metadata

DEFAULT_STORE = "sqlite:///.meltano/target-paypal/store.db"


class StoreError(RuntimeError):
    """The store cannot be opened or written: the run must stop before touching PayPal."""


class StoreBase:
    """The engine every part of the store shares, and its transactions."""

    def __init__(
        self, url: str, lock_timeout_seconds: float = 30, clinic: str | None = None
    ) -> None:
        try:
            self.clinic = check_clinic(clinic)
        except ValueError as error:
            raise StoreError(f"{error} (TARGET_PAYPAL_CLINIC)") from None
        self.engine = open_engine(url, lock_timeout_seconds, self.clinic)
        self.run_lock = RunLock(self.engine, self.clinic, clinic_schema(self.clinic))

    def hold_run_lock(self) -> None:
        """Hold the clinic's run lock until the process ends, or raise StoreError at once."""
        try:
            self.run_lock.acquire()
        except StoreHeld as error:
            raise StoreError(str(error)) from None
        except sa.exc.SQLAlchemyError as error:
            raise _store_error(self.engine, error, 0) from None

    def release_run_lock(self) -> None:
        """Let another run of the clinic start (ending the process does it too)."""
        self.run_lock.release()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Yield a connection in a transaction, committed on exit (rolled back on error)."""
        with self.engine.begin() as conn:
            yield conn


def open_engine(url: str, lock_timeout_seconds: float = 30, clinic: str | None = None) -> Engine:
    """Return the store's engine, checked before anything is read from or written to PayPal.

    A file that is not a SQLite database (corrupt, truncated) or a store another process keeps
    locked for longer than `lock_timeout_seconds` stops the run with a StoreError. A damaged
    file is never recreated or repaired here: it is left as it is for a restore. On PostgreSQL
    the clinic's schema and tables are created when missing (one process at a time).
    """
    url = clinic_sqlite_url(url, clinic)
    if url.startswith("sqlite:///"):
        _private_sqlite_file(Path(url.removeprefix("sqlite:///")).expanduser())
    engine = _create_engine(url, lock_timeout_seconds)
    schema = clinic_schema(clinic) if engine.dialect.name == "postgresql" else None
    if schema:  # every table of the metadata is looked up in the clinic's schema
        engine = engine.execution_options(schema_translate_map={None: schema})
    if engine.dialect.name == "sqlite":
        busy_ms = int(lock_timeout_seconds * 1000)
        sa.event.listen(engine, "connect", lambda conn, _: _sqlite_pragmas(conn, busy_ms))
    try:
        _create_tables(engine, schema, lock_timeout_seconds)
        if engine.dialect.name == "sqlite":
            _check_writable(engine)
    except sa.exc.SQLAlchemyError as error:
        raise _store_error(engine, error, lock_timeout_seconds) from None
    return engine


def _private_sqlite_file(path: Path) -> None:
    """The store's file owner-only: made 0600 before SQLite opens it, or tightened if looser.

    SQLite gives its -wal, -shm and -journal files the database file's own mode, so they are
    0600 too. An empty file is a valid empty database.
    """
    if str(path) in ("", ":memory:"):
        return
    private_folder(path.parent)
    create_private_file(path)
    tighten(path)


def _create_engine(url: str, lock_timeout_seconds: float) -> Engine:
    """The engine for `url`, or a StoreError naming what is missing (a driver, a valid URL)."""
    try:
        # hide_parameters: a database error's text never carries a record's values (a
        # patient's name or email) into a log or traceback, only the SQL.
        engine = sa.create_engine(
            url,
            future=True,
            json_serializer=to_json,
            json_deserializer=from_json,
            hide_parameters=True,
        )
    except (ImportError, sa.exc.NoSuchModuleError) as error:
        name = getattr(error, "name", None) or str(error).rsplit(":", 1)[-1].strip()
        raise StoreError(
            f"the store_url needs the database driver '{name}', which is not installed: "
            "use postgresql+psycopg://... for PostgreSQL (psycopg 3 comes with target-paypal: "
            "`meltano install --clean loaders target-paypal`) or sqlite:///path/store.db"
        ) from None
    except sa.exc.ArgumentError:
        raise StoreError(
            "the store_url (TARGET_PAYPAL_STORE_URL) is not a database URL: use "
            "sqlite:///path/store.db or postgresql+psycopg://user@host/database"
        ) from None
    if engine.dialect.name == "postgresql":
        # Wait for row locks at most as long as for SQLite's file lock, then fail with a line.
        timeout_ms = int(lock_timeout_seconds * 1000)
        sa.event.listen(engine, "connect", lambda conn, _: _postgres_settings(conn, timeout_ms))
    return engine


def _create_tables(engine: Engine, schema: str | None, lock_timeout_seconds: float) -> None:
    """Create the schema, tables and missing columns; on PostgreSQL one process at a time.

    Two runs opening a fresh database together would otherwise both try to create the same
    tables; the transaction-scoped advisory lock makes the second wait, then find them there.
    """
    if engine.dialect.name != "postgresql":
        metadata.create_all(engine)
        add_missing_columns(engine)
        return
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("schema")})
        # Asked first: CREATE SCHEMA needs a right on the database that a user confined to
        # its clinic's existing schema does not have, even with IF NOT EXISTS.
        if schema and not sa.inspect(conn).has_schema(schema):
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        metadata.create_all(conn)
        add_missing_columns(conn, schema)


def to_json(value: Any) -> str:
    """JSON for the store's record columns.

    singer-sdk reads JSON numbers as Decimal: a record that broke the contract with a number
    where a decimal string belongs must still be kept, as it came, to be replayed.
    """
    return json.dumps(value, default=plain_number)


def from_json(text: str | bytes) -> Any:
    """A record column read back: msgspec, several times quicker than `json`.

    What msgspec refuses and `json` reads (NaN, a number out of range, a lone surrogate from a
    name cut inside an emoji, all kept as they came) is read by `json`, as before.
    """
    try:
        return _DECODE(text)
    except msgspec.DecodeError:
        return json.loads(text)


_DECODE = msgspec.json.Decoder().decode


def plain_number(value: Any) -> Any:
    """A Decimal as the JSON number it is (55 as 55, 55.0 as 55.0); anything else refused."""
    if isinstance(value, Decimal):  # a number stays a number: 55 as 55, 55.0 as 55.0
        return int(value) if value.as_tuple().exponent == 0 else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _store_error(engine: Engine, error: sa.exc.SQLAlchemyError, waited: float) -> StoreError:
    """Say what is wrong with the store (locked, corrupt, unusable) and what to do about it."""
    where = engine.url.database if engine.dialect.name == "sqlite" else None
    where = where or engine.url.render_as_string(hide_password=True)
    if engine.dialect.name == "postgresql":
        return _postgres_error(where, str(getattr(error, "orig", None) or ""), waited)
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


def _postgres_error(where: str, detail: str, waited: float) -> StoreError:
    """One line for a PostgreSQL store that cannot be used, with the server's own reason."""
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    reason = " ".join(lines[:2]) or "no answer"
    if "lock timeout" in detail:
        return StoreError(
            f"the store at {where} stayed locked by another process for {waited:g} s: let it "
            "finish (or stop it), then run again"
        )
    return StoreError(
        f"the store at {where} cannot be used ({reason}): check store_url "
        "(TARGET_PAYPAL_STORE_URL), that the server runs, and the user's rights"
    )


def _postgres_settings(connection: Any, lock_timeout_ms: int) -> None:
    cursor = connection.cursor()
    cursor.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
    cursor.close()
    connection.commit()


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


def _sqlite_pragmas(connection: Any, busy_timeout_ms: int) -> None:
    """Set each new SQLite connection to WAL, synchronous=NORMAL and a busy timeout.

    WAL: readers do not block the writer, and a commit survives a killed process without an
    fsync per transaction (synchronous=NORMAL); wait for a lock instead of failing at once
    (set first, so that switching to WAL waits for a lock too).
    """
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
