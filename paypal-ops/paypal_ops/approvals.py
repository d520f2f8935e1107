"""`paypal-ops approvals list|approve|reject`: the invoices a mapping rule holds for a person.

A rule of the mapping (`approvals.invoices`) holds an invoice as a PayPal draft until a person
approves it. `list` shows the queue (IDs, numbers, totals, rules, how long each has waited);
`approve` and `reject` record a person's decision (who, in the audit log) and the next run sends
the invoice, or deletes its draft; `--apply-now` does that at once, as the next run would.

Deciding takes the clinic's run lock (a run applying the same invoice meanwhile would write
over the decision), so it stops with one line, nothing changed, while a sync of the clinic runs
(approval_decisions.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from paypal_ops.approval_decisions import approvals_approve, approvals_reject, utc
from paypal_ops.approval_queue import STATES, money, row, rows_csv, waited
from paypal_ops.options import StoreAddress, open_store
from target_paypal.alerts import wait_words
from target_paypal.private_files import write_private
from target_paypal.store import Approval
from target_paypal.store.sql import utc_now


@click.group("approvals")
def approvals_group() -> None:
    """Invoices a rule holds as PayPal drafts until a person decides: list, approve, reject."""


# --- list ---------------------------------------------------------------------------------------


@approvals_group.command("list")
@click.option(
    "--state",
    type=click.Choice([*STATES, "all"]),
    default="waiting",
    show_default=True,
    help="Which invoices: waiting for a person, approved, rejected, or all of them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write the list as CSV to this file (owner only, 0600); `-` prints it.",
)
@click.pass_obj
def approvals_list(
    store_url: StoreAddress, state: str, as_json: bool, csv_path: Path | None
) -> None:
    """The queue, longest waiting first: IDs, number, total, rule, since when, for how long."""
    if as_json and csv_path is not None:
        raise click.UsageError("--json or --csv, not both")
    queue = open_store(store_url).approval_queue(STATES if state == "all" else (state,))
    now = utc_now()
    rows = [row(a, now) for a in queue]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif csv_path is not None and str(csv_path) == "-":
        click.echo(rows_csv(rows), nl=False)
    elif csv_path is not None:
        write_private(csv_path, rows_csv(rows))
        click.echo(f"{len(rows)} invoice(s) {_described(state)} written to {csv_path}")
    else:
        for line in list_lines(queue, state, now):
            click.echo(line)


def _described(state: str) -> str:
    return {
        "waiting": "waiting for approval",
        "approved": "approved",
        "rejected": "rejected",
        "all": "in the approval queue",
    }[state]


def list_lines(queue: list[Approval], state: str, now: dt.datetime) -> list[str]:
    """`approvals list` as text: a table, then one line of totals (or one line: none)."""
    if not queue:
        return [f"No invoice {'is ' if state == 'waiting' else ''}{_described(state)}."]
    columns = {
        "Invoice ID": [a.invoice_id for a in queue],
        "PayPal ID": [a.paypal_id or "-" for a in queue],
        "Number": [a.invoice_number or "-" for a in queue],
        "Total": [money(a) for a in queue],
        "Rule": [a.rule for a in queue],
        f"{'Waiting' if state == 'waiting' else 'Held'} since (UTC)": [
            utc(a.held_since) for a in queue
        ],
        "Waited": [wait_words(waited(a, now)) for a in queue],
    }
    widths = {name: max(len(name), *map(len, values)) for name, values in columns.items()}
    right = {"Total"}

    def cells(values: dict[str, str]) -> str:
        return "  ".join(
            v.rjust(widths[k]) if k in right else v.ljust(widths[k]) for k, v in values.items()
        )

    lines = [cells({k: k for k in columns}).rstrip() + "  Note"]
    for n, approval in enumerate(queue):
        line = cells({k: v[n] for k, v in columns.items()})
        lines.append(f"{line}  {_note(approval, now)}".rstrip())
    waiting = [a for a in queue if a.state == "waiting"]
    decided = {s: sum(a.state == s for a in queue) for s in STATES[1:]}
    if not waiting:
        return [*lines, f"{len(queue)} invoice(s) {_described(state)}"]
    overdue = sum(a.overdue(now) for a in waiting)
    lines.append(
        f"{len(waiting)} waiting for approval, the longest for "
        f"{wait_words(waiting[0].waited(now))}"
        + (f"; {overdue} past their rule's alert_after_days" if overdue else "")
        + "".join(f"; {n} {s}" for s, n in decided.items() if n)
    )
    lines.append(
        "Decide: paypal-ops approvals approve --id ID | --rule NAME | --all, "
        "or paypal-ops approvals reject --id ID --why TEXT"
    )
    return lines


def _note(approval: Approval, now: dt.datetime) -> str:
    """The last column: overdue, or who decided and when (and why, for a rejection)."""
    if approval.state == "waiting":
        if approval.overdue(now):
            return f"OVERDUE (alert after {approval.alert_after_days} d)"
        return ""
    when = f"{utc(approval.decided_at)} UTC" if approval.decided_at else "?"
    note = f"{approval.state} by {approval.decided_by or '?'} on {when}"
    return note + (f": {approval.why}" if approval.state == "rejected" and approval.why else "")


for decision in (approvals_approve, approvals_reject):
    approvals_group.add_command(decision)
