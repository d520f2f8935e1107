"""`paypal-ops links`: the open invoices of patients without an email, each with its pay link and,
when asked, its QR code, after a real target run (customers.missing_email: without_email); and
each read in its own PayPal account (a business's own: invoicers.by_business)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner, Result
from target_harness import make_clinic

from paypal_ops.cli import cli
from target_paypal.store import Store, Xref

NORTH = "NORTH_PAYPAL_CLIENT_ID:NORTH_PAYPAL_CLIENT_SECRET"


def links(target, *args: str) -> Result:
    env = {
        "PAYPAL_OPS_PAYPAL_BASE_URL": target.sandbox.paypal_url,
        "PAYPAL_OPS_PAYPAL_CLIENT_ID": target.sandbox.paypal_client_id,
        "PAYPAL_OPS_PAYPAL_CLIENT_SECRET": target.sandbox.paypal_client_secret,
    }
    return CliRunner().invoke(
        cli, ["--store-url", target.config["store_url"], "links", *args], env=env
    )


def test_links_lists_each_open_invoice_sent_without_an_email_with_its_qr_code(
    target, clinic, by_reference, tmp_path
) -> None:
    data = clinic(customers=5, invoices=30)
    without = sorted(data.customers)[:2]
    for customer_id in without:
        data.customers[customer_id]["email"] = None
    assert target.run(data.messages()).returncode == 0
    paypal = {i: copies[0] for i, copies in by_reference(target.sandbox).items()}
    wanted = {
        i
        for i, header in data.invoices.items()
        if header["customer_id"] in without and paypal.get(i, {}).get("status") == "UNPAID"
    }
    assert len(wanted) >= 2, "the seed gives too few open invoices of patients without email"
    paid_since = sorted(wanted)[0]  # paid at the desk after the run: no longer listed
    target.sandbox.paypal_session().post(
        f"{target.sandbox.paypal_url}/v2/invoicing/invoices/{paypal[paid_since]['id']}/payments",
        json={"method": "CASH", "amount": paypal[paid_since]["amount"]},
    ).raise_for_status()

    done = links(target, "--json", "--qr-dir", str(tmp_path / "qr"), "--qr-size", "200")

    assert done.exit_code == 0, done.output
    rows = json.loads(done.output)
    assert {r["invoice_id"] for r in rows} == wanted - {paid_since}
    for row in rows:
        invoice = paypal[row["invoice_id"]]
        assert row["paypal_id"] == invoice["id"] and row["status"] == "UNPAID"
        assert row["pay_link"] == invoice["detail"]["metadata"]["recipient_view_url"]
        assert (row["due"], row["currency"]) == (
            invoice["amount"]["value"],
            invoice["amount"]["currency_code"],
        )
        png = tmp_path / "qr" / f"{invoice['detail']['invoice_number']}.png"
        assert row["qr_code"] == str(png) and png.read_bytes().startswith(b"\x89PNG")
        assert stat.S_IMODE(png.stat().st_mode) == 0o600
    shown = links(target).output
    assert f"Open invoices without a recipient email: {len(rows)}" in shown
    for customer in data.customers.values():  # IDs and links only, never a patient's details
        for value in (customer["given_name"], customer["surname"], customer["email"]):
            assert not value or value not in shown + done.output


def test_links_without_credentials_says_what_to_set(target) -> None:
    done = CliRunner().invoke(
        cli,
        ["--store-url", target.config["store_url"], "links"],
        env={
            "PAYPAL_OPS_PAYPAL_CLIENT_ID": "",
            "TARGET_PAYPAL_CLIENT_ID": "",
        },
    )
    assert done.exit_code != 0 and "no PayPal credentials" in done.output


def test_links_reads_each_invoice_in_its_own_paypal_account(make_sandbox, tmp_path) -> None:
    sandbox = make_sandbox(patients=3, invoices=3)
    north = sandbox.add_paypal_account("north-client", "north-secret", "accounts@north.example")
    data = make_clinic(customers=1, invoices=2, seed=3)
    [customer] = data.customers.values()
    customer["email"] = None
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(store_url)
    store.stage_customers([customer])
    store.stage_invoices(list(data.invoices.values()))
    copies = {}
    for (invoice_id, header), (key, state) in zip(
        sorted(data.invoices.items()), ((None, sandbox.paypal), (NORTH, north)), strict=True
    ):
        number = header["invoice_number"]
        copies[invoice_id] = state.add_invoice(
            {
                "detail": {"reference": invoice_id, "invoice_number": number,
                           "currency_code": "AUD"},
                "invoicer": {"email_address": state.rules.merchant_email},
                "items": [{"name": "Consult", "quantity": "1",
                           "unit_amount": {"currency_code": "AUD", "value": "80.00"}}],
            },  # fmt: skip
            send=True,
        )
        paypal_id = copies[invoice_id]["id"]
        store.save_xref(Xref(invoice_id, paypal_id, number, "UNPAID", None, None, account=key))
    env = {
        "PAYPAL_OPS_PAYPAL_BASE_URL": sandbox.paypal_url,
        "PAYPAL_OPS_PAYPAL_CLIENT_ID": sandbox.paypal_client_id,
        "PAYPAL_OPS_PAYPAL_CLIENT_SECRET": sandbox.paypal_client_secret,
        "NORTH_PAYPAL_CLIENT_ID": "north-client",
        "NORTH_PAYPAL_CLIENT_SECRET": "north-secret",
    }
    args = ["--store-url", store_url, "links", "--json", "--qr-dir", str(tmp_path / "qr")]

    done = CliRunner().invoke(cli, args, env=env)

    assert done.exit_code == 0, done.output
    rows = {row["invoice_id"]: row for row in json.loads(done.output)}
    assert rows.keys() == copies.keys()
    for invoice_id, invoice in copies.items():
        row = rows[invoice_id]
        assert (row["paypal_id"], row["status"], row["due"]) == (invoice["id"], "UNPAID", "80.00")
        assert row["pay_link"] == invoice["detail"]["metadata"]["recipient_view_url"]
        assert Path(row["qr_code"]).read_bytes().startswith(b"\x89PNG")

    unset = CliRunner().invoke(cli, args, env={**env, "NORTH_PAYPAL_CLIENT_ID": ""})
    assert unset.exit_code == 1
    assert f"links stopped: PayPal account {NORTH}: environment variable " in unset.output
    assert "NORTH_PAYPAL_CLIENT_ID not set" in unset.output
