"""`paypal-ops approvals list|approve|reject` on a queue the target's own applier built.

Invoices marked with `approval` (as the mapper's approve rule marks them) are staged in a real
store and applied by target-paypal's applier against the sandbox's PayPal, as a run applies
them: held ones are PayPal drafts waiting in the queue. The commands then run as an operator
runs them, and the next "run" (the same applier) or `--apply-now` acts on the decision.
"""

from __future__ import annotations

import csv
import io
import json
import stat
from typing import Any

from click.testing import CliRunner, Result

from paypal_ops.cli import cli
from target_paypal.applier import DirtyInvoiceApplier
from target_paypal.apply import InvoiceWriter
from target_paypal.compose import Invoicer
from target_paypal.store import Store

# `queue` (conftest.py): a store and the sandbox's PayPal, four invoices held by two rules as
# drafts waiting for approval, two sent. Its type is conftest's Clinic.
Clinic = Any


def ops(clinic: Clinic, *args: str) -> Result:
    """`paypal-ops --store-url <store> <args>`, PayPal's settings those of the sandbox."""
    env = {
        "PAYPAL_OPS_PAYPAL_BASE_URL": clinic.sandbox.paypal_url,
        "PAYPAL_OPS_PAYPAL_CLIENT_ID": clinic.sandbox.paypal_client_id,
        "PAYPAL_OPS_PAYPAL_CLIENT_SECRET": clinic.sandbox.paypal_client_secret,
    }
    return CliRunner().invoke(cli, ["--store-url", clinic.url, *args], env=env)


def waiting(clinic: Clinic) -> list[str]:
    return [a.invoice_id for a in clinic.store.approval_queue()]


def audit_of(clinic: Clinic, invoice_id: str) -> list[tuple[str, str]]:
    return [
        (e["operation"], e["outcome"])
        for e in clinic.store.audit_log()
        if e["invoice_id"] == invoice_id
    ]


# --- list -------------------------------------------------------------------------------------


def test_list_shows_the_queue_as_text_json_and_csv_ids_only(queue, tmp_path) -> None:
    held = list(queue.held)
    text = ops(queue, "approvals", "list")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].split() == [
        "Invoice", "ID", "PayPal", "ID", "Number", "Total", "Rule", "Waiting", "since", "(UTC)",
        "Waited", "Note",
    ]  # fmt: skip
    assert len(lines) == 1 + len(held) + 2
    for invoice_id in held:
        line = next(ln for ln in lines if ln.startswith(invoice_id))
        header = queue.data.invoices[invoice_id]
        xref = queue.store.xref(invoice_id)
        assert xref is not None and xref.paypal_id in line
        assert header["invoice_number"] in line
        assert f"{header['total']} AUD" in line
        assert queue.held[invoice_id]["rule"] in line
        assert "0 min" in line  # held a moment ago
    assert lines[-2] == "4 waiting for approval, the longest for 0 min"
    assert lines[-1].startswith("Decide: paypal-ops approvals approve --id ID | --rule NAME")
    for value in queue.personal():
        assert value not in text.output

    as_json = ops(queue, "approvals", "list", "--json")
    rows = json.loads(as_json.output)
    assert [r["invoice_id"] for r in rows] == waiting(queue)
    assert sorted(r["invoice_id"] for r in rows) == sorted(held)
    first = rows[0]
    assert first["state"] == "waiting" and first["paypal_status"] == "DRAFT"
    assert first["alert_after_days"] == queue.held[first["invoice_id"]]["alert_after_days"]
    assert first["held_since"].endswith("+00:00") and first["overdue"] is False
    assert first["total"] == queue.data.invoices[first["invoice_id"]]["total"]

    path = tmp_path / "out" / "queue.csv"
    written = ops(queue, "approvals", "list", "--csv", str(path))
    assert written.output == f"4 invoice(s) waiting for approval written to {path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    from_file = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["invoice_id"] for r in from_file] == [r["invoice_id"] for r in rows]
    assert from_file[0]["paypal_id"] == first["paypal_id"]
    printed = ops(queue, "approvals", "list", "--csv", "-")
    assert printed.output == path.read_text()
    both = ops(queue, "approvals", "list", "--json", "--csv", "-")
    assert both.exit_code == 2 and "--json or --csv, not both" in both.output


