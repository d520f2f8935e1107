"""Which parked invoices a run tries again by itself (issue 19): PayPal's refusals and incomplete
invoices on every run; invoices held by their patient only when the patient, its reject or the
mapping rules change, so a no-change rerun does not grow with what is parked."""

from __future__ import annotations

import pytest
from target_harness import input_messages as extra
from target_harness import reject

from target_paypal.applier import DirtyInvoiceApplier
from target_paypal.apply import INCOMPLETE, RECIPIENT_GONE
from target_paypal.client import PayPalError
from target_paypal.reversals import decide
from target_paypal.sinks import input_problem
from target_paypal.store import Store
from target_paypal.store.retry import (
    EVERY_RUN,
    WITH_PATIENT,
    WITH_RECORD,
    WITH_REVERSAL,
    cause_of,
    retried,
)

NOT_OURS = "someone.else@example.com"  # PayPal refuses invoices from another invoicer (422)


def store_of(target) -> Store:
    return Store(target.config["store_url"])


def api_calls(sandbox) -> list:
    """PayPal API calls since the log was cleared, token requests left out."""
    return [c for c in sandbox.paypal.call_log if "/oauth2/" not in c.path]


def open_invoices(data, customer_id: str) -> list[str]:
    return [
        i
        for i, h in data.invoices.items()
        if h["customer_id"] == customer_id and h["target_status"] != "VOID"
    ]


def last_run(target) -> tuple[int, dict[str, str]]:
    """The last run's id and how it ended each invoice it dealt with."""
    store = store_of(target)
    run_id = store.runs(limit=1)[0]["id"]
    return run_id, store.run_invoice_outcomes(run_id)


def letters(target) -> dict[str, str]:
    return {d["record_id"]: d["reason"] for d in store_of(target).open_dead_letters("invoices")}


def held_back_clinic(clinic):
    """A clinic with invoices held by their patient: one patient the mapper parked (no usable
    email) and two patients sharing an email."""
    data = clinic(customers=5, invoices=24)
    parked, first, second = list(data.customers)[:3]
    data.customers.pop(parked)
    data.customers[second]["email"] = data.customers[first]["email"]
    held = {
        "parked": open_invoices(data, parked),
        "shared": open_invoices(data, first) + open_invoices(data, second),
    }
    assert held["parked"] and held["shared"], "the seed gives each of them open invoices"
    stdin = extra("rejects", "record_id", [reject("patients", parked)]) + data.messages()
    return data, stdin, (parked, first, second), held


def with_rules(stdin_records: list[dict], fingerprint: str) -> list[dict]:
    return [{**r, "rules_fingerprint": fingerprint} for r in stdin_records]


# --- what a reason means for retrying: the reasons as the code writes them --------------------


def reversal_reasons() -> list[str]:
    """reversals.decide's three reasons to park: nothing a run does by itself can clear them."""
    header = {"invoice_id": "i1", "total": "100.00", "target_status": "SENT"}
    part = {"reversal_id": "r1", "amount": "40.00"}
    cases = [
        decide(header, [part], "UNPAID"),  # reversed in part while unpaid
        decide(header, [{**part, "paid": "park"}], "MARKED_AS_PAID"),  # paid, then reversed
        decide(header, [{**part, "withdrawn": True, "refund_id": "R-1"}], "MARKED_AS_REFUNDED"),
    ]
    reasons = [case.park for case in cases]
    assert all(reasons), reasons
    return [str(reason) for reason in reasons]


