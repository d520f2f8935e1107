"""The mapper's rules that target-paypal applies, as it holds every customer: rejects (park or
skip) and what they mean for a patient's invoices, shared emails, owners, lines left out, and
the run's summary accounting for every invoice."""

from __future__ import annotations

import pytest
from target_harness import input_messages as extra
from target_harness import reject

from target_paypal.store import Store


def store_of(target) -> Store:
    return Store(target.config["store_url"])


def invoices_of(data, customer_id: str) -> list[str]:
    return [
        i
        for i, h in data.invoices.items()
        if h["customer_id"] == customer_id and h["target_status"] != "VOID"
    ]


def last_summary(target) -> dict:
    return store_of(target).runs(limit=1)[0]["counts"]


def test_a_parked_patient_parks_its_invoices_until_it_arrives_valid(target, clinic, by_reference):
    data = clinic(customers=4, invoices=16)
    patient = next(iter(data.customers))
    held_back = invoices_of(data, patient)
    assert held_back, "the chosen patient has invoices"
    valid = data.customers.pop(patient)
    stdin = extra("rejects", "record_id", [reject("patients", patient)]) + data.messages()
    done = target.run(stdin)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not set(held_back) & set(by_reference(target.sandbox))
    letters = {d["record_id"]: d["reason"] for d in store_of(target).open_dead_letters("invoices")}
    assert set(held_back) <= set(letters)
    assert all(f"patient {patient}" in letters[i] for i in held_back)
    assert last_summary(target)["invoices"]["parked"] == len(held_back)

    data.customers[patient] = valid  # fixed in Cliniko: the patient now arrives valid
    done = target.run(data.messages(only={"customers"}))
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    assert all(len(held.get(i, [])) == 1 for i in held_back)
    open_letters = store_of(target).open_dead_letters()
    assert not [d for d in open_letters if d["record_id"] in (*held_back, patient)]


def test_a_parked_invoice_is_logged_once_not_on_every_retry(target, clinic):
    data = clinic(customers=4, invoices=16)
    patient = next(iter(data.customers))
    held_back = invoices_of(data, patient)
    data.customers.pop(patient)
    stdin = extra("rejects", "record_id", [reject("patients", patient)]) + data.messages()
    first = target.run(stdin, log_level="debug")  # a line per parked record at debug only
    assert all(f"Parked invoice {i}:" in first.stderr for i in held_back), first.stderr[-3000:]

    # Nothing new, but the patient's reject comes again: its invoices are tried again.
    again = target.run(extra("rejects", "record_id", [reject("patients", patient)]), "debug")

    assert again.returncode == 0, again.stderr[-3000:]
    assert not [i for i in held_back if f"Parked invoice {i}:" in again.stderr]
    assert last_summary(target)["invoices"]["parked"] == len(held_back)


def test_a_skipped_patient_skips_its_invoices_without_dead_letters(target, clinic, by_reference):
    data = clinic(customers=4, invoices=16)
    patient = next(iter(data.customers))
    held_back = invoices_of(data, patient)
    data.customers.pop(patient)
    stdin = extra("rejects", "record_id", [reject("patients", patient, "skip")]) + data.messages()
    assert target.run(stdin).returncode == 0
    assert not set(held_back) & set(by_reference(target.sandbox))
    assert not [d for d in store_of(target).open_dead_letters() if d["record_id"] in held_back]
    summary = last_summary(target)
    assert summary["invoices"]["skipped"] >= len(held_back)
    assert summary["left_out"]["customers"] == {"skipped": 1}


def shared_pair(data) -> tuple[str, str]:
    first, second = list(data.customers)[:2]
    data.customers[second]["email"] = data.customers[first]["email"].upper()  # case differs
    return first, second


@pytest.mark.parametrize("rule", [None, "park", "skip", "allow"])
def test_shared_email_rule(target, clinic, by_reference, rule) -> None:
    data = clinic(customers=5, invoices=24)
    first, second = shared_pair(data)
    for customer in data.customers.values():
        customer["shared_email"] = rule
    both = invoices_of(data, first) + invoices_of(data, second)
    assert invoices_of(data, first) and invoices_of(data, second)
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    letters = {d["record_id"]: d["reason"] for d in store_of(target).open_dead_letters("invoices")}
    if rule == "allow":
        assert all(len(held.get(i, [])) == 1 for i in both)
        return
    assert not set(both) & set(held), "no invoice of a patient sharing an email reaches PayPal"
    if rule == "skip":
        assert not set(both) & set(letters)
        return
    assert set(both) <= set(letters)
    assert (
        f"patient {first} shares its email with patient(s) {second}"
        in letters[invoices_of(data, first)[0]]
    )
    assert "@" not in " ".join(letters.values()), "reasons name IDs, never emails"
    # The front desk gives the second patient their own email: both patients' invoices go out.
    data.customers[second]["email"] = "own.address@example.com"
    done = target.run(data.messages(only={"customers"}))
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    assert all(len(held.get(i, [])) == 1 for i in both)


