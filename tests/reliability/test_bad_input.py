"""Bad data in, one clear line out, the record parked, and the rest of the run delivered.

Two ways in. Bad values a clinic can really have are put into the sandbox's Cliniko data and go
through the real `meltano run cliniko-to-paypal` (one run covers them all): the mapper refuses
them on its `rejects` stream and target-paypal parks them. What can only go wrong between
plugins (lines that are not Singer messages, unknown streams, records that break the target's
contract) is fed to the target-paypal executable directly, as Meltano would.

Per case: the run survives (exit 0), the record is a dead letter with its reason, the log sums
the parked records up (one info line per reason, with its count and what to do; a line per
record, naming its ID, at debug level only), the good records are in PayPal, and nothing printed
or kept for people holds a name, an email, a credential or a terminal escape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import cliniko_paypal_contract as contract

REPO = Path(__file__).resolve().parents[2]
PAYPAL_OPS = Path(sys.executable).parent / "paypal-ops"
UNSAFE_IN_LOGS = ("\x1b", "\x00", "\u202e", "\x07")


# --- helpers ----------------------------------------------------------------------------------


def lines_about(output: str, *needles: str) -> list[str]:
    """The log lines that contain every needle."""
    return [line for line in output.splitlines() if all(n in line for n in needles)]


def one_line(output: str, *needles: str) -> str:
    found = lines_about(output, *needles)
    assert len(found) == 1, f"expected one line with {needles}, got {len(found)}:\n" + "\n".join(
        found
    )
    return found[0]


def dead_letters(store: Path, env: dict[str, str], leak_scan) -> dict[tuple[str, str], str]:
    """`paypal-ops dead-letters list --json`: (stream, record id) -> reason."""
    done = subprocess.run(
        [str(PAYPAL_OPS), "dead-letters", "list", "--json"],
        env={**os.environ, **env, "PAYPAL_OPS_STORE_URL": f"sqlite:///{store}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    leak_scan.text("paypal-ops dead-letters list", done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not any(c in done.stdout for c in UNSAFE_IN_LOGS)
    return {(d["stream"], str(d["record_id"])): d["reason"] for d in json.loads(done.stdout)}


def by_reference(sandbox) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for invoice in sandbox.paypal.invoices():
        found.setdefault(invoice["detail"].get("reference"), []).append(invoice)
    return found


def assert_clean_logs(*outputs: str) -> None:
    for output in outputs:
        for char in UNSAFE_IN_LOGS:
            assert char not in output, f"{char!r} in the log"


# --- through the real pipeline ------------------------------------------------------------------


def open_invoices(sandbox) -> list[dict]:
    """Live, open invoices with at least one live line, one per patient (so that a bad patient
    spoils only the invoices chosen for it)."""
    cliniko = sandbox.cliniko
    lines: dict[str, list[dict]] = {}
    for item in cliniko.records("invoice_items"):
        raw = cliniko.raw("invoice_items", item["id"])
        if not raw.get("deleted_at") and not raw.get("archived_at"):
            lines.setdefault(raw["invoice_id"], []).append(raw)
    emails: dict[str, int] = {}
    for patient in cliniko.records("patients"):
        email = (patient.get("invoice_email") or patient.get("email") or "").lower()
        emails[email] = emails.get(email, 0) + 1
    raws = [cliniko.raw("invoices", invoice["id"]) for invoice in cliniko.records("invoices")]
    reversed_ = {raw.get("original_invoice_id") for raw in raws} - {None}
    picked, patients = [], set()
    for raw in raws:
        patient = cliniko.get("patients", raw["patient_id"])
        email = (patient.get("invoice_email") or patient.get("email") or "").lower()
        if (
            raw["status"] == 10
            and not raw.get("archived_at")
            and not raw.get("deleted_at")
            and lines.get(raw["id"])
            and raw["patient_id"] not in patients
            and emails.get(email) == 1
            and not patient.get("archived_at")
            and not raw.get("original_invoice_id")  # a reversal, and one reversed: not plain
            and raw["id"] not in reversed_
        ):
            patients.add(raw["patient_id"])
            picked.append({**raw, "lines": lines[raw["id"]]})
    return picked


def patient_invoices(sandbox, patient_id: str) -> list[str]:
    return [
        i["id"]
        for i in sandbox.cliniko.records("invoices")
        if sandbox.cliniko.raw("invoices", i["id"])["patient_id"] == patient_id
    ]


@pytest.mark.timeout(600)
def test_bad_cliniko_data_is_parked_and_the_rest_reaches_paypal(
    make_sandbox, meltano_project, leak_scan, distinctive_credentials
) -> None:
    sandbox = make_sandbox(
        patients=80,
        invoices=160,
        **distinctive_credentials,
    )
    leak_scan.sandbox(sandbox)
    cliniko = sandbox.cliniko
    pool = open_invoices(sandbox)
    assert len(pool) >= 15, f"the seed has only {len(pool)} usable open invoices"
    case = dict(
        zip(
            [
                "not-an-email",
                "a@b",
                "with spaces",
                "abc",
                "quantity -1",
                "NaN",
                "Infinity",
                "tax 150",
                "tax 15",
                "number too long",
                "unicode",
                "good1",
                "good2",
                "good3",
                "good4",
            ],
            pool,
            strict=False,
        )
    )

    # Bad emails; the first patient's name is distinctive so the leak scan can look for it.
    for name, email in (
        ("not-an-email", "not-an-email"),
        ("a@b", "a@b"),
        ("with spaces", "jane citizen@example.com"),
    ):
        cliniko.update(
            "patients",
            case[name]["patient_id"],
            {"email": email, "invoice_email": None, "last_name": "Featherstonehaugh"},
        )
    # Bad amounts, a tax rate PayPal cannot take and one the clinic does not have, each on one
    # line of its own invoice.
    for name, change in (
        ("abc", {"unit_price": "abc"}),
        ("quantity -1", {"quantity": "-1"}),
        ("NaN", {"unit_price": "NaN"}),
        ("Infinity", {"unit_price": "Infinity"}),
        ("tax 150", {"tax_rate": "150.0"}),
        ("tax 15", {"tax_rate": "15.0"}),
    ):
        cliniko.update("invoice_items", case[name]["lines"][0]["id"], change)
    # A number that makes PayPal's invoice_number longer than its 25 characters.
    cliniko.update("invoices", case["number too long"]["id"], {"number": 10**22})
    # Unusual Unicode in a patient's name and a line's name: cleaned, then delivered.
    uni = case["unicode"]
    cliniko.update(
        "patients",
        uni["patient_id"],
        {
            "first_name": "Zo\u00eb\x00\x1b[31m",
            "preferred_first_name": None,
            "last_name": "\u202eO'Brien \U0001f600 e\u0301\ud83d",
        },
    )
    cliniko.update(
        "invoice_items",
        uni["lines"][0]["id"],
        {"name": "Massage \x1b[2J\U0001f486\u200d\u2640\ufe0f\x07 \ud800"},
    )

    project = meltano_project(sandbox)
    done = project.run("cliniko-to-paypal", check=False)
    output = done.stdout + done.stderr
    leak_scan.text("meltano run stdout", done.stdout)
    leak_scan.text("meltano run stderr", done.stderr)
    leak_scan.path(project.workdir / "store.db")
    assert done.returncode == 0, done.stderr[-4000:]
    assert_clean_logs(output)
    letters = dead_letters(project.workdir / "store.db", project.paypal_env(), leak_scan)
    paypal = by_reference(sandbox)

    # No line per parked record at info (they are at debug): one per reason, with its count.
    assert not lines_about(output, "Parked invoice "), "a line per parked invoice at info"
    assert not lines_about(output, " record ", "Parked"), "a line per parked record at info"

    # Bad emails: the patient is parked by the mapper, its invoices are parked with its reason.
    fix = "correct them in Cliniko"
    line = one_line(output, "patients: parked by the mapper: no usable email")
    assert "add one in Cliniko" in line, line  # the mapper's reason says what to do
    one_line(output, "invoices: patient parked by the mapper: no usable email")
    for name in ("not-an-email", "a@b", "with spaces"):
        patient_id = case[name]["patient_id"]
        assert "no usable email" in letters[("rejects:patients", patient_id)]
        invoice_id = case[name]["id"]
        reason = letters[("invoices", invoice_id)]
        assert f"patient {patient_id}: parked by the mapper: no usable email" in reason
        for other in patient_invoices(sandbox, patient_id):  # none of theirs reaches PayPal
            assert other not in paypal

    # Bad amounts and tax rates: the line is parked by the mapper, its invoice is held back
    # (never sent short of a line) and parked naming the line.
    for name, why in (
        ("abc", "unit_price is not a decimal number"),
        ("quantity -1", "quantity is negative"),
        ("NaN", "unit_price is not a decimal number"),
        ("Infinity", "unit_price is not a decimal number"),
        ("tax 150", "tax_rate is not a percentage from 0 to 100"),
        ("tax 15", "tax_rate 15 is not one of the clinic's rates (0, 10 in"),
    ):
        invoice_id, line_id = case[name]["id"], case[name]["lines"][0]["id"]
        line = one_line(output, "invoice item", f"parked by the mapper: {why}")
        assert fix in line, line
        assert why in letters[("rejects:invoice_items", line_id)]
        assert invoice_id not in paypal, name
        assert f"parked line(s): {line_id}" in letters[("invoices", invoice_id)]
    line = one_line(output, "invoices: incomplete at the end of the input")
    assert "retried on every run" in line, line

    # Too long an invoice number: parked by the mapper before PayPal would refuse it.
    invoice_id = case["number too long"]["id"]
    line = one_line(output, "Parked 1 invoice: parked by the mapper: invoice_number")
    assert "longer than PayPal's 25 characters" in line and fix in line
    assert "longer than PayPal's 25" in letters[("rejects:invoices", invoice_id)]
    assert invoice_id not in paypal

    # Unicode: control characters, escape sequences, bidi overrides and lone surrogates are
    # removed; accents (composed, NFC), emoji and emoji sequences are delivered as they are.
    assert uni["id"] in paypal, "the invoice with unusual Unicode was not delivered"
    [delivered] = paypal[uni["id"]]
    name = delivered["primary_recipients"][0]["billing_info"]["name"]
    assert name["given_name"] == "Zo\u00eb"
    assert name["surname"] == "O'Brien \U0001f600 \u00e9"
    item_names = [item["name"] for item in delivered["items"]]
    assert "Massage \U0001f486\u200d\u2640\ufe0f" in item_names, item_names
    assert delivered["status"] == "UNPAID"

    # The good invoices of the same run are in PayPal, once, with Cliniko's total.
    for name in ("good1", "good2", "good3", "good4"):
        invoice = case[name]
        [found] = paypal[invoice["id"]]
        assert Decimal(found["amount"]["value"]) == Decimal(invoice["total_amount"])
        assert found["status"] == "UNPAID"


# --- between plugins: target-paypal fed directly --------------------------------------------------


def good_invoice(n: int) -> list[dict]:
    """A customer, an invoice and its one line (all valid), as Singer RECORD messages."""
    cid, iid = f"90000{n}", f"80000{n}"
    records = [
        (
            "customers",
            {
                "customer_id": cid,
                "email": f"good{n}@example.com",
                "given_name": f"Given{n}",
                "surname": "Goodpatient",
            },
        ),
        (
            "invoices",
            {
                "invoice_id": iid,
                "customer_id": cid,
                "invoice_number": f"CLK-9{n}",
                "invoice_date": "2026-03-0" + str(n),
                "currency_code": "AUD",
                "tax_inclusive": False,
                "target_status": "SENT",
                "total": "55.00",
                "line_count": 1,
                "note": "Thank you",
            },
        ),
        (
            "invoice_lines",
            {
                "line_id": f"{iid}1",
                "invoice_id": iid,
                "name": "Consultation",
                "quantity": "1",
                "unit_amount": "50.00",
                "tax_name": "GST",
                "tax_percent": "10",
            },
        ),
    ]
    return [{"type": "RECORD", "stream": s, "record": r} for s, r in records]


def schema_message(stream: str, key: str | None = None) -> dict:
    schema = contract.schema(stream) if stream in contract.KEYS else {"properties": {"id": {}}}
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": schema,
        "key_properties": [key or contract.KEYS.get(stream, "id")],
    }


def record(stream: str, **fields) -> dict:
    return {"type": "RECORD", "stream": stream, "record": fields}


def bad_line_for(invoice_id: str, line_id: str, **fields) -> dict:
    """A header whose only line breaks the contract; the header itself is valid."""
    return record("invoice_lines", line_id=line_id, invoice_id=invoice_id, **fields)


@pytest.mark.timeout(300)
def test_bad_singer_input_is_parked_and_the_rest_reaches_paypal(
    make_sandbox, tmp_path, leak_scan, distinctive_credentials
) -> None:
    sandbox = make_sandbox(
        patients=5,
        invoices=5,
        **distinctive_credentials,
    )
    leak_scan.sandbox(sandbox)
    leak_scan.secret("leaky.patient@example", "Leakington")
    early = {"customer_id": "700001", "email": "early@example.com", "given_name": "Early"}
    header = {
        "customer_id": "900001",
        "invoice_date": "2026-03-01",
        "currency_code": "AUD",
        "tax_inclusive": False,
        "target_status": "SENT",
        "total": "55.00",
    }
    messages: list[dict | str] = [
        record("customers", **early),  # line 1: a RECORD before its SCHEMA
        "this is not JSON at all",  # line 2
        '{"type": "RECORD", "stream": "customers", "record": {"customer_id": "7',  # 3: truncated
        {"type": "RECORD", "record": {"customer_id": "700002"}},  # 4: no stream
        {"type": "RECORD", "stream": "customers"},  # 5: no record
        {"type": "NONSENSE", "stream": "customers"},  # 6: an unknown message type
        "[1, 2, 3]",  # 7: JSON, but not a message
        "",  # a blank line is no message and no error
    ]
    messages += [schema_message(s) for s in ("customers", "invoices", "invoice_lines")]
    for n in (1, 2, 3):
        messages += good_invoice(n)
    messages += [
        # unknown streams, one of them named with a terminal escape
        schema_message("bookings"),
        record("bookings", id="A-1", starts_at="2026-03-01T00:00:00Z"),
        schema_message("\x1b[31mevil"),
        record("\x1b[31mevil", id="E-1"),
        # records that break the contract: wrong types, missing keys, bad values
        record(
            "customers", customer_id="600001", email="leaky.patient@example", surname="Leakington"
        ),
        record("customers", customer_id="600002", email="leaky.patient@example.com", given_name=17),
        record("customers", email="no-id@example.com"),
        record("customers", customer_id="\x1b]0;pwned\x07600003", email="ok@example.com"),
        record(
            "customers",
            customer_id="600004",
            email="ok4@example.com",
            given_name="Evil\x1b[2J\u202eName",
            surname="Null\x00",
        ),
        record("invoices", invoice_id="500001", invoice_number="CLK-" + "9" * 22, **header),
        record("invoices", invoice_id="500002", invoice_number="CLK-52", note="n" * 4001, **header),
        record(
            "invoices",
            invoice_id="500003",
            invoice_number="CLK-53",
            **{**header, "currency_code": "USD"},
        ),
        record("invoices", invoice_id="500004", invoice_number="CLK-54", **{**header, "total": 55}),
        record("invoices", invoice_id="500005", invoice_number="CLK-55", **header),
        bad_line_for("500005", "5000051", name="Consultation", quantity=1, unit_amount="50.00"),
        record("invoices", invoice_id="500006", invoice_number="CLK-56", **header),
        bad_line_for("500006", "5000061", name="Consultation", quantity="1"),
        record("invoices", invoice_id="500007", invoice_number="CLK-57", **header),
        bad_line_for(
            "500007",
            "5000071",
            name="Consultation",
            quantity="1",
            unit_amount="50.00",
            tax_percent="10",
            currency_code="USD",
        ),
        {"type": "STATE", "value": {"bookmarks": {"invoices": {"n": 1}}}},
    ]
    text = "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)
    # JSON's NaN and Infinity literals (Python's json reads them) in two more lines.
    text += (
        '{"type": "RECORD", "stream": "invoices", "record": {"invoice_id": "500008", '
        '"invoice_number": "CLK-58", "customer_id": "900001", "invoice_date": "2026-03-01", '
        '"currency_code": "AUD", "target_status": "SENT", "total": NaN}}\n'
        '{"type": "RECORD", "stream": "invoice_lines", "record": {"line_id": "5000091", '
        '"invoice_id": "500009", "name": "Consultation", "quantity": Infinity, '
        '"unit_amount": "-Infinity"}}\n'
    )
    store = tmp_path / "store.db"
    config = {
        "client_id": sandbox.paypal_client_id,
        "client_secret": sandbox.paypal_client_secret,
        "base_url": sandbox.paypal_url,
        "store_url": f"sqlite:///{store}",
        "invoicer_email": sandbox.paypal.rules.merchant_email,
        "currency": "AUD",
        "max_requests_per_second": 0,
        "retry_backoff_base_ms": 20,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "target_paypal.target", "--config", str(tmp_path / "config.json")],
        input=text,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={**os.environ, "TARGET_PAYPAL_LOGLEVEL": "debug"},  # and a line per parked record
    )
    leak_scan.text("target stdout", done.stdout)
    leak_scan.text("target stderr", done.stderr)
    leak_scan.path(store)
    output = done.stdout + done.stderr
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in output
    assert_clean_logs(output)
    letters = dead_letters(store, {}, leak_scan)
    kept = {key[1] for key in letters}
    todo = "fix what writes target-paypal's input"

    # Malformed lines: each one line naming the line, kept as an `input` dead letter.
    for number, why in (
        (2, "not valid JSON"),
        (3, "not valid JSON"),
        (4, "a RECORD message without stream"),
        (5, "a RECORD message without record"),
        (6, "not a Singer message (type NONSENSE)"),
        (7, "not a Singer message (type None)"),
    ):
        line = one_line(output, f"Parked input line {number} ")
        assert why in line and todo in line, line
        assert ("input", f"run 1 line {number}") in letters
    line = one_line(output, "Parked 2 input lines: not valid JSON")  # at info, summed up
    assert " INFO " in line and todo in line, line
    # A RECORD before its SCHEMA is kept under its own stream and id, so replay can stage it.
    line = one_line(output, "Parked customers record 700001 (line 1 of the input)")
    assert "came before its SCHEMA" in line and todo in line
    assert ("customers", "700001") in letters

    # Unknown streams: parked, never a crash; the escape in the stream name is not printed.
    line = one_line(output, "Parked bookings record A-1:")
    assert "unknown stream 'bookings'" in line and todo in line
    assert ("bookings", "A-1") in letters
    line = one_line(output, "record E-1:")
    assert "\\u001b[31mevil" in line

    # Contract breaks, each with the field at fault (never its value).
    for record_id, why in (
        ("600001", "email: pattern"),
        ("600002", "given_name: type"),
        ("(no id)", "customer_id is missing"),
        ("\\u001b]0;pwned\\u0007600003", "control characters"),
        ("600004", "given_name: control characters"),
        ("500001", "invoice_number: maxLength 25"),
        ("500002", "note: maxLength 4000"),
        ("500003", "currency_code is not AUD"),
        ("500004", "total: type"),
        ("5000051", "quantity: type"),
        ("5000061", "unit_amount is missing"),
        ("5000071", "(unexpected field)"),
        ("500008", "total: type"),
        ("5000091", "quantity: type"),
    ):
        line = one_line(output, f"record {record_id}:")
        assert "does not match the contract" in line or "currency_code" in line, line
        assert why in line and todo in line, line
        # kept under its id as logged (escaped); a record without an id under none
        assert {"(no id)": "None"}.get(record_id, record_id) in kept, record_id
    # An invoice whose only line was parked is held back and parked naming the line.
    for invoice_id, line_id in (("500005", "5000051"), ("500006", "5000061")):
        line = one_line(output, f"Parked invoice {invoice_id}:")
        assert f"parked line(s): {line_id}" in line
        assert ("invoices", invoice_id) in letters

    # The good invoices of the same input reached PayPal.
    paypal = by_reference(sandbox)
    for n in (1, 2, 3):
        [invoice] = paypal[f"80000{n}"]
        assert invoice["amount"]["value"] == "55.00" and invoice["status"] == "UNPAID"
    assert not {"500001", "500002", "500003", "500004", "500005", "500006"} & set(paypal)

    # Parked is not lost: the record sent before its SCHEMA is staged again on replay.
    replayed = subprocess.run(
        [str(PAYPAL_OPS), "dead-letters", "replay", "--id", "700001"],
        env={**os.environ, "PAYPAL_OPS_STORE_URL": f"sqlite:///{store}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    leak_scan.text("paypal-ops dead-letters replay", replayed.stdout + replayed.stderr)
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert "Staged again (they pass the contract now): 1" in replayed.stdout
    assert ("customers", "700001") not in dead_letters(store, {}, leak_scan)
