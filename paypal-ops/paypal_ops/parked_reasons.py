"""Why a record is parked, in one table: what needs a person, and what the rules hold back.

target-paypal keeps each parked record as an open dead letter with a one-line reason (IDs and
field names only). The reasons come from three places, and each is listed here:

- the mapper's rejects, kept as `parked by the mapper: <reason>` under `rejects:<Cliniko stream>`
  (map_cliniko_paypal/mapping.py: a filter, a status the rules park, no usable email, a field
  that cannot be mapped);
- the target, under `invoices`: PayPal refused a call (`<operation>: HTTP <status> <name> …`,
  client.PayPalError), its business's own PayPal account cannot be used or another account
  holds it (`PayPal account <key>: …`, accounts.py), the invoice number is taken (settle.py),
  an invoice held by its patient (`patient <id>: <the patient's letter>`, `patient <id> shares
  its email …`), or still incomplete when the input ended (apply.py);
- the target's input checks, under the stream they broke (`customers`, `invoice_lines`, …, or
  `input` for a line that is no message): the contract (sinks.py), the reader (reader.py).

`HELD_BY_RULES` is what the clinic's rules hold back on purpose (no email, a shared email, open
credit, a status or filter that parks); everything else needs a person, and so does a reason
this table does not know: nothing new hides among the held-back records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

NEEDS_PERSON = "person"
HELD_BY_RULES = "rules"
MAPPER = "parked by the mapper: "
PAYPAL_OPERATIONS = (
    "token|create|get|update|delete|send|cancel|record_payment|record_refund|search"
)


@dataclass(frozen=True)
class Reason:
    """One kind of parked record: how it reads on the page and what to do about it."""

    key: str
    kind: str  # NEEDS_PERSON or HELD_BY_RULES
    title: str
    todo: str  # one line for the clinic's finance staff
    pattern: str  # matched at the start of the stored reason; groups `patient`, `detail`
    streams: str = ".*"  # the dead letter's stream, a regular expression

    def match(self, stream: str, reason: str) -> re.Match[str] | None:
        """The reason's facts when this is its kind, else None."""
        if not re.fullmatch(self.streams, stream):
            return None
        return re.match(self.pattern, reason, re.S)


