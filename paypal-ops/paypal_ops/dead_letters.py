"""Dead letters for the people running the sync: list, replay and discard (IDs only).

Replay re-stages what can be re-staged and leaves the writing to the next run (which applies
staged invoices even when Cliniko sends nothing new): an invoice that PayPal refused is queued
again; a record kept because it broke the contract is checked again and staged if it passes now.
A record the mapper parked needs Cliniko's record again: fix it in Cliniko (it comes with the
next run) or, after changing the rules, re-read everything with `meltano run --full-refresh`;
so does a letter whose kept record was dropped after `dead_letter_retention_days`.
Discarding closes a letter with the reason, recorded in the audit log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import click

from paypal_ops.options import StoreAddress, open_store
from target_paypal.sinks import input_problem
from target_paypal.store import Store
from target_paypal.store.dead_letters import REREAD_FROM_CLINIKO

STAGERS = {
    "customers": "stage_customers",
    "invoices": "stage_invoices",
    "invoice_lines": "stage_lines",
    "practitioners": "stage_practitioners",
    "owners": "stage_owners",
}


@dataclass
class Selection:
    """Which open dead letters a command picks: each option given must match (--all: no filter)."""

    every: bool = False
    record_ids: tuple[str, ...] = ()
    reason: str | None = None
    stream: str | None = None

    def empty(self) -> bool:
        """True when no option was given: replay and discard then refuse to act."""
        return not (self.every or self.record_ids or self.reason or self.stream)

    def picks(self, letter: dict[str, Any]) -> bool:
        """Whether a letter matches every filter given (the reason as text, ignoring case)."""
        if self.stream and letter["stream"] != self.stream:
            return False
        if self.record_ids and str(letter["record_id"]) not in self.record_ids:
            return False
        return not (self.reason and self.reason.lower() not in letter["reason"].lower())


@dataclass
class Replayed:
    """What a replay did with each letter, by result (IDs only)."""

    queued: list[str] = field(default_factory=list)  # invoices to be retried by the next run
    restaged: list[str] = field(default_factory=list)
    still_failing: list[str] = field(default_factory=list)
    need_cliniko: list[str] = field(default_factory=list)
    # kept past dead_letter_retention_days: their records were dropped
    dropped: list[str] = field(default_factory=list)


def chosen(store: Store, selection: Selection) -> list[dict[str, Any]]:
    """The open dead letters the selection picks."""
    return [d for d in store.open_dead_letters() if selection.picks(d)]


def replay(store: Store, selection: Selection, currency: str = "AUD") -> Replayed:
    """Queue parked invoices for the next run; stage kept records that pass the contract now.

    A record that still fails is parked again; one the mapper parked, or one whose record was
    dropped after `dead_letter_retention_days`, needs Cliniko's record again and is only listed.
    """
    done = Replayed()
    for letter in chosen(store, selection):
        stream, record_id, record = letter["stream"], str(letter["record_id"]), letter["record"]
        if letter.get("record_dropped_at") is not None:
            done.dropped.append(f"{stream} {record_id}")
        elif stream.startswith("rejects:"):
            done.need_cliniko.append(f"{stream[8:]} {record_id}")
        elif stream == "invoices" and record is None:
            store.mark_dirty([record_id])
            done.queued.append(record_id)
        elif stream in STAGERS and record is not None:
            reason = input_problem(stream, record, currency)
            if reason:
                store.park(stream, record_id, reason, record=record)
                done.still_failing.append(f"{stream} {record_id}")
                continue
            getattr(store, STAGERS[stream])([record])
            store.resolve(stream, record_id, "replayed: staged again")
            done.restaged.append(f"{stream} {record_id}")
        else:
            done.still_failing.append(f"{stream} {record_id}")
    return done


def discard(store: Store, selection: Selection, why: str) -> list[dict[str, Any]]:
    """Close the chosen letters with `why` (kept in the audit log); returns them."""
    letters = chosen(store, selection)
    for letter in letters:
        store.discard(letter["id"], why)
    return letters


# --- commands -----------------------------------------------------------------------------------


@click.group("dead-letters")
def dead_letters_group() -> None:
    """Records kept because they could not be applied: list, replay, discard (IDs only)."""


def _selection(
    every: bool, record_ids: tuple[str, ...], reason: str | None, stream: str | None
) -> Selection:
    return Selection(every, record_ids, reason, stream)


def _selecting(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--all", "every", is_flag=True, help="Every open dead letter."),
            click.option("--id", "record_ids", multiple=True, help="A record's id (repeatable)."),
            click.option("--reason", help="Letters whose reason contains this text."),
            click.option("--stream", help="Only this stream (e.g. invoices, rejects:patients)."),
        ]
    ):
        command = option(command)
    return command


@dead_letters_group.command("list")
@_selecting
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def dead_letters_list(
    store_url: StoreAddress,
    every: bool,
    record_ids: tuple[str, ...],
    reason: str | None,
    stream: str | None,
    as_json: bool,
) -> None:
    """Open dead letters (all unless filtered): stream, id, attempts, reason."""
    selection = _selection(True, record_ids, reason, stream)
    letters = chosen(open_store(store_url), selection)
    fields = ("id", "stream", "record_id", "attempts", "created_at", "reason", "debug_id")
    rows = [
        {**{k: letter[k] for k in fields}, "record_dropped_at": letter.get("record_dropped_at")}
        for letter in letters
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        dropped = " [record dropped: re-read from Cliniko to replay]" * bool(
            row["record_dropped_at"]
        )
        click.echo(
            f"{row['id']:>6}  {row['stream']:<18} {row['record_id']:<20} "
            f"x{row['attempts']:<3} {row['reason']}{dropped}"
        )
    click.echo(f"{len(rows)} open dead letter(s)")


@dead_letters_group.command("replay")
@_selecting
@click.option(
    "--currency",
    envvar=["PAYPAL_OPS_CURRENCY", "TARGET_PAYPAL_CURRENCY"],
    default="AUD",
    show_default=True,
    help="target-paypal's currency setting (records in another currency stay parked).",
)
@click.pass_obj
def dead_letters_replay(
    store_url: StoreAddress,
    every: bool,
    record_ids: tuple[str, ...],
    reason: str | None,
    stream: str | None,
    currency: str,
) -> None:
    """Queue letters again for the next run (which applies them even with no new input)."""
    selection = _selection(every, record_ids, reason, stream)
    if selection.empty():
        raise click.UsageError("say which: --all, --id, --reason or --stream")
    done = replay(open_store(store_url), selection, currency)
    click.echo(f"Queued for the next run: {len(done.queued)} invoice(s)")
    click.echo(f"Staged again (they pass the contract now): {len(done.restaged)}")
    if done.still_failing:
        click.echo(f"Still failing, kept: {', '.join(done.still_failing[:20])}")
    if done.dropped:
        click.echo(
            f"Kept record dropped ({len(done.dropped)}: {', '.join(done.dropped[:20])}): "
            f"{REREAD_FROM_CLINIKO}"
        )
    if done.need_cliniko:
        click.echo(
            f"Need Cliniko's record again ({len(done.need_cliniko)}): fix them in Cliniko, or "
            "after changing the rules run `meltano run --full-refresh cliniko-to-paypal`"
        )


@dead_letters_group.command("discard")
@_selecting
@click.option("--why", required=True, help="Why they are closed (kept in the audit log).")
@click.pass_obj
def dead_letters_discard(
    store_url: StoreAddress,
    every: bool,
    record_ids: tuple[str, ...],
    reason: str | None,
    stream: str | None,
    why: str,
) -> None:
    """Close letters by hand with a reason; they are not retried again."""
    selection = _selection(every, record_ids, reason, stream)
    if selection.empty():
        raise click.UsageError("say which: --all, --id, --reason or --stream")
    letters = discard(open_store(store_url), selection, why)
    click.echo(f"Discarded {len(letters)} dead letter(s); the reason is in the audit log")
