"""What a run logs at info: progress while applying, parked and skipped records summed up by
reason (one line each, no record IDs), counts and IDs only, and the same as JSON fields."""

from __future__ import annotations

import json
import re

from target_harness import input_messages as extra
from target_harness import reject

from target_paypal.left_out import summed_up
from target_paypal.store import Store

JSON_LOGS = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "singer_sdk.logging.StructuredFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
}
SUMMED_UP = re.compile(r"(Parked|Skipped) ([\d,]+) ")


def json_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_progress_as_json_fields_ends_with_every_invoice_applied(target, clinic, tmp_path) -> None:
    """As Meltano runs it with structured logging (singer-sdk's StructuredFormatter)."""
    config = tmp_path / "logging.json"  # YAML is a superset of JSON
    config.write_text(json.dumps(JSON_LOGS))
    data = clinic(customers=4, invoices=12)
    done = target.run(
        data.messages(), env={"SINGER_SDK_LOG_CONFIG": str(config)}, progress_interval_seconds=0
    )
    assert done.returncode == 0, done.stderr[-3000:]
    logged = json_lines(done.stderr)
    progress = [r["extra"] for r in logged if r["extra"].get("kind") == "progress"]
    assert len(progress) >= len(data.invoices), "a line after every invoice (interval 0)"
    for fields in progress:
        assert {"stream", "phase", "done", "total", "eta_seconds"} <= set(fields)
        assert fields["stream"] == "invoices" and fields["limit_per_second"] is None
    counts = Store(target.config["store_url"]).runs(limit=1)[0]["counts"]
    applied = sum(counts["invoices"].values())
    assert applied == len(data.invoices)
    assert progress[-1]["done"] == progress[-1]["total"] == applied
    assert progress[-1]["eta_seconds"] == 0
    assert progress[-1]["calls_per_second"] > 0, "PayPal's calls counted"
    summary = [r for r in logged if r["message"].startswith("target-paypal run 1: read ")]
    assert len(summary) == 1, "the run's summary line, unchanged"


def test_parked_and_skipped_records_are_one_line_per_reason_with_counts(target, clinic) -> None:
    data = clinic(customers=6, invoices=30)
    patients = list(data.customers)
    no_email, moved = patients[0], patients[1]
    for patient in (no_email, moved):
        data.customers.pop(patient)
    bad = next(i for i, h in data.invoices.items() if h["customer_id"] not in (no_email, moved))
    data.invoices[bad]["invoice_date"] = "31/02/2026"
    rejects = [
        reject("patients", no_email, reason="no usable email"),
        reject("patients", moved, reason="moved to another clinic"),
        reject("invoices", "999", action="skip", reason="other site"),
    ]
    done = target.run(extra("rejects", "record_id", rejects) + data.messages())
    assert done.returncode == 0, done.stderr[-3000:]

    summed = [line for line in done.stderr.splitlines() if SUMMED_UP.search(line)]
    assert all(" INFO " in line or "info" in line for line in summed), summed
    store = Store(target.config["store_url"])
    for outcome in ("parked", "skipped"):
        for _stream, reason, count in store.run_reasons(1, outcome):
            matching = [line for line in summed if f": {reason}:" in line]
            assert len(matching) == 1, (reason, summed)
            assert f"{outcome.capitalize()} {count} " in matching[0]
    live = [h for h in data.invoices.values() if h["target_status"] != "VOID"]
    held = {p: sum(1 for h in live if h["customer_id"] == p) for p in (no_email, moved)}
    assert held[no_email] and held[moved]
    expected = [
        f"Parked {held[no_email]} invoice{'s' if held[no_email] > 1 else ''}: patient parked by "
        "the mapper: no usable email: correct the patient in Cliniko",
        f"Parked {held[moved]} invoice{'s' if held[moved] > 1 else ''}: patient parked by the "
        "mapper: moved to another clinic",
        "Parked 1 invoice: does not match the contract: invoice_date",
        "invoice_date: format date: fix what writes target-paypal's input",
        "Parked 1 patient: parked by the mapper: no usable email: correct them in Cliniko",
        "Skipped 1 invoice: skipped by a rule: other site: nothing to do",
    ]
    for text in expected:
        assert any(text in line for line in summed), (text, summed)

    # No line per record at info: no invoice or patient id, no name or email, anywhere.
    assert "Parked invoice " not in done.stderr and "record " not in done.stderr
    ids = [*data.invoices, no_email, moved]
    assert not [i for i in ids if i in done.stderr]
    for customer in (*data.customers.values(),):
        for value in (customer["email"], customer["given_name"], customer["surname"]):
            assert not re.search(rf"\b{re.escape(value)}\b", done.stderr), value
    assert len(done.stderr.splitlines()) < 30, done.stderr


def test_reasons_that_name_a_record_are_summed_up_as_one_line_without_the_ids() -> None:
    rows = [
        (
            "invoices",
            "incomplete at the end of the input: patient 100000000000000001 not received",
            2,
        ),
        (
            "invoices",
            "incomplete at the end of the input: patient 100000000000000002 not received",
            3,
        ),
        ("customers", "parked by the mapper: no usable email", 1),
    ]
    lines = summed_up({"parked": rows, "skipped": []})
    assert [message for message, _ in lines] == [
        "Parked 5 invoices: incomplete at the end of the input: patient … not received: "
        "retried on every run, applied once its records arrive (paypal-ops dead-letters list)",
        "Parked 1 patient: parked by the mapper: no usable email: correct them in Cliniko (the "
        "next run reads them again) or change the mapping rules (paypal-ops dead-letters list)",
    ]
    assert lines[0][1] == {
        "kind": "left_out",
        "outcome": "parked",
        "stream": "invoices",
        "reason": "incomplete at the end of the input: patient … not received",
        "count": 5,
    }


def test_a_reason_that_says_what_to_do_is_not_given_other_advice() -> None:
    from target_paypal.left_out import summed_up

    lines = summed_up(
        {
            "parked": [
                ("invoices", "parked by the mapper: open credit: refund it in PayPal", 3),
                ("customers", "parked by the mapper: no usable email", 2),
            ]
        }
    )
    messages = [message for message, _ in lines]
    assert messages[0] == (
        "Parked 3 invoices: parked by the mapper: open credit: refund it in PayPal: "
        "retried on every run (paypal-ops dead-letters list)"
    )
    assert "correct them in Cliniko" in messages[1]


def test_invoices_held_by_a_reversal_are_not_said_to_be_retried_on_every_run() -> None:
    from target_paypal.left_out import summed_up

    reason = "paid or part reversal in Cliniko: see the reason"  # applier.py's summary
    [(message, _)] = summed_up({"parked": [("invoices", reason, 2)]})
    assert message == (
        f"Parked 2 invoices: {reason}: act in PayPal or Cliniko as each letter says; retried "
        "when the invoice or its reversal changes in Cliniko (paypal-ops dead-letters list)"
    )
