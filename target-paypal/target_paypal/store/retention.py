"""Retention: how long the store keeps dead letters' records, the audit log and run history.

- A dead letter keeps its record while it is open, for `dead_letter_retention_days` (90 by
  default) at most; then the record is dropped and the letter says "re-read from Cliniko to
  replay". A closed letter keeps none.
- The audit log, each record's outcome and the runs are kept `audit_retention_days` (2557 by
  default, 7 years: they are financial records); they hold IDs and amounts only.

The target applies it at the end of each run; `paypal-ops purge` shows (`--dry-run`) or applies
it on demand. Both read the same two settings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from target_paypal.store.dead_letters import closed_with_record, drop_expired_records, expired_open
from target_paypal.store.engine import StoreBase
from target_paypal.store.runs import (
    audit_before,
    delete_audit_before,
    outcomes_of_runs_before,
    runs_before,
)
from target_paypal.store.schema import audit, dead_letters, outcomes, runs
from target_paypal.store.sql import as_utc, utc_now

DEAD_LETTER_RETENTION_DAYS = 90
AUDIT_RETENTION_DAYS = 2557  # 7 years


@dataclass(frozen=True)
class RetentionDays:
    """How many days each kind of data is kept."""

    dead_letters: int = DEAD_LETTER_RETENTION_DAYS
    audit: int = AUDIT_RETENTION_DAYS

    def cutoffs(self) -> tuple[dt.datetime, dt.datetime]:
        """(dead letters parked before it lose their record, audit written before it goes)."""
        now = utc_now()
        return now - dt.timedelta(days=self.dead_letters), now - dt.timedelta(days=self.audit)


@dataclass(frozen=True)
class Removal:
    """What retention removes from one table: how many rows, the oldest one's date."""

    table: str
    what: str
    count: int
    oldest: dt.datetime | None


class Retention(StoreBase):
    """The store's part that applies retention, or says what it would remove."""

    def retention_preview(self, days: RetentionDays) -> list[Removal]:
        """What `apply_retention(days)` would remove now, table by table (counts and dates)."""
        letters_cutoff, audit_cutoff = days.cutoffs()
        asked: list[tuple[str, str, Any, Any]] = [
            (
                "dead_letters",
                f"records of open letters parked over {days.dead_letters} days ago",
                dead_letters.c.created_at,
                expired_open(letters_cutoff),
            ),
            (
                "dead_letters",
                "records of closed letters",
                dead_letters.c.resolved_at,
                closed_with_record(),
            ),
            (
                "audit_log",
                f"entries over {days.audit} days old",
                audit.c.at,
                audit_before(audit_cutoff),
            ),
            (
                "outcomes",
                f"record outcomes of runs over {days.audit} days old",
                None,
                outcomes_of_runs_before(audit_cutoff),
            ),
            (
                "runs",
                f"runs over {days.audit} days old",
                runs.c.started_at,
                runs_before(audit_cutoff),
            ),
        ]
        tables = {
            "dead_letters": dead_letters,
            "audit_log": audit,
            "outcomes": outcomes,
            "runs": runs,
        }
        found = []
        with self.begin() as conn:
            for table, what, dated, where in asked:
                oldest = sa.func.min(dated) if dated is not None else sa.null()
                count, first = conn.execute(
                    sa.select(sa.func.count(), oldest).select_from(tables[table]).where(where)
                ).one()
                found.append(Removal(table, what, int(count), _when(first)))
        # An outcome has no date of its own: its run's start is its date.
        oldest_run = next(r.oldest for r in found if r.table == "runs")
        return [
            Removal(r.table, r.what, r.count, oldest_run if r.count else None)
            if r.table == "outcomes"
            else r
            for r in found
        ]

    def apply_retention(self, days: RetentionDays) -> dict[str, int]:
        """Remove what is kept past its time, in one transaction; counts by what was removed."""
        letters_cutoff, audit_cutoff = days.cutoffs()
        with self.begin() as conn:
            expired, closed = drop_expired_records(conn, letters_cutoff)
            removed = delete_audit_before(conn, audit_cutoff)
        return {
            "dead_letter_records_expired": expired,
            "dead_letter_records_closed": closed,
            **removed,
        }

    def dropped_letter_count(self) -> int:
        """Open letters whose record retention dropped: replaying them needs Cliniko's record."""
        query = sa.select(sa.func.count()).where(
            dead_letters.c.resolved_at.is_(None), dead_letters.c.record_dropped_at.is_not(None)
        )
        with self.begin() as conn:
            return int(conn.execute(query.select_from(dead_letters)).scalar_one())


def _when(value: Any) -> dt.datetime | None:
    return as_utc(value) if isinstance(value, dt.datetime) else None