def test_an_empty_queue_says_so(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store(url)
    for state, words in (("waiting", "No invoice is waiting for approval."),
                         ("all", "No invoice in the approval queue.")):  # fmt: skip
        result = CliRunner().invoke(
            cli, ["--store-url", url, "approvals", "list", "--state", state]
        )
        assert result.exit_code == 0 and result.output == words + "\n"
    as_json = CliRunner().invoke(cli, ["--store-url", url, "approvals", "list", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output) == []
    nothing = CliRunner().invoke(cli, ["--store-url", url, "approvals", "approve", "--all"])
    assert nothing.exit_code == 0 and nothing.output == "Nothing is waiting for approval.\n"


# --- approve ----------------------------------------------------------------------------------


def test_approve_by_id_rule_and_all_records_who_and_the_next_run_sends(queue, monkeypatch) -> None:
    first, second, third, fourth = queue.held
    monkeypatch.setattr("getpass.getuser", lambda: "frontdesk")

    by_id = ops(queue, "approvals", "approve", "--id", first, "--by", "Dr Lee")
    assert by_id.exit_code == 0, by_id.output
    assert f"Approved by Dr Lee: 1 invoice(s): {first}" in by_id.output
    assert "The next run sends them" in by_id.output
    assert ("approve", "approved by Dr Lee") in audit_of(queue, first)
    assert first not in waiting(queue)

    again = ops(queue, "approvals", "approve", "--id", first, "--id", second)
    assert again.exit_code == 0, again.output
    assert f"Approved by frontdesk: 1 invoice(s): {second}" in again.output  # the OS user
    assert f"Not waiting, left as they are: {first} (approved by Dr Lee on " in again.output
    assert ("approve", "approved by frontdesk") in audit_of(queue, second)

    unknown = ops(queue, "approvals", "approve", "--id", third, "--id", "999999999999999999")
    assert unknown.exit_code == 1
    assert unknown.output == (
        "Error: not in the approval queue: 999999999999999999; nothing was decided "
        "(paypal-ops approvals list --state all)\n"
    )
    assert third in waiting(queue)  # nothing else changed

    typo = ops(queue, "approvals", "approve", "--rule", "large-totl")
    assert typo.exit_code == 1 and "no invoice waits for approval under rule 'large-totl'" in (
        typo.output
    )
    assert "(rules with invoices waiting: large-total, third-party-payer)" in typo.output
    by_rule = ops(queue, "approvals", "approve", "--rule", "large-total")
    assert by_rule.exit_code == 0 and f"1 invoice(s): {fourth}" in by_rule.output
    assert waiting(queue) == [third]
    for wrong in ([], ["--all", "--rule", "large-total"], ["--id", third, "--all"]):
        usage = ops(queue, "approvals", "approve", *wrong)
        assert usage.exit_code == 2 and "exactly one of --id, --rule or --all" in usage.output
    with_email = ops(queue, "approvals", "approve", "--all", "--by", "lee@clinic.example")
    assert with_email.exit_code == 2 and "not an email address" in with_email.output
    every = ops(queue, "approvals", "approve", "--all")
    assert every.exit_code == 0 and f"1 invoice(s): {third}" in every.output
    assert waiting(queue) == []

    # Nothing is sent until the next run; then each goes out as Cliniko says.
    assert {queue.status(i) for i in queue.held} == {"DRAFT"}
    outcomes = queue.run()
    for invoice_id in queue.held:
        assert outcomes[invoice_id] == "updated"
        wanted = {"SENT": "UNPAID", "PAID": "MARKED_AS_PAID"}
        assert queue.status(invoice_id) == wanted[queue.data.invoices[invoice_id]["target_status"]]
    listed = json.loads(ops(queue, "approvals", "list", "--state", "approved", "--json").output)
    assert {r["invoice_id"]: r["decided_by"] for r in listed} == {
        first: "Dr Lee",
        second: "frontdesk",
        third: "frontdesk",
        fourth: "frontdesk",
    }


def test_approve_apply_now_sends_the_draft_at_once(queue) -> None:
    first = next(i for i in queue.held if queue.data.invoices[i]["target_status"] == "SENT")
    result = ops(queue, "approvals", "approve", "--id", first, "--by", "Dr Lee", "--apply-now")
    assert result.exit_code == 0, result.output
    xref = queue.store.xref(first)
    assert xref is not None and xref.paypal_status == "UNPAID"
    assert f"Applied now:\n  {first}: updated: UNPAID in PayPal ({xref.paypal_id})" in (
        result.output
    )
    assert queue.status(first) == "UNPAID"
    assert [i for i in queue.held if queue.status(i) == "DRAFT"] == [
        i for i in queue.held if i != first
    ]
    # The next run has nothing left to do for it.
    assert first not in queue.run() and queue.status(first) == "UNPAID"


def test_apply_now_stops_in_one_line_while_a_run_holds_the_store(queue) -> None:
    first = next(iter(queue.held))
    run = Store(queue.url)
    run.hold_run_lock()  # a sync of this clinic is running
    try:
        result = ops(queue, "approvals", "approve", "--id", first, "--apply-now")
        rejected = ops(queue, "approvals", "reject", "--id", first, "--why", "duplicate")
    finally:
        run.release_run_lock()
    for stopped in (result, rejected):
        assert stopped.exit_code == 1
        assert len(stopped.output.splitlines()) == 1, stopped.output
        assert "has held the store since" in stopped.output
    assert stopped.output.startswith("Error: approvals reject: another run")
    assert first in waiting(queue) and queue.status(first) == "DRAFT"  # nothing changed
    assert not [e for e in audit_of(queue, first) if e[0] in ("approve", "reject")]


def test_apply_now_without_credentials_or_a_run_changes_nothing(queue, tmp_path) -> None:
    first = next(iter(queue.held))
    bare = CliRunner().invoke(
        cli,
        ["--store-url", queue.url, "approvals", "approve", "--id", first, "--apply-now"],
        env={
            "PAYPAL_OPS_PAYPAL_CLIENT_ID": "",
            "TARGET_PAYPAL_CLIENT_ID": "",
            "PAYPAL_OPS_PAYPAL_CLIENT_SECRET": "",
            "TARGET_PAYPAL_CLIENT_SECRET": "",
        },
    )
    assert bare.exit_code == 2 and "no PayPal credentials" in bare.output
    assert first in waiting(queue)


# --- reject -----------------------------------------------------------------------------------


def test_reject_needs_why_and_the_next_run_deletes_the_draft(queue) -> None:
    first, second, *_ = queue.held
    no_why = ops(queue, "approvals", "reject", "--id", first)
    assert no_why.exit_code == 2 and "Missing option '--why'" in no_why.output
    blank = ops(queue, "approvals", "reject", "--id", first, "--why", "  ")
    assert blank.exit_code == 2 and "say why" in blank.output
    assert first in waiting(queue)

    result = ops(
        queue, "approvals", "reject", "--id", first, "--why", "billed to the insurer", "--by", "Sam"
    )
    assert result.exit_code == 0, result.output
    assert f"Rejected by Sam: 1 invoice(s): {first}" in result.output
    assert "The next run deletes the draft" in result.output
    outcomes = [outcome for _, outcome in audit_of(queue, first)]
    assert "rejected by Sam: billed to the insurer" in outcomes
    again = ops(queue, "approvals", "reject", "--id", first, "--why", "again")
    assert again.exit_code == 0 and f"Already rejected, left as they are: {first}" in again.output
    listed = json.loads(ops(queue, "approvals", "list", "--state", "rejected", "--json").output)
    assert [(r["invoice_id"], r["decided_by"], r["why"]) for r in listed] == [
        (first, "Sam", "billed to the insurer")
    ]

    assert queue.status(first) == "DRAFT"
    assert queue.run()[first] == "skipped"
    assert queue.status(first) is None  # the draft is deleted
    # It stays out while the invoice is unchanged in Cliniko.
    queue.store.stage_invoices([{**queue.data.invoices[first], "approval": queue.held[first]}])
    assert queue.run().get(first) in (None, "skipped") and queue.status(first) is None

    # Reject with --apply-now: the draft goes at once.
    now = ops(queue, "approvals", "reject", "--id", second, "--why", "duplicate", "--apply-now")
    assert now.exit_code == 0, now.output
    assert f"Applied now:\n  {second}: skipped" in now.output
    assert queue.status(second) is None


def test_reject_refuses_an_invoice_sent_after_approval(queue) -> None:
    first = next(iter(queue.held))
    assert ops(queue, "approvals", "approve", "--id", first, "--apply-now").exit_code == 0
    sent = queue.status(first)
    assert sent in ("UNPAID", "MARKED_AS_PAID")
    result = ops(queue, "approvals", "reject", "--id", first, "--why", "changed my mind")
    assert result.exit_code == 1
    assert f"already sent after approval: {first} ({sent}); nothing was rejected" in result.output
    assert queue.status(first) == sent
    assert not [e for e in audit_of(queue, first) if e[0] == "reject"]


def test_an_approval_made_while_a_run_applies_the_invoice_is_kept(queue) -> None:
    first = next(iter(queue.held))
    queue.store.mark_dirty([first])  # e.g. its record came again in this run
    writer = InvoiceWriter(queue.client(), Invoicer(**queue.writer["invoicer"]), True)
    applier = DirtyInvoiceApplier(queue.store, writer, 1, queue.store.start_run())
    outcome = applier._apply_one(first)  # the run read it: waiting
    assert queue.store.approve([first], "Dr Lee") == [first]  # a person approves meanwhile
    applier._record(outcome)  # the run records what it did
    applier._write_outcomes()  # ... with the others it did, at the latest when the pass ends
    assert first not in waiting(queue)


def test_a_rejection_is_audited_as_reject(queue) -> None:
    first = next(iter(queue.held))
    assert queue.store.reject(first, "Sam", "duplicate")
    assert ("reject", "rejected by Sam: duplicate") in audit_of(queue, first)


def test_help_names_every_command() -> None:
    result = CliRunner().invoke(cli, ["approvals", "--help"])
    assert result.exit_code == 0
    for name in ("list", "approve", "reject"):
        assert name in result.output
