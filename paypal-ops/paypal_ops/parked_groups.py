"""What is parked, grouped by kind of reason, for the sync-health page.

Each group has its count, its first IDs, and every ID in a CSV carried inside the page itself (a
`data:` link), so the page stays one file.

IDs and the facts the page shows only (the record's kind, the patient's id, the reason's detail,
since when, attempts, PayPal's debug id): never the record kept with the letter, which holds the
patient's name and email.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from paypal_ops.parked_reasons import HELD_BY_RULES, NEEDS_PERSON, Reason, classify

SHOWN_IDS = 20  # rows listed per group on the page; the CSV holds them all
# Where a dead letter's stream says the record came from, in the words finance staff use.
STREAM_LABELS = {
    "invoices": "invoice",
    "customers": "patient",
    "invoice_lines": "invoice line",
    "input": "input line",
    "rejects:invoices": "invoice",
    "rejects:patients": "patient",
    "rejects:invoice_items": "invoice line",
    "rejects:practitioners": "practitioner",
    "rejects:users": "user",
}
CSV_COLUMNS = ("id", "record", "patient_id", "detail", "parked_since", "attempts", "debug_id")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell


@dataclass
class ParkedGroup:
    """Open dead letters of one kind of reason."""

    reason: Reason
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many records are parked for this reason."""
        return len(self.rows)

    @property
    def shown(self) -> list[dict[str, Any]]:
        """The rows the page lists: the first SHOWN_IDS, oldest first."""
        return self.rows[:SHOWN_IDS]

    @property
    def has_patient(self) -> bool:
        """Whether any row names a patient (the page then shows that column)."""
        return any(r["patient_id"] for r in self.rows)

    @property
    def has_detail(self) -> bool:
        """Whether any row has a detail beyond the group's reason (the page then shows it)."""
        return any(r["detail"] for r in self.rows)

    @property
    def csv_name(self) -> str:
        """The file name the browser saves the CSV as."""
        return f"parked-{self.reason.key}.csv"

    def csv_uri(self) -> str:
        """Every row as a CSV, as a `data:` URI the page links to (`download` attribute)."""
        return "data:text/csv;charset=utf-8," + quote(group_csv(self.rows), safe=",:;()")


def group_csv(rows: list[dict[str, Any]]) -> str:
    """A group's rows as CSV text (`safe_csv`)."""
    return safe_csv(rows, CSV_COLUMNS)


def safe_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """The rows as CSV text, a header first; no cell starts like a spreadsheet formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_cell(row[c]) for c in columns)
    return out.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def parked_groups(letters: list[dict[str, Any]], when: Callable[[Any], str]) -> list[ParkedGroup]:
    """Open dead letters by kind of reason: needs a person first, then largest first.

    `when` turns a stored time into the page's local time.
    """
    groups: dict[str, ParkedGroup] = {}
    for letter in letters:
        stream = str(letter["stream"])
        found = classify(stream, letter["reason"])
        group = groups.setdefault(found.reason.key, ParkedGroup(found.reason))
        group.rows.append(
            {
                "id": letter["record_id"] or "(no id)",
                "record": STREAM_LABELS.get(stream, stream),
                "patient_id": found.patient,
                "detail": found.detail,
                "parked_since": when(letter["created_at"]),
                "attempts": letter["attempts"],
                "debug_id": letter["debug_id"] or "",
            }
        )
    order = {NEEDS_PERSON: 0, HELD_BY_RULES: 1}
    return sorted(groups.values(), key=lambda g: (order[g.reason.kind], -g.count, g.reason.key))


def count(groups: list[ParkedGroup], kind: str) -> int:
    """How many records are parked in the groups of one kind (NEEDS_PERSON or HELD_BY_RULES)."""
    return sum(g.count for g in groups if g.reason.kind == kind)
