"""SQL helpers every part of the store shares: the upsert, UTC times, id batches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

IDS_PER_STATEMENT = 500  # ids per IN (...): old SQLite builds allow 999 parameters a statement


def utc_now() -> dt.datetime:
    """Return the current time, timezone-aware in UTC (the store's only time zone)."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Return a stored time as aware UTC: SQLite hands back naive datetimes (stored in UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def id_batches(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """`ids` in slices of at most IDS_PER_STATEMENT, one IN (...) each."""
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        yield ids[start : start + IDS_PER_STATEMENT]


def upsert_row(
    conn: Connection, table: sa.Table, keys: dict[str, Any], values: dict[str, Any]
) -> None:
    """Insert or replace the row whose primary key columns hold `keys`, in one statement.

    INSERT ... ON CONFLICT DO UPDATE (SQLite and PostgreSQL both have it): two writers of the
    same key never race into a unique violation, as an UPDATE-then-INSERT could.
    """
    upsert_rows(conn, table, tuple(keys), [{**keys, **values}])


def upsert_by_key(conn: Connection, table: sa.Table, key: str, row: dict[str, Any]) -> None:
    """Insert or replace `row` in a table whose primary key is the single column `key`."""
    upsert_rows(conn, table, (key,), [row])


def upsert_rows(
    conn: Connection, table: sa.Table, keys: tuple[str, ...], rows: Sequence[dict[str, Any]]
) -> None:
    """Upsert many rows in one execution (executemany), each replacing the row with its keys.

    Every row holds the same columns, the primary key columns `keys` among them. Rows are
    written in order, each its own INSERT ... ON CONFLICT, so a key twice keeps the last.
    """
    if not rows:
        return
    columns = tuple(c for c in rows[0] if c not in keys)
    statement = _upsert_statement(conn.dialect, _schema(conn), table, keys, columns)
    conn.execute(statement, [{f"p_{k}": v for k, v in row.items()} for row in rows])


def _schema(conn: Connection) -> str | None:
    """The clinic's PostgreSQL schema the connection's tables live in (`clinics`), or None."""
    translate = conn.get_execution_options().get("schema_translate_map")
    return translate.get(None) if translate else None


_UPSERTS: dict[tuple[Any, ...], sa.TextClause] = {}


def _upsert_statement(
    dialect: Dialect,
    schema: str | None,
    table: sa.Table,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
) -> sa.TextClause:
    """The upsert as SQL text with typed parameters, built once per dialect, schema and columns.

    SQLAlchemy 2.0 never caches the compiled form of its dialects' `insert().on_conflict_*`
    (their `inherit_cache = False`): each execution compiled it anew, most of the CPU of
    staging and recording outcomes. A text statement is compiled once and cached. Its table is
    named in the clinic's schema here, as `schema_translate_map` does not reach into text.
    Parameter names are `p_<column>`; each is typed as its column (JSON, times, booleans).
    """
    key = (dialect.name, schema, table, keys, columns)
    statement = _UPSERTS.get(key)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        name = f"{quote(schema)}.{quote(table.name)}" if schema else quote(table.name)
        every = (*keys, *columns)
        sql = (
            f"INSERT INTO {name} ({', '.join(quote(c) for c in every)}) "
            f"VALUES ({', '.join(f':p_{c}' for c in every)}) "
            f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO "
        )
        sql += (
            "UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns)
            if columns
            else "NOTHING"
        )
        binds = [sa.bindparam(f"p_{c}", type_=table.c[c].type) for c in every]
        statement = _UPSERTS[key] = sa.text(sql).bindparams(*binds)
    return statement
