"""One run per clinic at a time: a lock that dies with the process holding it.

PostgreSQL: a session advisory lock on a connection kept open for the whole run (the server
drops it when that connection ends, however the process ended). SQLite: an exclusive `flock`
on `<store file>.lock` (0600; the kernel drops it when the process ends). A run that cannot take it
stops at start, before writing anything, saying since when the other run has held it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from target_paypal.private_files import open_private
from target_paypal.store.clinics import described


class StoreHeld(RuntimeError):
    """Another run of the same clinic holds the store."""


def lock_key(name: str) -> int:
    """A stable, non-negative 63-bit advisory lock key for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


class RunLock:
    """Held from `acquire()` until `release()` or the end of the process."""

    def __init__(self, engine: Engine, clinic: str | None, schema: str | None) -> None:
        self.engine = engine
        self.clinic = clinic
        self.schema = schema
        self._held: Any = None

    def acquire(self) -> None:
        """Take the lock, or raise StoreHeld with one line saying since when it is held."""
        if self._held is not None:
            return
        since = self._take_postgres() if self.engine.dialect.name == "postgresql" else None
        if self.engine.dialect.name == "sqlite":
            since = self._take_file()
        if since is not None:
            raise StoreHeld(
                f"another run{described(self.clinic)} has held the store since {since}: "
                "nothing was written; let that run finish (or stop it), then run again"
            )

    def release(self) -> None:
        """Let the next run in (the end of the process does it too)."""
        held, self._held = self._held, None
        if isinstance(held, Connection):
            held.invalidate()  # closed for good: back in the pool, it would keep the lock
        elif held is not None:
            held.close()

    def _take_postgres(self) -> str | None:
        key = lock_key(f"target-paypal run {self.schema or 'public'}")
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            self._held = conn
            return None
        try:
            return _holder_since(conn, key)
        finally:
            conn.close()

    def _take_file(self) -> str | None:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return None
        path = Path(database).expanduser()
        # Kept open on purpose: the lock lasts as long as this handle (or the process).
        handle = open_private(path.with_name(path.name + ".lock"), "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            since = handle.read().strip() or "an unknown time"
            handle.close()
            return since
        handle.truncate(0)
        handle.write(f"{_now()} (process {os.getpid()})\n")
        handle.flush()
        self._held = handle
        return None


def _holder_since(conn: Connection, key: int) -> str:
    """When the session holding the advisory lock `key` started (its lock connection)."""
    started = conn.execute(
        sa.text(
            "SELECT min(a.backend_start) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.classid::bigint * 4294967296 + l.objid::bigint = :k"
        ),
        {"k": key},
    ).scalar()
    return _now(started) if started else "an unknown time"


def _now(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