def test_a_patient_who_comes_to_share_an_email_holds_further_changes(target, clinic, by_reference):
    data = clinic(customers=4, invoices=16)
    first, second = list(data.customers)[:2]
    assert target.run(data.messages()).returncode == 0
    data.customers[second]["email"] = data.customers[first]["email"]
    assert target.run(data.messages(only={"customers"})).returncode == 0
    letters = {d["record_id"] for d in store_of(target).open_dead_letters("invoices")}
    assert set(invoices_of(data, second)) <= letters, "the changed recipient waits for review"


def test_owner_from_practitioner_user_on_the_memo_and_in_the_store(target, clinic, by_reference):
    data = clinic(customers=3, invoices=6)
    for n, header in enumerate(data.invoices.values()):
        header["practitioner_id"] = "p1" if n % 2 == 0 else "p2"
        header["memo"] = "Cliniko invoice, owner {owner}"
    references = extra(
        "practitioners",
        "practitioner_id",
        [
            {"practitioner_id": "p1", "user_id": "u1"},
            {"practitioner_id": "p2", "user_id": "u2"},
        ],
    ) + extra("owners", "user_id", [{"user_id": "u1", "owner": "Physiotherapy"}])
    done = target.run(references + data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    for invoice_id, header in data.invoices.items():
        if header["target_status"] == "VOID":
            continue
        owner = "Physiotherapy" if header["practitioner_id"] == "p1" else "unassigned"
        assert held[invoice_id][0]["detail"]["memo"] == f"Cliniko invoice, owner {owner}"
        assert store_of(target).xref(invoice_id).owner == owner

    # The owners table changes: the open invoices of that owner's practitioner are updated.
    target.sandbox.paypal.clear_call_log()
    done = target.run(extra("owners", "user_id", [{"user_id": "u1", "owner": "Physio team"}]))
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    for invoice_id, header in data.invoices.items():
        invoice = held.get(invoice_id, [None])[0]
        if (
            header["practitioner_id"] == "p1"
            and invoice
            and invoice["status"] in ("DRAFT", "UNPAID")
        ):
            assert invoice["detail"]["memo"] == "Cliniko invoice, owner Physio team"
    written = {
        c.path.split("/")[4] for c in target.sandbox.paypal.writes() if c.path.count("/") >= 4
    }
    p2 = {
        held[i][0]["id"]
        for i, h in data.invoices.items()
        if h["practitioner_id"] == "p2" and i in held
    }
    assert not written & p2, "invoices of other practitioners are not touched"


def test_a_line_left_out_by_a_rule_is_not_invoiced_but_counts_for_completeness(
    target, clinic, by_reference
):
    data = clinic(customers=2, invoices=10)
    invoice_id = next(
        i
        for i, h in data.invoices.items()
        if h["target_status"] == "SENT" and len(data.lines[i]) > 1
    )
    left_out = data.lines[invoice_id][0]
    left_out["excluded"] = "left out by filter invoice_items[0]"
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    invoice = by_reference(target.sandbox)[invoice_id][0]
    assert len(invoice["items"]) == len(data.lines[invoice_id]) - 1
    assert [i["name"] for i in invoice["items"]] == [
        ln["name"] for ln in data.lines[invoice_id][1:]
    ]


def test_the_practitioners_name_on_the_memo_follows_cliniko(target, clinic, by_reference):
    data = clinic(customers=3, invoices=10)
    for n, header in enumerate(data.invoices.values()):
        header["practitioner_id"] = ("p1", "p2", "p3")[n % 3]
        header["memo"] = "Seen by {practitioner} ({owner})"
    names = [
        {"practitioner_id": "p1", "user_id": "u1", "display_name": "Dr Ana Lee"},
        {"practitioner_id": "p2", "user_id": "u2", "display_name": None},
    ]  # p3: never received
    done = target.run(extra("practitioners", "practitioner_id", names) + data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    shown = {"p1": "Dr Ana Lee", "p2": "practitioner unknown", "p3": "practitioner unknown"}
    for invoice_id, header in data.invoices.items():
        if header["target_status"] == "VOID":
            continue
        memo = by_reference(target.sandbox)[invoice_id][0]["detail"]["memo"]
        assert memo == f"Seen by {shown[header['practitioner_id']]} (unassigned)", invoice_id

    # Her name changes in Cliniko: the open invoices she issued say so; no other is written.
    target.sandbox.paypal.clear_call_log()
    names[0]["display_name"] = "Dr Ana Lee-Park"
    done = target.run(extra("practitioners", "practitioner_id", names))
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    changed = set()
    for invoice_id, header in data.invoices.items():
        invoice = held.get(invoice_id, [None])[0]
        if header["practitioner_id"] == "p1" and invoice and invoice["status"] in (
            "DRAFT",
            "UNPAID",
        ):
            assert invoice["detail"]["memo"] == "Seen by Dr Ana Lee-Park (unassigned)"
            changed.add(invoice["id"])
    written = {
        c.path.split("/")[4] for c in target.sandbox.paypal.writes() if c.path.count("/") >= 4
    }
    assert changed and written == changed, "only her open invoices are written"
