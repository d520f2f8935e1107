"""`paypal-ops report`: the sync-health page, one static HTML file for the clinic's finance staff.

Read from target-paypal's store (the last runs and their counts, what is parked and why, conflicts)
and from the latest reconciliation's `reconcile.json` when there is one, with the approval queue
(invoices a rule holds as drafts until a person decides: approval_queue.py). What is parked is split
into what needs a person and what the clinic's rules hold back on purpose (parked_reasons.py),
grouped by reason with its first IDs and a CSV of all of them (parked_groups.py). IDs only: the
page never shows a patient's name, email or a staged record, only Cliniko and PayPal IDs, reasons
and counts. The page is self-contained (inline CSS, the chart as inline SVG drawn here by pygal,
each CSV a `data:` link): it opens from a file share or an email attachment with no network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import pygal
from jinja2 import Environment, PackageLoader, StrictUndefined
from pygal.style import Style

from paypal_ops.approval_queue import queue_section
from paypal_ops.options import StoreAddress, open_store
from paypal_ops.parked_groups import SHOWN_IDS, count, parked_groups
from paypal_ops.parked_reasons import HELD_BY_RULES, NEEDS_PERSON
from paypal_ops.reconcile import KIND_TITLES
from target_paypal.private_files import write_private
from target_paypal.store import Store, Xref
from target_paypal.summary import INVOICE_OUTCOMES

DEFAULT_RECONCILE_DIR = "output/reconcile"
# The trend the chart draws, per run, in this order (Okabe-Ito colours: safe for colour blindness).
CHART_SERIES = ("created", "updated", "unchanged", "parked")
CHART_COLOURS = ("#0072B2", "#E69F00", "#999999", "#D55E00")


@dataclass(frozen=True)
class RunRow:
    """One run as the page shows it."""

    id: int
    started: str
    seconds: float | None
    state: str  # "ok", "failed" or "incomplete"
    status: str
    read: int | None
    invoices: dict[str, int] | None


@dataclass(frozen=True)
class ReconciliationView:
    """The latest reconcile.json as the page shows it: absent, unreadable or present."""

    state: str  # "absent", "unreadable" or "present"
    path: str
    data: dict[str, Any] = field(default_factory=dict)
    problem: str = ""


def run_rows(runs: list[dict[str, Any]], zone: ZoneInfo) -> list[RunRow]:
    """The runs oldest first; a run that never finished (a crash) shows as incomplete."""
    rows = []
    for run in sorted(runs, key=lambda r: r["id"]):
        counts = run.get("counts") or {}
        finished = run.get("finished_at") is not None
        if not finished:
            state = "incomplete"
        elif run["status"] == "succeeded":
            state = "ok"
        else:
            state = "failed"
        seconds = counts.get("seconds")
        if seconds is None and finished:
            seconds = (_utc(run["finished_at"]) - _utc(run["started_at"])).total_seconds()
        invoices = counts.get("invoices")
        rows.append(
            RunRow(
                id=run["id"],
                started=local_time(run["started_at"], zone),
                seconds=None if seconds is None else round(float(seconds), 1),
                state=state,
                status=run["status"],
                read=sum(counts["read"].values()) if "read" in counts else None,
                invoices={k: int(invoices.get(k, 0)) for k in INVOICE_OUTCOMES}
                if invoices is not None
                else None,
            )
        )
    return rows


def conflicts(xrefs: list[Xref]) -> list[Xref]:
    """Cross-references in conflict (closed by hand in PayPal), by Cliniko invoice id."""
    return sorted((x for x in xrefs if x.conflict), key=lambda x: x.invoice_id)


def load_reconciliation(path: Path) -> ReconciliationView:
    """Read reconcile.json; a missing or unreadable file is a state the page shows, not an error."""
    if not path.exists():
        return ReconciliationView("absent", str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return ReconciliationView("unreadable", str(path), problem=type(error).__name__)
    if not isinstance(data, dict):
        return ReconciliationView("unreadable", str(path), problem="not a JSON object")
    data.setdefault("counts", {})
    data.setdefault("items", [])
    data.setdefault("gst_by_month", [])
    data.setdefault("held", {})
    return ReconciliationView("present", str(path), data)


def chart_svg(rows: list[RunRow]) -> str:
    """Created, updated, unchanged and parked per run, oldest run on the left."""
    style = Style(
        background="transparent",
        plot_background="#ffffff",
        colors=CHART_COLOURS,
        font_family="system-ui, sans-serif",
        label_font_size=12,
        major_label_font_size=12,
        legend_font_size=13,
        stroke_width="2.5",
    )
    chart = pygal.Line(
        style=style,
        js=[],  # no script from a CDN: the page must work offline
        disable_xml_declaration=True,
        width=900,
        height=320,
        legend_at_bottom=True,
        legend_at_bottom_columns=len(CHART_SERIES),
        x_title="Run",
        y_title="Invoices",
        min_scale=2,
        max_scale=6,
        include_x_axis=True,
        no_data_text="No runs yet",
        dots_size=4,
        allow_interruptions=True,  # no line drawn across a run that did not finish
    )
    chart.x_labels = [str(r.id) for r in rows]
    for name in CHART_SERIES:
        # A run that did not finish has no counts: a gap, not a zero.
        chart.add(name, [None if r.invoices is None else r.invoices[name] for r in rows])
    return str(chart.render(is_unicode=True))


def local_time(value: dt.datetime | str | None, zone: ZoneInfo) -> str:
    """A stored time in `zone`, as the page shows it (empty when there is none)."""
    if value is None:
        return ""
    return _utc(value).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _utc(value: dt.datetime | str) -> dt.datetime:
    """The store keeps UTC; SQLite hands it back without a zone."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def build(store: Store, reconciliation: ReconciliationView, runs: int, zone: ZoneInfo) -> dict:
    """Everything the template shows, computed here (the template only lays it out)."""
    rows = run_rows(store.runs(limit=runs), zone)
    parked = parked_groups(store.open_dead_letters(), partial(local_time, zone=zone))
    conflicted = conflicts(store.xrefs())
    last = rows[-1] if rows else None
    recon_ok = reconciliation.state == "present" and bool(reconciliation.data.get("ok"))
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for item in reconciliation.data.get("items", []):
        by_kind[str(item.get("kind", ""))].append(item)
    person = needs_a_person(count(parked, NEEDS_PERSON), conflicted, reconciliation)
    return {
        "generated_at": local_time(dt.datetime.now(dt.UTC), zone),
        "time_zone": zone.key,
        "healthy": bool(last and last.state == "ok" and recon_ok) and not person["total"],
        "last": last,
        "runs": list(reversed(rows)),  # the table reads newest first
        "chart": chart_svg(rows),
        "parked": parked,
        "shown_ids": SHOWN_IDS,
        "parked_count": sum(g.count for g in parked),
        "person": person,
        "held_count": count(parked, HELD_BY_RULES),
        "conflicts": conflicted,
        "approvals": queue_section(store.approval_queue(), partial(local_time, zone=zone)),
        "reconciliation": reconciliation,
        "recon_ok": recon_ok,
        "recon_at": local_time(reconciliation.data.get("generated_at"), zone),
        "recon_items": by_kind,
        "recon_labels": KIND_TITLES,
        "outcomes": INVOICE_OUTCOMES,
    }


