"""SQL helpers every part of the store shares: the upsert, UTC times, id batches."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

IDS_PER_STATEMENT = 500  # ids per IN (...): old SQLite builds allow 999 parameters a statement


def utc_now() -> dt.datetime:
    """Return the current time, timezone-aware in UTC (the store's only time zone)."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Return a stored time as aware UTC: SQLite hands back naive datetimes (stored in UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def upsert_row(
    conn: Connection, table: sa.Table, keys: dict[str, Any], values: dict[str, Any]
) -> None:
    """Insert or replace the row whose primary key columns hold `keys`, in one statement.

    INSERT ... ON CONFLICT DO UPDATE (SQLite and PostgreSQL both have it): two writers of the
    same key never race into a unique violation, as an UPDATE-then-INSERT could.
    """
    statement = _upsert_statement(conn.dialect.name, table, tuple(keys), tuple(values))
    conn.execute(statement, {f"p_{k}": v for k, v in (*keys.items(), *values.items())})


def upsert_by_key(conn: Connection, table: sa.Table, key: str, row: dict[str, Any]) -> None:
    """Insert or replace `row` in a table whose primary key is the single column `key`."""
    upsert_row(conn, table, {key: row[key]}, {k: v for k, v in row.items() if k != key})


@cache
def _upsert_statement(
    dialect: str, table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]
) -> sa.Insert:
    """Build an upsert with bound parameters, once per dialect, table and column set.

    Building it per call with the values inside cost more CPU than running it (SQLAlchemy
    computes a cache key for every new statement object). Parameter names are `p_<column>`.
    """
    dialect_insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    insert = dialect_insert(table).values({c: sa.bindparam(f"p_{c}") for c in (*keys, *columns)})
    if not columns:
        return insert.on_conflict_do_nothing(index_elements=list(keys))
    return insert.on_conflict_do_update(
        index_elements=list(keys), set_={c: insert.excluded[c] for c in columns}
    )  # type: ignore[no-any-return]
