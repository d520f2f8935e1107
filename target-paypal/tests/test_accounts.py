"""A business with a PayPal account of its own: its invoices are written there, and only there."""

from __future__ import annotations

import json

import sqlalchemy as sa

from target_paypal.accounts import account_key
from target_paypal.store import Store

SECOND_ID, SECOND_SECRET = "cronulla-client-id", "cronulla-secret"
SECOND_EMAIL = "accounts@cronulla.example"
NAMES = {
    "client_id_env": "CRONULLA_PAYPAL_CLIENT_ID",
    "client_secret_env": "CRONULLA_PAYPAL_SECRET",
}
ENV = {"CRONULLA_PAYPAL_CLIENT_ID": SECOND_ID, "CRONULLA_PAYPAL_SECRET": SECOND_SECRET}
KEY = account_key(NAMES)


def in_account(state) -> dict[str, dict]:
    """The account's invoices by Cliniko id (every copy: a reference seen twice fails)."""
    found: dict[str, dict] = {}
    for invoice in state.invoices():
        reference = invoice["detail"]["reference"]
        assert reference not in found, f"two copies of {reference} in one account"
        found[reference] = invoice
    return found


def letters(target) -> dict[str, str]:
    store = Store(target.config["store_url"])
    return {d["record_id"]: d["reason"] for d in store.open_dead_letters("invoices")}


def accounts_in_store(target) -> dict[str, str | None]:
    engine = sa.create_engine(target.config["store_url"])
    with engine.connect() as conn:
        query = "SELECT invoice_id, account FROM xrefs WHERE paypal_id IS NOT NULL"
        rows = conn.execute(sa.text(query)).all()
    engine.dispose()
    return dict(rows)  # type: ignore[arg-type]


def second_business(data, every: int = 2) -> set[str]:
    """Give every other live invoice to a business with its own PayPal account."""
    live = [i for i, h in sorted(data.invoices.items()) if h["target_status"] != "VOID"]
    moved = set(live[::every])
    for invoice_id in moved:
        header = data.invoices[invoice_id]
        header["invoicer"] = {"business_name": "Cronulla Physio", "email_address": SECOND_EMAIL}
        header["paypal_account"] = NAMES
    return moved


