"""SQL helpers every part of the store shares: the portable upsert, UTC times, id batches."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import sqlalchemy as sa
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
    """Insert or replace the row whose primary key columns hold `keys`, portably.

    An UPDATE first, then an INSERT when it matched no row: the same two statements on SQLite
    and PostgreSQL, with no dialect-specific ON CONFLICT.
    """
    update, insert = _upsert_statements(table, tuple(keys), tuple(values))
    params = {f"p_{k}": v for k, v in (*keys.items(), *values.items())}
    if conn.execute(update, params).rowcount == 0:
        conn.execute(insert, params)


def upsert_by_key(conn: Connection, table: sa.Table, key: str, row: dict[str, Any]) -> None:
    """Insert or replace `row` in a table whose primary key is the single column `key`."""
    upsert_row(conn, table, {key: row[key]}, {k: v for k, v in row.items() if k != key})


@cache
def _upsert_statements(
    table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]
) -> tuple[sa.Update, sa.Insert]:
    """Build an upsert's two statements with bound parameters, once per table and column set.

    Building them per call with the values inside cost more CPU than running them (SQLAlchemy
    computes a cache key for every new statement object). Parameter names are `p_<column>`
    (an UPDATE may not bind a column's own name).
    """
    update = (
        table.update()
        .where(*[table.c[k] == sa.bindparam(f"p_{k}") for k in keys])
        .values({c: sa.bindparam(f"p_{c}") for c in columns})
    )
    insert = table.insert().values({c: sa.bindparam(f"p_{c}") for c in (*keys, *columns)})
    return update, insert
