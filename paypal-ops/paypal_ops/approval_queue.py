"""The approval queue as people read it: `approvals list` rows, and the page's section.

`approvals list` gives rows as text, JSON or CSV; the sync-health page an "Approval queue"
section (counts, by rule, the overdue ones, the first waiting, a CSV of all).

IDs, numbers, totals, rule names and times only: the queue keeps no patient's details, and
nothing here reads a staged record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from paypal_ops.parked_groups import safe_csv
from target_paypal.alerts import wait_words
from target_paypal.store import Approval

STATES = ("waiting", "approved", "rejected")  # an invoice's place in the queue
SHOWN_WAITING = 20  # invoices the page lists; its CSV holds every one
COLUMNS = (
    "invoice_id",
    "paypal_id",
    "paypal_status",
    "invoice_number",
    "total",
    "currency_code",
    "rule",
    "state",
    "held_since",
    "waited",
    "waited_seconds",
    "alert_after_days",
    "overdue",
    "decided_by",
    "decided_at",
    "why",
)


def waited(approval: Approval, now: dt.datetime) -> dt.timedelta:
    """How long it waited: until now, or until a person decided."""
    end = approval.decided_at if approval.state != "waiting" and approval.decided_at else now
    return end - approval.held_since


def row(approval: Approval, now: dt.datetime) -> dict[str, Any]:
    """One invoice of the queue as `approvals list --json` and `--csv` give it (times in UTC)."""
    wait = waited(approval, now)
    return {
        "invoice_id": approval.invoice_id,
        "paypal_id": approval.paypal_id,
        "paypal_status": approval.paypal_status,
        "invoice_number": approval.invoice_number,
        "total": approval.total,
        "currency_code": approval.currency_code,
        "rule": approval.rule,
        "state": approval.state,
        "held_since": _iso(approval.held_since),
        "waited": wait_words(wait),
        "waited_seconds": int(wait.total_seconds()),
        "alert_after_days": approval.alert_after_days,
        "overdue": approval.state == "waiting" and approval.overdue(now),
        "decided_by": approval.decided_by,
        "decided_at": _iso(approval.decided_at),
        "why": approval.why,
    }


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.astimezone(dt.UTC).isoformat(timespec="seconds")


def money(approval: Approval) -> str:
    """The total with its currency ("1250.00 AUD"), or "-" when the queue has none."""
    if approval.total is None:
        return "-"
    return f"{approval.total} {approval.currency_code or ''}".strip()


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """The queue's rows as CSV text (the health page's `safe_csv`)."""
    return safe_csv(rows, tuple(COLUMNS))


# --- the sync-health page -----------------------------------------------------------------


@dataclass(frozen=True)
class RuleCount:
    """The invoices one rule holds: how many, the longest wait, how many are overdue."""

    rule: str
    count: int
    longest: str
    overdue: int


@dataclass
class QueueSection:
    """What the page shows of the queue: counts, by rule, the overdue ones, the first waiting."""

    count: int = 0
    oldest: str = ""  # the longest wait, in words
    oldest_since: str = ""
    rules: list[RuleCount] = field(default_factory=list)
    overdue: list[dict[str, Any]] = field(default_factory=list)
    shown: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    shown_max: int = SHOWN_WAITING
    csv_name: str = "waiting-for-approval.csv"

    def csv_uri(self) -> str:
        """Every waiting invoice as a CSV, as a `data:` URI the page links to."""
        return "data:text/csv;charset=utf-8," + quote(rows_csv(self.rows), safe=",:;()")


def queue_section(
    waiting: list[Approval], when: Callable[[Any], str], now: dt.datetime | None = None
) -> QueueSection:
    """The page's section from the invoices waiting for approval.

    `when` turns a stored time into the page's local time.
    """
    now = now or dt.datetime.now(dt.UTC)
    if not waiting:
        return QueueSection()
    waiting = sorted(waiting, key=lambda a: (a.held_since, a.invoice_id))
    page_rows = [_page_row(a, now, when) for a in waiting]
    by_rule: dict[str, list[Approval]] = {}
    for approval in waiting:
        by_rule.setdefault(approval.rule, []).append(approval)
    rules = [
        RuleCount(
            rule,
            len(held),
            wait_words(held[0].waited(now)),
            sum(a.overdue(now) for a in held),
        )
        for rule, held in sorted(by_rule.items(), key=lambda r: (-len(r[1]), r[0]))
    ]
    return QueueSection(
        count=len(waiting),
        oldest=wait_words(waiting[0].waited(now)),
        oldest_since=when(waiting[0].held_since),
        rules=rules,
        overdue=[r for r in page_rows if r["overdue"]],
        shown=page_rows[:SHOWN_WAITING],
        rows=[row(a, now) for a in waiting],
    )


def _page_row(approval: Approval, now: dt.datetime, when: Callable[[Any], str]) -> dict[str, Any]:
    return {
        "invoice_id": approval.invoice_id,
        "paypal_id": approval.paypal_id or "",
        "invoice_number": approval.invoice_number or "",
        "total": money(approval),
        "rule": approval.rule,
        "since": when(approval.held_since),
        "waited": wait_words(approval.waited(now)),
        "overdue": approval.overdue(now),
        "alert_after_days": approval.alert_after_days,
    }