def test_each_reason_the_target_writes_is_retried_as_its_cause_allows() -> None:
    applier = DirtyInvoiceApplier.__new__(DirtyInvoiceApplier)
    applier.shared = {"c1": ("c1", "c2"), "c2": ("c1", "c2")}
    header = {"invoice_id": "i1", "customer_id": "c1", "target_status": "SENT"}
    parked_patient = applier._held_by_customer(
        {**header, "customer_id": "c9"}, None, ("park", "parked by the mapper: no usable email")
    )
    shared = applier._held_by_customer(header, {"customer_id": "c1"}, None)
    assert parked_patient is not None and shared is not None
    refused = PayPalError(422, "USER_NOT_FOUND", ["x"], debug_id="abc", operation="create")
    cases = {
        str(refused): EVERY_RUN,
        str(PayPalError(503, "SERVICE_UNAVAILABLE", operation="send")): EVERY_RUN,
        "invoice number CLN-1 is already used in PayPal by INV2-X (UNPAID, reference 7), not "
        "by Cliniko invoice 8: cancel or renumber one of them in PayPal, then replay": EVERY_RUN,
        f"{INCOMPLETE}: lines add up to 10.00, total is 20.00": EVERY_RUN,
        f"{INCOMPLETE}: patient 123 not received": EVERY_RUN,
        f"patient 123: {RECIPIENT_GONE}": EVERY_RUN,
        "void before (not in PayPal), so its details were not kept: read it again": EVERY_RUN,
        "a reason no version of the target wrote yet": EVERY_RUN,  # unknown: the safe default
        "": EVERY_RUN,
        str(parked_patient.reason): WITH_PATIENT,
        str(shared.reason): WITH_PATIENT,
        str(input_problem("invoices", {"invoice_id": "1"}, "AUD")): WITH_RECORD,
        **{reason: WITH_REVERSAL for reason in reversal_reasons()},
    }
    for reason, expected in cases.items():
        assert retried("invoices", reason) == expected, (reason, cause_of(reason))
    # Only invoices are tried again by a run; other letters wait for their record or a replay.
    assert retried("rejects:patients", "parked by the mapper: no usable email") == WITH_RECORD
    assert retried("customers", str(refused)) == WITH_RECORD


# --- a no-change rerun ----------------------------------------------------------------------


def test_a_no_change_rerun_leaves_invoices_held_by_their_patient_alone(target, clinic):
    data, stdin, _, held = held_back_clinic(clinic)
    first = target.run(stdin)
    assert first.returncode == 0, first.stderr[-3000:]
    parked = letters(target)
    assert set(held["parked"]) | set(held["shared"]) <= set(parked)
    target.sandbox.paypal.clear_call_log()

    again = target.run("")  # nothing changed in Cliniko

    assert again.returncode == 0, again.stderr[-3000:]
    assert not api_calls(target.sandbox), "no PayPal call for invoices held by their patient"
    assert "Retrying" not in again.stderr
    waiting = len(held["parked"]) + len(held["shared"])
    assert f"{waiting} parked invoices wait for their patient" in again.stderr
    _, outcomes = last_run(target)
    assert not outcomes, "nothing was applied, nothing parked again"
    assert letters(target) == parked, "every letter is still open, with its reason"


def test_invoices_paypal_refused_are_retried_on_every_run(target, clinic, by_reference):
    data = clinic(customers=4, invoices=12)
    wanted = [i for i, h in data.invoices.items() if h["target_status"] != "VOID"]
    done = target.run(data.messages(), invoicer_email=NOT_OURS)
    assert done.returncode == 0, done.stderr[-3000:]
    parked = letters(target)
    assert set(wanted) <= set(parked)
    assert all(
        parked[i].startswith("create: HTTP 422 UNPROCESSABLE_ENTITY (USER_NOT_FOUND)")
        for i in wanted
    )

    target.sandbox.paypal.clear_call_log()
    again = target.run("", invoicer_email=NOT_OURS)  # no change, PayPal still refuses
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Retrying {len(wanted)} parked invoices" in again.stderr
    tried = [c for c in api_calls(target.sandbox) if c.method == "POST"]
    assert len(tried) >= len(wanted), "each refused invoice is sent to PayPal again"
    assert set(wanted) <= set(last_run(target)[1])

    fixed = target.run("")  # the invoicer fixed: no change in Cliniko, the retry goes through
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    in_paypal = by_reference(target.sandbox)
    assert all(len(in_paypal.get(i, [])) == 1 for i in wanted)
    assert not set(wanted) & set(letters(target))