def test_each_invoice_is_written_to_its_business_account_and_only_there(target, clinic) -> None:
    second = target.sandbox.add_paypal_account(SECOND_ID, SECOND_SECRET, SECOND_EMAIL)
    data = clinic(customers=4, invoices=16)
    theirs = second_business(data)
    done = target.run(data.messages(), env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    assert letters(target) == {}

    default, own = in_account(target.sandbox.paypal), in_account(second)
    assert set(own) == theirs
    live = {i for i, h in data.invoices.items() if h["target_status"] != "VOID"}
    assert set(default) == live - theirs
    for invoice in own.values():  # shown as the business, from the account's own email
        assert invoice["invoicer"]["email_address"] == SECOND_EMAIL
        assert invoice["invoicer"]["business_name"] == "Cronulla Physio"
        assert invoice["invoicer"]["tax_id"] == target.config["invoicer_tax_id"]  # the default's
    for invoice in default.values():
        assert invoice["invoicer"]["email_address"] == target.config["invoicer_email"]
    assert accounts_in_store(target) == {i: KEY if i in theirs else None for i in live}
    # The business's account held nothing when this store first wrote to it, so its invoices
    # were created without a search by reference first (store/first_writes.py, per account).
    paths = [(c.method, c.path) for c in second.call_log]
    assert not [p for p in paths if p[1].endswith("/search-invoices")], paths
    assert paths.count(("GET", "/v2/invoicing/invoices")) == 1  # is the account empty?

    # Nothing changed: nothing is written to either account.
    target.sandbox.paypal.clear_call_log()
    second.clear_call_log()
    assert target.run(data.messages(), env=ENV).returncode == 0
    assert target.sandbox.paypal.writes() == [] and second.writes() == []


def test_an_account_without_its_variables_or_with_refused_ones_parks_its_invoices_only(
    target, clinic
) -> None:
    second = target.sandbox.add_paypal_account(SECOND_ID, SECOND_SECRET, SECOND_EMAIL)
    data = clinic(customers=4, invoices=12)
    theirs = second_business(data)
    done = target.run(data.messages())  # the variables are not set
    assert done.returncode == 0, done.stderr[-2000:]
    unset = (
        f"PayPal account {KEY}: environment variables CRONULLA_PAYPAL_CLIENT_ID and "
        "CRONULLA_PAYPAL_SECRET not set: set them where the pipeline runs (e.g. in .env), then "
        "run again"
    )
    assert letters(target) == dict.fromkeys(theirs, unset)
    assert in_account(second) == {} and not set(in_account(target.sandbox.paypal)) & theirs

    wrong = {**ENV, "CRONULLA_PAYPAL_SECRET": "not-the-secret"}
    assert target.run(data.messages(), env=wrong).returncode == 0
    refused = (
        f"PayPal account {KEY}: PayPal refused its client id/secret (HTTP 401 invalid_client): "
        "check CRONULLA_PAYPAL_CLIENT_ID and CRONULLA_PAYPAL_SECRET where the pipeline runs"
    )
    assert letters(target) == dict.fromkeys(theirs, refused)
    assert SECOND_SECRET not in target.run(data.messages(), env=wrong).stderr

    # Set right, the next run writes them (tried again every run, nothing new needed).
    assert target.run(data.messages(state={}, only=set()), env=ENV).returncode == 0
    assert letters(target) == {}
    assert set(in_account(second)) == theirs


def test_an_invoice_moved_to_another_account_waits_until_its_old_copy_is_cancelled(
    target, clinic
) -> None:
    second = target.sandbox.add_paypal_account(SECOND_ID, SECOND_SECRET, SECOND_EMAIL)
    data = clinic(customers=4, invoices=12)
    assert target.run(data.messages()).returncode == 0
    before = in_account(target.sandbox.paypal)
    open_ = sorted(i for i, inv in before.items() if inv["status"] in ("SENT", "UNPAID"))
    moving, voided = open_[0], open_[1]

    # The rules now put both in the business's own account; one is then voided in Cliniko.
    for invoice_id in (moving, voided):
        data.invoices[invoice_id]["paypal_account"] = NAMES
        data.invoices[invoice_id]["invoicer"] = {"email_address": SECOND_EMAIL}
    data.invoices[voided]["target_status"] = "VOID"
    assert target.run(data.messages(), env=ENV).returncode == 0
    number = before[moving]["detail"]["invoice_number"]
    assert letters(target) == {
        moving: f"PayPal account default: invoice {moving} is there as {number} (UNPAID), and "
        f"the rules now put its business in {KEY}: cancel it there (the next run then creates "
        "it in the new account), or put the rules back"
    }
    assert in_account(second) == {}  # never two payable copies
    assert in_account(target.sandbox.paypal)[voided]["status"] == "CANCELLED"  # where it was

    # A person cancels the old copy: the next run creates the invoice in its new account.
    session = target.sandbox.paypal_session()
    paypal_id = before[moving]["id"]
    cancelled = session.post(
        f"{target.sandbox.paypal_url}/v2/invoicing/invoices/{paypal_id}/cancel",
        json={"send_to_invoicer": False, "send_to_recipient": False},
    )
    assert cancelled.status_code == 204, cancelled.text
    assert target.run(data.messages(), env=ENV).returncode == 0
    assert letters(target) == {}
    assert set(in_account(second)) == {moving}
    assert accounts_in_store(target)[moving] == KEY


def test_a_dry_run_plans_each_accounts_writes_and_writes_to_neither(
    target, clinic, tmp_path
) -> None:
    second = target.sandbox.add_paypal_account(SECOND_ID, SECOND_SECRET, SECOND_EMAIL)
    data = clinic(customers=4, invoices=12)
    theirs = second_business(data)
    plan_dir = tmp_path / "plan"
    done = target.run(data.messages(), env=ENV, dry_run=True, plan_dir=str(plan_dir))
    assert done.returncode == 0, done.stderr[-2000:]
    assert target.sandbox.paypal.writes() == [] and second.writes() == []
    plan = json.loads((plan_dir / "plan.json").read_text())
    live = [h for h in data.invoices.values() if h["target_status"] != "VOID"]
    assert plan["operations"]["create"]["count"] == len(live) > len(theirs)
    assert "parked" not in plan["invoices"], plan["invoices"]


def test_a_recipient_kept_only_in_another_account_is_read_back_from_there(
    target, clinic
) -> None:
    """A patient all of whose invoices closed in the business's own account is cut down to ids
    (store/kept.py); a new invoice of theirs in the default account reads the recipient back
    from the invoice in the other account that holds it."""
    second = target.sandbox.add_paypal_account(SECOND_ID, SECOND_SECRET, SECOND_EMAIL)
    data = clinic(customers=8, invoices=40, seed=3)
    statuses: dict[str, set[str]] = {}
    for header in data.invoices.values():
        statuses.setdefault(header["customer_id"], set()).add(header["target_status"])
    customer_id = sorted(c for c, s in statuses.items() if "PAID" in s and s <= {"PAID", "VOID"})[0]
    for header in data.invoices.values():
        if header["customer_id"] == customer_id:
            header["paypal_account"] = NAMES
            header["invoicer"] = {"email_address": SECOND_EMAIL}
    assert target.run(data.messages(), env=ENV).returncode == 0
    assert {i["detail"]["reference"] for i in second.invoices()} == {
        i for i, h in data.invoices.items()
        if h["customer_id"] == customer_id and h["target_status"] == "PAID"
    }  # fmt: skip

    new_id, template = "299", next(iter(data.invoices.values()))
    data.invoices[new_id] = {
        **{k: v for k, v in template.items() if k not in ("paypal_account", "invoicer")},
        "invoice_id": new_id, "customer_id": customer_id, "invoice_number": "CLN-NEW-1",
        "target_status": "SENT", "payment_date": None, "payment_method": None,
        "line_count": 1, "total": "50.00",
    }  # fmt: skip
    data.lines[new_id] = [
        {"line_id": "2991", "invoice_id": new_id, "position": 0, "name": "Consultation",
         "quantity": "1", "unit_amount": "50.00", "tax_name": "GST-free", "tax_percent": "0"}
    ]  # fmt: skip
    done = target.run(data.messages(only={"invoices", "invoice_lines"}), env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert letters(target) == {}
    sent = in_account(target.sandbox.paypal)[new_id]
    billing = sent["primary_recipients"][0]["billing_info"]
    assert billing["email_address"] == data.customers[customer_id]["email"]
