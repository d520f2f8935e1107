"""`paypal-ops approvals approve|reject`: a person's decision on invoices held for approval.

Each decision is written to the audit log with who decided (`--by`, else the operating system's
user) and marks the invoice for the next run, which sends it or deletes its draft; `--apply-now`
does that at once, as the next run would (target-paypal's `apply_now`). Deciding holds the
clinic's run lock: a run applying the same invoice meanwhile would write its waiting state back
over the decision, so while a sync of the clinic runs it stops with one line, nothing changed.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from paypal_ops.approval_queue import STATES
from paypal_ops.options import StoreAddress, open_store, paypal_client, paypal_options
from target_paypal.apply_now import NO_RUN_YET, ApplyNowError, apply_now
from target_paypal.client import PayPalClient
from target_paypal.store import Approval, Store, StoreError
from target_paypal.store.ids_only import EMAIL, ids_only

NOT_IN_QUEUE = "not in the approval queue"
SENT_NEXT = "The next run sends them (meltano run), or pass --apply-now to send them at once."
DELETED_NEXT = (
    "The next run deletes the draft (meltano run), or pass --apply-now; it stays out of PayPal "
    "until the invoice changes in Cliniko."
)


def utc(when: dt.datetime) -> str:
    """A stored time in UTC, to the minute (PostgreSQL may hand it back in its own zone)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def decider(by: str | None) -> str:
    """Who decides: --by, else the operating system's user name."""
    name = (by or "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (OSError, KeyError, ImportError):
            raise click.UsageError("say who decides: --by NAME") from None
    if EMAIL.search(name):
        raise click.UsageError(
            "--by: a name or user name, not an email address (the audit log keeps no emails)"
        )
    return name


@contextmanager
def run_lock(store: Store, verb: str) -> Iterator[None]:
    """The clinic's run lock, held while deciding (and applying), or one line and exit 1."""
    try:
        store.hold_run_lock()
    except StoreError as error:
        raise click.ClickException(f"approvals {verb}: {error}") from None
    try:
        yield
    finally:
        store.release_run_lock()


def _deciding(command: Any) -> Any:
    """The options approve and reject share: --by, --apply-now and PayPal's settings."""
    command = paypal_options(command)
    command = click.option(
        "--apply-now",
        is_flag=True,
        help="Apply the decision at once, as the next run would (needs PayPal's credentials).",
    )(command)
    return click.option(
        "--by", help="Who decides, for the audit log (default: the operating system's user)."
    )(command)


def _client(apply: bool, settings: dict[str, Any]) -> PayPalClient | None:
    """PayPal's client for --apply-now, checked before anything is decided."""
    if not apply:
        return None
    return paypal_client(
        settings["paypal_base_url"],
        settings.get("paypal_client_id"),
        settings.get("paypal_client_secret"),
    )


def _in_queue(store: Store, invoice_ids: tuple[str, ...]) -> dict[str, Approval]:
    """The named invoices' rows, or one line (and nothing decided) if one is not in the queue."""
    queue = {a.invoice_id: a for a in store.approval_queue(STATES)}
    unknown = [i for i in dict.fromkeys(invoice_ids) if i not in queue]
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if unknown[10:] else "")
        raise click.ClickException(
            f"{NOT_IN_QUEUE}: {shown}; nothing was decided (paypal-ops approvals list --state all)"
        )
    return {i: queue[i] for i in dict.fromkeys(invoice_ids)}


def _already(approval: Approval) -> str:
    when = f" on {utc(approval.decided_at)} UTC" if approval.decided_at else ""
    return f"{approval.invoice_id} ({approval.state} by {approval.decided_by or '?'}{when})"


def _apply(store: Store, client: PayPalClient, invoice_ids: list[str]) -> None:
    """Apply the decided invoices now and say what became of each; exit 1 if one is parked."""
    if not invoice_ids:
        return
    try:
        results = apply_now(store, client, invoice_ids)
    except ApplyNowError as error:
        raise click.ClickException(
            f"{error} (the decision stands: the next run applies it)"
        ) from None
    click.echo("Applied now:")
    for invoice_id, outcome in results.items():
        xref = store.xref(invoice_id)
        where = ""
        if xref is not None and xref.paypal_status:
            where = f": {xref.paypal_status} in PayPal" + (
                f" ({xref.paypal_id})" if xref.paypal_id else ""
            )
        click.echo(f"  {invoice_id}: {outcome}{where}")
    parked = [i for i, outcome in results.items() if outcome == "parked"]
    if parked:
        raise click.ClickException(
            f"{len(parked)} parked, retried by the next run: paypal-ops dead-letters list "
            f"--id {parked[0]}"
        )


