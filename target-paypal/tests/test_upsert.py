"""target-paypal against the PayPal sandbox: exact results, idempotency, status changes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

from target_harness import states_passed_on

from target_paypal.store import Store

INVOICER_SETTINGS = {  # PayPal's invoicer field -> the target setting that fills it
    "email_address": "invoicer_email",
    "business_name": "invoicer_business_name",
    "website": "invoicer_website",
    "tax_id": "invoicer_tax_id",
}


def number(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def invoice_differences(invoice_id: str, invoice: dict, data, config: dict) -> list[str]:
    """How PayPal's copy of one invoice differs from the target's input, field by field."""
    header = data.invoices[invoice_id]
    customer = data.customers[header["customer_id"]]
    found: list[str] = []

    def check(what: str, expected, actual) -> None:
        if expected != actual:
            found.append(f"{invoice_id} ({invoice['id']}): {what} is {actual!r}, not {expected!r}")

    detail = invoice["detail"]
    check("status", data.expected_status(invoice_id), invoice["status"])
    check("total", data.expected_total(invoice_id), Decimal(invoice["amount"]["value"]))
    check("invoice_number", header["invoice_number"], detail.get("invoice_number"))
    check("invoice_date", header["invoice_date"], detail.get("invoice_date"))
    check("currency", header["currency_code"], detail.get("currency_code"))
    check("note", header["note"], detail.get("note"))
    check("memo", header["memo"], detail.get("memo"))
    term = detail.get("payment_term") or {}
    check("payment term", header["payment_term"]["term_type"], term.get("term_type"))
    due = date.fromisoformat(header["invoice_date"]) + timedelta(days=30)
    check("due date (NET_30)", due.isoformat(), term.get("due_date"))
    check(
        "tax_inclusive",
        header["tax_inclusive"],
        (invoice.get("configuration") or {}).get("tax_inclusive"),
    )
    invoicer = invoice.get("invoicer") or {}
    for field, setting in INVOICER_SETTINGS.items():
        check(f"invoicer {field}", config.get(setting), invoicer.get(field))
    check("number of recipients", 1, len(invoice.get("primary_recipients") or []))
    billing = (invoice.get("primary_recipients") or [{}])[0].get("billing_info") or {}
    check("recipient email", customer["email"], billing.get("email_address"))
    name = {"given_name": customer["given_name"], "surname": customer["surname"]}
    check("recipient name", name, billing.get("name"))
    address = {k: v for k, v in customer["address"].items() if v is not None}
    check("recipient address", address, billing.get("address"))
    check("recipient phones", [customer["phone"]], billing.get("phones"))
    lines = sorted(
        (ln for ln in data.lines[invoice_id] if not ln.get("deleted")),
        key=lambda ln: (ln.get("position") or 0, ln["line_id"]),
    )
    wanted_items = [
        {
            "name": ln["name"],
            "quantity": number(ln["quantity"]),
            "unit_amount": number(ln["unit_amount"]),
            "tax": (ln["tax_name"], number(ln["tax_percent"])),
            "discount_percent": number(ln.get("discount_percent")),
        }
        for ln in lines
    ]
    items = [
        {
            "name": item["name"],
            "quantity": number(item["quantity"]),
            "unit_amount": number(item["unit_amount"]["value"]),
            "tax": (
                (item.get("tax") or {}).get("name"),
                number((item.get("tax") or {}).get("percent")),
            ),
            "discount_percent": number((item.get("discount") or {}).get("percent")),
        }
        for item in invoice.get("items") or []
    ]
    check("line count", len(wanted_items), len(items))
    for n, (wanted, item) in enumerate(zip(wanted_items, items, strict=False), 1):
        for what, value in wanted.items():
            check(f"line {n} {what}", value, item[what])
    return found


def assert_paypal_matches(target, data, by_reference) -> None:
    """PayPal holds each invoice of the input once, as the input and the target's settings
    (the invoicer) say, field by field."""
    sandbox, config = target.sandbox, target.config
    held = by_reference(sandbox)
    problems: list[str] = []
    for invoice_id in data.invoices:
        status = data.expected_status(invoice_id)
        copies = held.get(invoice_id, [])
        if status is None:  # VOID: never sent, so never created (or deleted)
            if copies:
                problems.append(f"{invoice_id}: VOID, but in PayPal as {copies[0]['id']}")
            continue
        if len(copies) != 1:
            problems.append(f"{invoice_id}: {len(copies)} PayPal invoices, expected one")
            continue
        problems += invoice_differences(invoice_id, copies[0], data, config)
    strangers = sorted(set(held) - set(data.invoices))
    if strangers:
        problems.append(f"in PayPal but not in the input: {strangers}")
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:30])


def test_first_run_creates_every_invoice_exactly(target, clinic, by_reference) -> None:
    data = clinic(customers=10, invoices=30)
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    assert_paypal_matches(target, data, by_reference)
    assert states_passed_on(done.stdout)[-1:] == [{"bookmarks": {"invoices": {"n": 1}}}], (
        f"the input's last STATE was not passed on; standard output: {done.stdout[-500:]!r}"
    )


def test_same_input_again_makes_no_paypal_write(target, clinic) -> None:
    data = clinic(customers=8, invoices=20)
    assert target.run(data.messages()).returncode == 0
    target.sandbox.paypal.clear_call_log()
    again = target.run(data.messages())
    assert again.returncode == 0, again.stderr[-3000:]
    assert target.sandbox.paypal.writes() == []


def test_status_changes_reach_paypal(target, clinic, by_reference) -> None:
    data = clinic(customers=6, invoices=10)
    assert target.run(data.messages()).returncode == 0
    sent = [i for i, h in data.invoices.items() if h["target_status"] == "SENT"]
    draft = [i for i, h in data.invoices.items() if h["target_status"] == "DRAFT"]
    data.invoices[sent[0]].update(
        target_status="PAID", payment_date="2026-10-01", payment_method="CASH"
    )
    data.invoices[sent[1]]["target_status"] = "VOID"
    data.invoices[draft[0]]["target_status"] = "VOID"
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    assert held[sent[0]][0]["status"] == "MARKED_AS_PAID"
    assert held[sent[1]][0]["status"] == "CANCELLED"
    assert draft[0] not in held, "a voided draft is deleted"


def test_changed_email_updates_the_recipient_on_open_invoices(target, clinic, by_reference):
    data = clinic(customers=3, invoices=12)
    assert target.run(data.messages()).returncode == 0
    customer = data.invoices[next(iter(data.invoices))]["customer_id"]
    data.customers[customer]["email"] = "new.address@example.com"
    done = target.run(data.messages(only={"customers"}))
    assert done.returncode == 0, done.stderr[-3000:]
    checked = 0
    for invoice_id, header in data.invoices.items():
        if header["customer_id"] != customer or header["target_status"] == "VOID":
            continue
        invoice = by_reference(target.sandbox)[invoice_id][0]
        email = invoice["primary_recipients"][0]["billing_info"]["email_address"]
        if invoice["status"] in ("DRAFT", "UNPAID"):
            assert email == "new.address@example.com", invoice_id
            checked += 1
    assert checked, "the customer has open invoices to update"


def test_paid_by_hand_in_paypal_is_never_overwritten(target, clinic, by_reference) -> None:
    data = clinic(customers=4, invoices=10)
    assert target.run(data.messages()).returncode == 0
    sent = next(i for i, h in data.invoices.items() if h["target_status"] == "SENT")
    paypal_id = by_reference(target.sandbox)[sent][0]["id"]
    target.sandbox.paypal.mark_paid(paypal_id)
    data.invoices[sent]["note"] = "Edited in Cliniko after the patient paid in PayPal"
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    invoice = target.sandbox.paypal.invoice(paypal_id)
    assert invoice["status"] == "PAID"
    assert invoice["detail"].get("note") != data.invoices[sent]["note"]
    from target_paypal.store import Store

    xref = Store(target.config["store_url"]).xref(sent)
    assert xref is not None and xref.conflict and "PAID in PayPal" in xref.conflict


def test_refused_credentials_stop_the_run_with_one_line(target, clinic) -> None:
    data = clinic(customers=2, invoices=3)
    done = target.run(data.messages(), client_secret="not-the-secret")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "refused the client id/secret" in errors[0]
    assert "not-the-secret" not in done.stderr and done.stdout == ""
    assert "Traceback" not in done.stderr


def test_a_second_run_of_a_held_store_stops_before_calling_paypal(target, clinic) -> None:
    data = clinic(customers=2, invoices=3)
    running = Store(target.config["store_url"])
    running.hold_run_lock()  # as a run of the same clinic holding it
    target.sandbox.reset_paypal_stats()
    try:
        done = target.run(data.messages())
    finally:
        running.release_run_lock()
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "has held the store since" in errors[0], errors
    assert target.sandbox.paypal_stats()["requests"] == 0, "it called PayPal before stopping"


def test_invoice_created_before_a_crash_is_adopted_not_duplicated(target, clinic, by_reference):
    data = clinic(customers=4, invoices=6)
    assert target.run(data.messages()).returncode == 0
    # A new invoice reaches PayPal, then the target dies before recording it: simulate by
    # creating it in PayPal with our reference, then running with a fresh store.
    first = next(i for i, h in data.invoices.items() if h["target_status"] == "SENT")
    new_store = f"sqlite:///{target.path.parent / 'new.db'}"
    fresh = target.run(data.messages(), store_url=new_store)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    copies = by_reference(target.sandbox)[first]
    assert len(copies) == 1
    from target_paypal.store import Store

    store = Store(new_store)
    assert store.open_dead_letters() == [], "adopted, not refused as a duplicate number"
    assert store.xref(first).paypal_id == copies[0]["id"]


def test_a_bad_record_is_parked_and_the_rest_applied(target, clinic, by_reference) -> None:
    data = clinic(customers=4, invoices=8)
    bad = next(iter(data.invoices))
    data.invoices[bad]["invoice_number"] = "X" * 30  # PayPal allows 25
    done = target.run(data.messages(), log_level="debug")  # debug: a line per parked record
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    assert bad not in held
    assert len(held) == sum(1 for i in data.invoices if data.expected_status(i)) - 1
    parked = [line for line in done.stderr.splitlines() if "Parked invoices record" in line]
    assert len(parked) == 1 and bad in parked[0] and "invoice_number" in parked[0]
    assert "X" * 30 not in done.stderr


def test_a_bad_date_or_a_missing_key_is_parked_not_fatal(target, clinic, by_reference) -> None:
    data = clinic(customers=3, invoices=6)
    ids = list(data.invoices)
    data.invoices[ids[0]]["invoice_date"] = "31/02/2026"
    del data.invoices[ids[1]]["invoice_id"]
    done = target.run(data.messages(), log_level="debug")  # debug: a line per parked record
    assert done.returncode == 0, done.stderr[-3000:]
    parked = [line for line in done.stderr.splitlines() if "Parked invoices record" in line]
    assert len(parked) == 2
    assert any("invoice_date" in line for line in parked)
    assert any("invoice_id is missing" in line for line in parked)
    held = by_reference(target.sandbox)
    assert ids[0] not in held and ids[1] not in held
    assert any(i in held for i in ids[2:])


def test_invoice_waits_for_lines_adding_up_to_its_total(target, clinic, by_reference) -> None:
    data = clinic(customers=3, invoices=6)
    invoice_id = next(i for i, h in data.invoices.items() if h["target_status"] == "SENT")
    data.invoices[invoice_id]["line_count"] = None
    data.lines[invoice_id].append({**data.lines[invoice_id][0], "line_id": invoice_id + "9"})
    data.invoices[invoice_id]["total"] = str(data.expected_total(invoice_id))
    held_back = data.lines[invoice_id].pop()  # Cliniko's total counts a line not yet received
    first = target.run(data.messages())
    assert first.returncode == 0, first.stderr[-3000:]
    assert invoice_id not in by_reference(target.sandbox), "never send half an invoice"
    from target_paypal.store import Store

    letters = Store(target.config["store_url"]).open_dead_letters("invoices")
    assert [d["record_id"] for d in letters] == [invoice_id]
    assert "do not add up" in letters[0]["reason"]
    data.lines[invoice_id].append(held_back)
    second = target.run(data.messages(only={"invoice_lines"}))
    assert second.returncode == 0, second.stderr[-3000:]
    assert by_reference(target.sandbox)[invoice_id][0]["status"] == "UNPAID"
    assert Store(target.config["store_url"]).open_dead_letters("invoices") == []


def test_meltano_test_stream_is_ignored(target) -> None:
    messages = [
        {
            "type": "SCHEMA",
            "stream": "meltano_test_stream",
            "key_properties": ["id"],
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        },
        {"type": "RECORD", "stream": "meltano_test_stream", "record": {"id": 1}},
        {"type": "STATE", "value": {"test": True}},
    ]
    done = target.run("".join(json.dumps(m) + "\n" for m in messages))
    assert done.returncode == 0, done.stderr[-3000:]
    assert target.sandbox.paypal.writes() == []


def test_faults_change_nothing_in_the_result(target, clinic, by_reference) -> None:
    data = clinic(customers=10, invoices=30, seed=3)
    target.sandbox.set_paypal_rate_limit(limit=None, window_seconds=1)  # 429s say retry in 1 s
    target.sandbox.set_paypal_faults(error_5xx=0.1, error_429=0.1, seed=5)
    done = target.run(data.messages())
    assert done.returncode == 0, done.stderr[-3000:]
    assert_paypal_matches(target, data, by_reference)


def test_an_outage_loses_nothing(target, clinic, by_reference) -> None:
    """PayPal unreachable: the run stops with one clear line, passes no STATE on and parks
    nothing (the records are fine); what it read stays staged and the next run applies it."""
    data = clinic(customers=5, invoices=10)
    target.sandbox.set_paypal_outage(True)
    down = target.run(data.messages(), retry_max_tries=2)
    assert down.returncode == 1, down.stderr[-3000:]
    stopped = [line for line in down.stderr.splitlines() if "target-paypal stopped" in line]
    assert len(stopped) == 1 and "PayPal unreachable" in stopped[0], down.stderr[-3000:]
    assert "HTTP 503" in stopped[0] and "next run" in stopped[0]
    assert states_passed_on(down.stdout) == [], (
        "a run stopped by an outage passed STATE on: Meltano would move its bookmark past "
        "records that never reached PayPal"
    )
    assert by_reference(target.sandbox) == {}
    from target_paypal.store import Store

    store = Store(target.config["store_url"])
    assert store.open_dead_letters("invoices") == []
    assert set(store.dirty_invoice_ids()) == set(data.invoices)
    target.sandbox.set_paypal_outage(False)
    empty = '{"type": "STATE", "value": {"bookmarks": {"invoices": {"n": 2}}}}\n'
    back = target.run(empty)
    assert back.returncode == 0, back.stderr[-3000:]
    assert_paypal_matches(target, data, by_reference)
    assert states_passed_on(back.stdout)[-1:] == [{"bookmarks": {"invoices": {"n": 2}}}], (
        "once PayPal was back and everything was applied, the target did not pass the input's "
        f"last STATE on to Meltano; its standard output: {back.stdout[-500:]!r}"
    )


def test_output_and_logs_hold_no_secret_token_name_or_email(target, clinic) -> None:
    data = clinic(customers=4, invoices=6)
    done = target.run(data.messages())
    text = done.stdout + done.stderr
    assert target.sandbox.paypal_client_secret not in text
    for customer in data.customers.values():
        for personal in (customer["email"], customer["surname"], customer["given_name"]):
            assert personal not in text
    assert "access_token" not in text and "Bearer" not in text