def test_fixing_the_patient_lets_its_invoices_through_after_reruns(target, clinic, by_reference):
    data, stdin, (parked, _, second), held = held_back_clinic(clinic)
    assert target.run(stdin).returncode == 0
    assert target.run("").returncode == 0  # two no-change reruns: nothing retried
    assert target.run("").returncode == 0
    assert not (set(held["parked"]) | set(held["shared"])) & set(by_reference(target.sandbox))

    # Fixed in Cliniko: the parked patient gets an email, the other their own address.
    data.customers[parked] = {"customer_id": parked, "email": "found.at.last@example.com"}
    data.customers[second]["email"] = "own.address@example.com"
    done = target.run(data.messages(only={"customers"}))

    assert done.returncode == 0, done.stderr[-3000:]
    in_paypal = by_reference(target.sandbox)
    assert all(len(in_paypal.get(i, [])) == 1 for i in held["parked"] + held["shared"])
    assert not letters(target)


def test_a_patient_rejected_again_for_another_reason_re_evaluates_its_invoices(target, clinic):
    data, stdin, (parked, _, _), held = held_back_clinic(clinic)
    assert target.run(stdin).returncode == 0
    # Cliniko changed the patient, and now a filter that skips applies to it.
    skip = reject("patients", parked, "skip", "left out by filter patients[0]")
    done = target.run(extra("rejects", "record_id", [skip]))
    assert done.returncode == 0, done.stderr[-3000:]
    _, outcomes = last_run(target)
    assert {outcomes.get(i) for i in held["parked"]} == {"skipped"}
    assert not set(held["parked"]) & set(letters(target)), "skipped, no longer parked"
    assert not set(held["shared"]) & set(outcomes), "other patients' invoices left alone"


def test_a_rules_change_retries_every_held_invoice_once(target, clinic):
    data, _, (parked, first, _), held = held_back_clinic(clinic)
    held_ids = set(held["parked"]) | set(held["shared"])
    rejects = with_rules([reject("patients", parked)], "rules-a")
    for stream in ("customers", "invoices"):
        records = getattr(data, stream)
        for key in list(records):
            records[key] = {**records[key], "rules_fingerprint": "rules-a"}
    assert target.run(extra("rejects", "record_id", rejects) + data.messages()).returncode == 0
    assert held_ids <= set(letters(target))
    unchanged = data.customers[first]

    same_rules = target.run(extra("customers", "customer_id", [unchanged]))
    assert same_rules.returncode == 0, same_rules.stderr[-3000:]
    assert not set(last_run(target)[1]), "same rules, same patient: nothing retried"

    new_rules = {**unchanged, "rules_fingerprint": "rules-b"}
    changed = target.run(extra("customers", "customer_id", [new_rules]))
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "The mapping rules changed" in changed.stderr
    _, outcomes = last_run(target)
    assert held_ids <= set(outcomes), "every held invoice is tried again"
    assert {outcomes[i] for i in held_ids} == {"parked"}

    once = target.run(extra("customers", "customer_id", [new_rules]))
    assert once.returncode == 0, once.stderr[-3000:]
    assert not set(last_run(target)[1]), "once: the next run under the same rules leaves them"
    assert "rules_fingerprint" not in str(store_of(target).invoice_inputs(held["parked"][0]))


@pytest.mark.parametrize("act", ["discard", "replay"])
def test_an_operator_acting_on_a_held_invoice_or_its_patient_retries_it(target, clinic, act):
    data, stdin, (parked, _, _), held = held_back_clinic(clinic)
    assert target.run(stdin).returncode == 0
    store = store_of(target)
    if act == "discard":  # paypal-ops dead-letters discard --stream rejects:patients
        (letter,) = [d for d in store.open_dead_letters("rejects:patients")]
        store.discard(letter["id"], "the patient is invoiced by hand")
    else:  # paypal-ops dead-letters replay --stream invoices queues them (mark_dirty)
        store.mark_dirty(held["parked"])

    done = target.run("")

    assert done.returncode == 0, done.stderr[-3000:]
    _, outcomes = last_run(target)
    assert set(held["parked"]) <= set(outcomes)
    assert not set(held["shared"]) & set(outcomes)
    reasons = letters(target)
    expected = f"{INCOMPLETE}: patient {parked} not received" if act == "discard" else "patient"
    assert all(reasons[i].startswith(expected) for i in held["parked"])