INTEGRATOR = "For whoever runs the sync: "
REJECTS = r"rejects:.*"
# First match wins: the specific before the general.
REASONS: tuple[Reason, ...] = (
    # --- held back by the clinic's rules, on purpose ---------------------------------------
    Reason(
        "no-email-patient",
        HELD_BY_RULES,
        "Patients without a usable email",
        "Add the patient's email (or invoice email) in Cliniko; the next run sends their invoices.",
        MAPPER + "no usable email",
        streams=REJECTS,
    ),
    Reason(
        "no-email-invoice",
        HELD_BY_RULES,
        "Invoices waiting for their patient's email",
        "Add the patient's email in Cliniko; the next run sends it.",
        r"patient (?P<patient>\S+): " + MAPPER + "no usable email",
        streams="invoices",
    ),
    Reason(
        "shared-email",
        HELD_BY_RULES,
        "Invoices of patients who share an email",
        "Give each patient their own email (or invoice email) in Cliniko; the next run sends "
        "them. If the family shares one on purpose, ask whoever runs the sync to allow it.",
        r"patient (?P<patient>\S+) shares its email with patient\(s\) (?P<detail>[^:]*)",
        streams="invoices",
    ),
    Reason(
        "open-credit",
        HELD_BY_RULES,
        "Invoices in open credit",
        "Refund the credit or apply it by hand in PayPal; the sync leaves these alone.",
        MAPPER + r"(?P<detail>status \d+: open credit.*)",
        streams=REJECTS,
    ),
    Reason(
        "status-rule",
        HELD_BY_RULES,
        "Invoices the status rules hold back",
        "Nothing to do unless the rule is wrong; the detail says what the rule asks.",
        MAPPER + r"(?P<detail>(?:status \d+|archived|deleted): .*)",
        streams=REJECTS,
    ),
    Reason(
        "filter",
        HELD_BY_RULES,
        "Left out by the clinic's filters",
        "Nothing to do unless the filter is wrong (then ask whoever runs the sync to change it).",
        MAPPER + r"left out by (?P<detail>filter .*)",
        streams=REJECTS,
    ),
    Reason(
        "filter-patient",
        HELD_BY_RULES,
        "Invoices of patients left out by a filter",
        "Nothing to do unless the filter is wrong (then ask whoever runs the sync to change it).",
        r"patient (?P<patient>\S+): " + MAPPER + r"left out by (?P<detail>filter .*)",
        streams="invoices",
    ),
    # --- needs a person ---------------------------------------------------------------------
    Reason(
        "reversed-paid",
        NEEDS_PERSON,
        "Invoices paid, then reversed in Cliniko",
        "Record the refund in PayPal by hand, then resolve the letter (or ask whoever runs the "
        "sync to set invoices.reversals.paid: refund, and the sync records them).",
        r"invoice (?P<detail>\S+) was paid, then reversed",
        streams="invoices",
    ),
    Reason(
        "reversed-in-part",
        NEEDS_PERSON,
        "Unpaid invoices reversed in part in Cliniko",
        "PayPal cannot show a part reversal: change the invoice in Cliniko (or in PayPal by "
        "hand), then resolve the letter.",
        r"invoice (?P<detail>\S+) is reversed in part",
        streams="invoices",
    ),
    Reason(
        "reversal-withdrawn",
        NEEDS_PERSON,
        "Reversals withdrawn after their refund was recorded",
        "If the refund was not made, delete it in PayPal by hand; then resolve the letter.",
        r"reversal (?P<detail>\S+ of invoice \S+) was withdrawn",
        streams="invoices",
    ),
    Reason(
        "paypal-refused",
        NEEDS_PERSON,
        "PayPal refused it or did not answer",
        "Usually clears on the next run. If it stays, send PayPal's support the debug id.",
        rf"(?P<detail>(?:{PAYPAL_OPERATIONS}): .*?)(?: debug_id=\S+)?$",
        streams="invoices",
    ),
    Reason(
        "paypal-account",
        NEEDS_PERSON,
        "Invoices whose PayPal account cannot be used, or that are in another account",
        INTEGRATOR + "do what the detail says where the pipeline runs: set the account's "
        "variables, check its client id and secret, or cancel the invoice in the old account "
        "(or put the rules back). It is tried again on every run.",
        r"PayPal account (?P<detail>\S+: .*)",
        streams="invoices",
    ),
    Reason(
        "number-taken",
        NEEDS_PERSON,
        "Invoice number already used in PayPal",
        "Cancel or renumber the other PayPal invoice (the detail names it); then whoever runs "
        "the sync replays it (paypal-ops dead-letters replay).",
        r"invoice number (?P<detail>.*?)(?:, not by Cliniko invoice .*)?$",
        streams="invoices",
    ),
    Reason(
        "incomplete",
        NEEDS_PERSON,
        "Incomplete invoices (lines or patient missing)",
        "Look for its lines or patient in the other groups and fix them in Cliniko; it is "
        "tried again on every run.",
        r"incomplete at the end of the input: "
        r"(?P<detail>(?:patient (?P<patient>\S+) not received)?.*)",
        streams="invoices",
    ),
    Reason(
        "tax-rate",
        NEEDS_PERSON,
        "Invoice lines with a tax rate the clinic does not use",
        "Correct the line's tax in Cliniko; if the rate is right, ask whoever runs the sync to "
        "add it to the rules.",
        MAPPER + r"(?P<detail>tax_rate .*)",
        streams=REJECTS,
    ),
    Reason(
        "negative-line",
        NEEDS_PERSON,
        "Invoice lines with a negative amount",
        "PayPal lines cannot be negative: use a discount or a credit in Cliniko, or invoice it "
        "by hand in PayPal.",
        MAPPER + r"(?P<detail>\w+ is negative)",
        streams=REJECTS,
    ),
    Reason(
        "cliniko-field",
        NEEDS_PERSON,
        "Cliniko records with a field missing or unreadable",
        "Fill in or correct the field named in Cliniko; the next run reads it again.",
        MAPPER
        + r"(?P<detail>[\w/]+ is (?:missing|not a decimal number|not a timestamp"
        + r"|not a number|neither 2 \(tax exclusive\) nor 3 \(tax inclusive\)"
        + r"|zero: a reversal of nothing)"
        + r"|patient_extra_information (?:is longer|makes the \w+ longer) than .*)$",
        streams=REJECTS,
    ),
    Reason(
        "rules-incomplete",
        NEEDS_PERSON,
        "Records the mapping rules cannot handle",
        INTEGRATOR + "correct the mapping rules, then re-read Cliniko with a full refresh.",
        MAPPER
        + r"(?P<detail>status \d+ has no entry in the status table|filter .* could not be "
        + r"evaluated.*|invoice_number \(prefix \+ number\) is longer than .*"
        + r"|invoices\.line_description is longer than .*)",
        streams=REJECTS,
    ),
    Reason(
        "no-invoicer",
        NEEDS_PERSON,
        "Invoices of a business with no PayPal invoicer",
        INTEGRATOR + "add the business (the detail names it) under the mapping's "
        "invoicers.by_business, then re-read Cliniko with a full refresh.",
        MAPPER + r"business (?P<detail>\S+) has no invoicer",
        streams=REJECTS,
    ),
    Reason(
        "patient-problem",
        NEEDS_PERSON,
        "Invoices held back by a problem with their patient's record",
        "Correct the patient in Cliniko (see the patients' group for why); it is tried again "
        "when the patient or the mapping rules change.",
        r"patient (?P<patient>\S+): (?P<detail>.*)",
        streams="invoices",
    ),
    Reason(
        "currency",
        NEEDS_PERSON,
        "Invoices not in the clinic's currency",
        "PayPal is written in one currency only: invoice it by hand in PayPal.",
        r"(?P<detail>currency_code is not \w+)",
        streams=r"invoices",
    ),
    Reason(
        "contract",
        NEEDS_PERSON,
        "Records the sync could not read (its input broke the contract)",
        INTEGRATOR + "fix the mapper or its rules, then paypal-ops dead-letters replay.",
        r"(?:" + MAPPER + r")?(?P<detail>does not match the contract: .*|unknown stream .*)",
    ),
    Reason(
        "bad-line",
        NEEDS_PERSON,
        "Input lines that are not Singer messages",
        INTEGRATOR + "fix what writes target-paypal's input (tap or mapper) and run again.",
        r"(?P<detail>not valid JSON|not a Singer message|a RECORD message whose record is not "
        r"an object|a RECORD for stream .* came before its SCHEMA|a \w+ message without [^:]*)",
    ),
)
UNKNOWN = Reason(
    "other",
    NEEDS_PERSON,
    "Other reasons",
    "A reason this page does not know yet: ask whoever runs the sync (the detail is the reason "
    "in full).",
    r"(?P<detail>.*)",
)


@dataclass(frozen=True)
class Classified:
    """A parked record's kind and the facts its reason names (IDs and field names only)."""

    reason: Reason
    patient: str
    detail: str


def classify(stream: str, reason: str | None) -> Classified:
    """The kind of a dead letter from its stream and reason; UNKNOWN (a person) if none fits."""
    text = reason or ""
    for candidate in REASONS:
        found = candidate.match(stream, text)
        if found is not None:
            break
    else:
        candidate, found = UNKNOWN, UNKNOWN.match(stream, text)
    facts = found.groupdict() if found else {}
    return Classified(candidate, facts.get("patient") or "", (facts.get("detail") or "").strip())


def split(letters: list[dict[str, Any]]) -> dict[str, int]:
    """How many open dead letters need a person, and how many the rules hold back."""
    kinds = [classify(str(d["stream"]), d["reason"]).reason.kind for d in letters]
    return {kind: kinds.count(kind) for kind in (NEEDS_PERSON, HELD_BY_RULES)}