def needs_a_person(
    parked: int, conflicted: list[Xref], reconciliation: ReconciliationView
) -> dict[str, int]:
    """What waits for a person: parked records, conflicts, reconciliation items, and in all.

    A conflict the reconciliation also reports is counted once.
    """
    known = {x.invoice_id for x in conflicted}
    items = [
        i
        for i in reconciliation.data.get("items", [])
        if not (i.get("kind") == "conflict" and i.get("cliniko_invoice_id") in known)
    ]
    total = parked + len(conflicted) + len(items)
    return {"parked": parked, "conflicts": len(conflicted), "reconcile": len(items), "total": total}


def render(context: dict) -> str:
    """The page's HTML from the context, every value escaped."""
    env = Environment(
        loader=PackageLoader("paypal_ops", "templates"),
        autoescape=True,  # every value is escaped: reasons and IDs come from outside
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("health.html.j2").render(**context)


def zone_for(name: str | None, reconciliation: ReconciliationView) -> ZoneInfo:
    """The page's time zone: --time-zone, else the reconciliation's, else UTC."""
    wanted = name or reconciliation.data.get("time_zone") or "UTC"
    try:
        return ZoneInfo(wanted)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"unknown time zone {wanted!r}", param_hint="--time-zone"
        ) from None


@click.command("report")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the page (an .html file).",
)
@click.option(
    "--reconciliation",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The latest reconcile.json (default: reconcile.json in $PAYPAL_OPS_RECONCILE_DIR, "
    f"else {DEFAULT_RECONCILE_DIR}).",
)
@click.option("--runs", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--time-zone",
    help="Times on the page in this zone (default: the reconciliation's, else UTC).",
)
@click.pass_obj
def report_command(
    store_url: StoreAddress,
    output: Path,
    reconciliation: Path | None,
    runs: int,
    time_zone: str | None,
) -> None:
    """Write the sync-health page: last runs, parked, approvals, conflicts, reconciliation."""
    path = reconciliation or (
        Path(os.environ.get("PAYPAL_OPS_RECONCILE_DIR") or DEFAULT_RECONCILE_DIR) / "reconcile.json"
    )
    view = load_reconciliation(path)
    context = build(open_store(store_url), view, runs, zone_for(time_zone, view))
    write_private(output, render(context))  # owner only (0600), as the store it comes from
    last = context["last"]
    click.echo(
        f"Sync-health page written to {output}: "
        + (f"last run {last.id} {last.state}" if last else "no runs yet")
        + f", {context['person']['parked']:,} parked for a person, "
        + f"{context['held_count']:,} held back by the rules, "
        + f"{len(context['conflicts'])} conflicts, "
        + f"reconciliation {recon_word(view, context['recon_ok'])}, "
        + f"{context['approvals'].count:,} waiting for approval"
    )


def recon_word(view: ReconciliationView, ok: bool) -> str:
    """The reconciliation in a word, for the command's output line."""
    if view.state != "present":
        return view.state
    return "ok" if ok else "needs attention"
