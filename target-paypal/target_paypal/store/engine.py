"""Opening the store: the SQLAlchemy engine, SQLite's pragmas and lock wait, and StoreError.

`StoreBase` holds the engine; every part of `Store` inherits it and reads and writes through
`begin()`, one transaction per call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from target_paypal.store.schema import add_missing_columns, metadata

DEFAULT_STORE = "sqlite:///.meltano/target-paypal/store.db"


class StoreError(RuntimeError):
    """The store cannot be opened or written: the run must stop before touching PayPal."""


class StoreBase:
    """The engine every part of the store shares, and its transactions."""

    def __init__(self, url: str, lock_timeout_seconds: float = 30) -> None:
        self.engine = open_engine(url, lock_timeout_seconds)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Yield a connection in a transaction, committed on exit (rolled back on error)."""
        with self.engine.begin() as conn:
            yield conn


def open_engine(url: str, lock_timeout_seconds: float = 30) -> Engine:
    """Return the store's engine, checked before anything is read from or written to PayPal.

    A file that is not a SQLite database (corrupt, truncated) or a store another process keeps
    locked for longer than `lock_timeout_seconds` stops the run with a StoreError. A damaged
    file is never recreated or repaired here: it is left as it is for a restore.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True, json_serializer=to_json)
    if engine.dialect.name == "sqlite":
        busy_ms = int(lock_timeout_seconds * 1000)
        sa.event.listen(engine, "connect", lambda conn, _: _sqlite_pragmas(conn, busy_ms))
    try:
        metadata.create_all(engine)
        add_missing_columns(engine)
        if engine.dialect.name == "sqlite":
            _check_writable(engine)
    except sa.exc.SQLAlchemyError as error:
        raise _store_error(engine, error, lock_timeout_seconds) from None
    return engine


def to_json(value: Any) -> str:
    """JSON for the store's record columns.

    singer-sdk reads JSON numbers as Decimal: a record that broke the contract with a number
    where a decimal string belongs must still be kept, as it came, to be replayed.
    """
    return json.dumps(value, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):  # a number stays a number: 55 as 55, 55.0 as 55.0
        return int(value) if value.as_tuple().exponent == 0 else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _store_error(engine: Engine, error: sa.exc.SQLAlchemyError, waited: float) -> StoreError:
    """Say what is wrong with the store (locked, corrupt, unusable) and what to do about it."""
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