@click.command("approve")
@click.option("--id", "invoice_ids", multiple=True, help="A Cliniko invoice id (repeatable).")
@click.option("--rule", help="Every invoice waiting under this rule (its `name`).")
@click.option("--all", "every", is_flag=True, help="Every invoice waiting for approval.")
@_deciding
@click.pass_obj
def approvals_approve(
    store_url: StoreAddress,
    invoice_ids: tuple[str, ...],
    rule: str | None,
    every: bool,
    by: str | None,
    apply_now: bool,
    **settings: Any,
) -> None:
    """Approve invoices waiting for approval: the next run (or --apply-now) sends them.

    Exactly one of --id, --rule, --all. An --id not in the queue stops it with nothing approved;
    one already approved or rejected is listed and left as it is.
    """
    if sum((bool(invoice_ids), rule is not None, every)) != 1:
        raise click.UsageError("say which: exactly one of --id, --rule or --all")
    name = decider(by)
    store = open_store(store_url)
    client = _client(apply_now, settings)
    with run_lock(store, "approve"):
        if apply_now and store.writer_settings() is None:
            raise click.ClickException(f"{NO_RUN_YET}; nothing was approved")
        if invoice_ids:
            chosen = list(_in_queue(store, invoice_ids).values())
        else:
            waiting = store.approval_queue()
            chosen = [a for a in waiting if rule is None or a.rule == rule]
            if not chosen and rule is not None:
                rules = sorted({a.rule for a in waiting})
                raise click.ClickException(
                    f"no invoice waits for approval under rule {rule!r}"
                    + (f" (rules with invoices waiting: {', '.join(rules)})" if rules else "")
                )
        if not chosen:
            click.echo("Nothing is waiting for approval.")
            return
        approved = store.approve([a.invoice_id for a in chosen if a.state == "waiting"], name)
        others = [a for a in chosen if a.invoice_id not in approved]
        if approved:
            click.echo(f"Approved by {name}: {len(approved)} invoice(s): {', '.join(approved)}")
        if others:
            click.echo("Not waiting, left as they are: " + ", ".join(map(_already, others)))
        if client is None:
            if approved:
                click.echo(SENT_NEXT)
            return
        # An invoice approved earlier and not sent yet goes now too (apply_now skips the rest).
        again = [a.invoice_id for a in others if a.state == "approved"]
        _apply(store, client, approved + again)


@click.command("reject")
@click.option(
    "--id", "invoice_ids", multiple=True, required=True, help="A Cliniko invoice id (repeatable)."
)
@click.option("--why", required=True, help="Why (kept in the audit log; no patient details).")
@_deciding
@click.pass_obj
def approvals_reject(
    store_url: StoreAddress,
    invoice_ids: tuple[str, ...],
    why: str,
    by: str | None,
    apply_now: bool,
    **settings: Any,
) -> None:
    """Reject invoices: the next run (or --apply-now) deletes the draft.

    It stays out of PayPal until the invoice changes in Cliniko. An invoice waiting, or approved
    and not sent yet, can be rejected; an --id not in the queue, or one already sent, stops it
    with nothing rejected.
    """
    reason = ids_only(" ".join(why.split()))
    if not reason:
        raise click.UsageError("--why: say why it is rejected")
    name = decider(by)
    store = open_store(store_url)
    client = _client(apply_now, settings)
    with run_lock(store, "reject"):
        if apply_now and store.writer_settings() is None:
            raise click.ClickException(f"{NO_RUN_YET}; nothing was rejected")
        chosen = _in_queue(store, invoice_ids)
        sent = [
            a
            for a in chosen.values()
            if a.state == "approved" and a.paypal_status not in (None, "DRAFT")
        ]
        if sent:
            shown = ", ".join(f"{a.invoice_id} ({a.paypal_status})" for a in sent[:10])
            raise click.ClickException(
                f"already sent after approval: {shown}; nothing was rejected: void it in Cliniko "
                "to cancel it"
            )
        rejected = [
            i for i, a in chosen.items() if a.state != "rejected" and store.reject(i, name, reason)
        ]
        others = [a for i, a in chosen.items() if i not in rejected]
        if rejected:
            click.echo(f"Rejected by {name}: {len(rejected)} invoice(s): {', '.join(rejected)}")
            live = [i for i in rejected if chosen[i].paypal_status not in (None, "DRAFT")]
            if live:
                click.echo(
                    "Sent before a rule held them, so cancelled in PayPal rather than deleted: "
                    + ", ".join(live)
                )
        if others:
            click.echo("Already rejected, left as they are: " + ", ".join(map(_already, others)))
        if client is None:
            if rejected:
                click.echo(DELETED_NEXT)
            return
        _apply(store, client, rejected + [a.invoice_id for a in others])
