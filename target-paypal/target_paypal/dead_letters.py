"""Dead letters for the people running the sync: list, replay and discard (IDs only).

Replay re-stages what can be re-staged and leaves the writing to the next run (which applies
staged invoices even when Cliniko sends nothing new): an invoice that PayPal refused is queued
again; a record kept because it broke the contract is checked again and staged if it passes now.
A record the mapper parked needs Cliniko's record again: fix it in Cliniko (it comes with the
next run) or, after changing the rules, re-read everything with `meltano run --full-refresh`.
Discarding closes a letter with the reason, recorded in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from target_paypal.contract import STREAMS, problems
from target_paypal.store import Store

STAGERS = {
    "customers": "stage_customers",
    "invoices": "stage_invoices",
    "invoice_lines": "stage_lines",
    "practitioners": "stage_practitioners",
    "owners": "stage_owners",
}


@dataclass
class Selection:
    every: bool = False
    record_ids: tuple[str, ...] = ()
    reason: str | None = None
    stream: str | None = None

    def empty(self) -> bool:
        return not (self.every or self.record_ids or self.reason or self.stream)

    def picks(self, letter: dict[str, Any]) -> bool:
        if self.stream and letter["stream"] != self.stream:
            return False
        if self.record_ids and str(letter["record_id"]) not in self.record_ids:
            return False
        return not (self.reason and self.reason.lower() not in letter["reason"].lower())


@dataclass
class Replayed:
    queued: list[str] = field(default_factory=list)  # invoices to be retried by the next run
    restaged: list[str] = field(default_factory=list)
    still_failing: list[str] = field(default_factory=list)
    need_cliniko: list[str] = field(default_factory=list)


def chosen(store: Store, selection: Selection) -> list[dict[str, Any]]:
    return [d for d in store.open_dead_letters() if selection.picks(d)]


def replay(store: Store, selection: Selection, currency: str = "AUD") -> Replayed:
    done = Replayed()
    for letter in chosen(store, selection):
        stream, record_id, record = letter["stream"], str(letter["record_id"]), letter["record"]
        if stream.startswith("rejects:"):
            done.need_cliniko.append(f"{stream[8:]} {record_id}")
        elif stream == "invoices" and record is None:
            store.mark_dirty([record_id])
            done.queued.append(record_id)
        elif stream in STAGERS and record is not None:
            reason = problems(stream, record) if stream in STREAMS else "unknown stream"
            if not reason and stream == "invoices" and record["currency_code"] != currency:
                reason = f"currency_code is not {currency}, the currency this target writes"
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
    letters = chosen(store, selection)
    for letter in letters:
        store.discard(letter["id"], why)
    return letters
