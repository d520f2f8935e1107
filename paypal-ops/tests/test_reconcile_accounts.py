"""Reconciliation across PayPal accounts: a business with an account of its own
(invoicers.by_business) has its invoices listed there, and compared with the rest as one.

`paypal-ops reconcile` runs in process on the sandbox's PayPal with three merchant accounts: the
default, North (named by the rules) and South (named only by the store: a business moved back).
Cliniko's side is given as the mapper would make it (read_cliniko and the mapping are tested
elsewhere): these tests are about PayPal's side.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from paypal_ops import reconcile_sources
from paypal_ops.cli import cli
from paypal_ops.reconcile import Wanted
from target_paypal.client import PayPalClient
from target_paypal.store import Store, Xref

NORTH = "NORTH_PAYPAL_CLIENT_ID:NORTH_PAYPAL_CLIENT_SECRET"
SOUTH = "SOUTH_PAYPAL_CLIENT_ID:SOUTH_PAYPAL_CLIENT_SECRET"
ACCOUNTS = {
    NORTH: ("north-client", "north-secret", "accounts@north.example"),
    SOUTH: ("south-client", "south-secret", "accounts@south.example"),
}
RULES = """\
invoices:
  number_prefix: "CLK-"
invoicers:
  by_business:
    "1001":
      business_name: North Physio
      email: accounts@north.example
      client_id_env: NORTH_PAYPAL_CLIENT_ID
      client_secret_env: NORTH_PAYPAL_CLIENT_SECRET
"""
DATE = "2026-10-03"
EMAIL = "pat@example.com"


def body(invoice_id: str, merchant: str) -> dict[str, Any]:
    """A sent invoice as the sync writes Cliniko invoice `invoice_id` (reference, number)."""
    return {
        "detail": {"reference": invoice_id, "invoice_number": f"CLK-{invoice_id}",
                   "currency_code": "AUD", "invoice_date": DATE},
        "invoicer": {"email_address": merchant},
        "primary_recipients": [{"billing_info": {"email_address": EMAIL}}],
        "items": [{"name": "Consult", "quantity": "1",
                   "unit_amount": {"currency_code": "AUD", "value": "110.00"}}],
    }  # fmt: skip


class Clinic:
    """The sandbox's PayPal accounts, the store, the rules file and what Cliniko wants."""

    def __init__(self, sandbox: Any, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.accounts = {None: sandbox.paypal} | {
            key: sandbox.add_paypal_account(*account) for key, account in ACCOUNTS.items()
        }
        self.store_url = f"sqlite:///{tmp_path / 'store.db'}"
        self.store = Store(self.store_url)
        self.rules = tmp_path / "rules.yaml"
        self.rules.write_text(RULES)
        self.out = tmp_path / "reconcile"
        self.wanted: dict[str, Wanted] = {}

    def want(self, invoice_id: str, account: str = "", total: str = "110.00") -> None:
        self.wanted[invoice_id] = Wanted(invoice_id, f"CLK-{invoice_id}", "SENT", DATE,
                                         Decimal(total), Decimal("0.00"), "c1",
                                         account=account)  # fmt: skip

    def write(self, invoice_id: str, key: str | None, cancel: bool = False) -> str:
        """The invoice in account `key` (the store's xref names it unless `cancel`)."""
        state = self.accounts[key]
        invoice = state.add_invoice(body(invoice_id, state.rules.merchant_email), send=True)
        if cancel:
            state.cancel(invoice["id"])
        else:
            self.store.save_xref(Xref(invoice_id, invoice["id"], f"CLK-{invoice_id}", "UNPAID",
                                      None, None, account=key))  # fmt: skip
        return str(invoice["id"])

    def reconcile(self, **variables: str) -> Result:
        env = {
            "PAYPAL_OPS_PAYPAL_BASE_URL": self.sandbox.paypal_url,
            "PAYPAL_OPS_PAYPAL_CLIENT_ID": self.sandbox.paypal_client_id,
            "PAYPAL_OPS_PAYPAL_CLIENT_SECRET": self.sandbox.paypal_client_secret,
            "PAYPAL_OPS_ALERT_URLS": "",
        }
        for key, (client_id, secret, _) in ACCOUNTS.items():
            id_name, secret_name = key.split(":")
            env |= {id_name: client_id, secret_name: secret}
        args = ["--store-url", self.store_url, "reconcile", "--cliniko-api-key", "unused",
                "--mapping-file", str(self.rules), "--output-dir", str(self.out)]  # fmt: skip
        return CliRunner().invoke(cli, args, env={**env, **variables})

    def report(self) -> dict[str, Any]:
        return json.loads((self.out / "reconcile.json").read_text())


@pytest.fixture
def accounts(make_sandbox, tmp_path, monkeypatch) -> Clinic:
    clinic = Clinic(make_sandbox(patients=3, invoices=3), tmp_path)
    monkeypatch.setattr(reconcile_sources, "read_cliniko", lambda config: {})
    monkeypatch.setattr(reconcile_sources, "wanted_invoices", lambda _, rules: clinic.wanted)
    monkeypatch.setattr(reconcile_sources, "customer_emails", lambda _, rules: {"c1": EMAIL})
    return clinic


def test_reconcile_lists_every_account_and_compares_them_together(accounts) -> None:
    for invoice_id in ("1", "2", "4", "5"):
        accounts.want(invoice_id)
    accounts.want("3", account=NORTH)  # its business's own account
    accounts.write("1", None)
    accounts.write("2", NORTH)
    # 4 moved to North: cancelled in the default account, then written anew in North.
    old = accounts.write("4", None, cancel=True)
    new = accounts.write("4", NORTH)
    accounts.write("5", SOUTH)  # an account the rules no longer name, only the store
    assert accounts.store.accounts_in_use() == [NORTH, SOUTH]

    missing = accounts.reconcile()
    assert missing.exit_code == 1, missing.output
    assert "missing in PayPal 1" in missing.output
    items = accounts.report()["items"]
    assert [(i["kind"], i["cliniko_invoice_id"]) for i in items] == [("missing_in_paypal", "3")]
    assert items[0]["account"] == NORTH  # where to look for it
    assert f"<td>{NORTH}</td>" in (accounts.out / "reconcile.html").read_text()

    accounts.write("3", NORTH)
    matches = accounts.reconcile()
    assert matches.exit_code == 0, matches.output
    assert "Reconciliation: all matches" in matches.output
    assert {row["difference"] for row in accounts.report()["gst_by_month"]} == {"0.00"}
    # The cancelled copy in the old account is no duplicate, and the live one is compared.
    assert old != new and accounts.store.xref("4").paypal_id == new

    # A difference names the account of the copy that differs.
    accounts.want("5", total="99.00")
    different = accounts.reconcile()
    assert different.exit_code == 1, different.output
    [item] = accounts.report()["items"]
    assert (item["kind"], item["account"], item["fields"]) == ("different", SOUTH, ["amount"])


def test_an_account_that_cannot_be_read_stops_reconcile_naming_its_variable(
    accounts, monkeypatch
) -> None:
    def unread(config: dict) -> dict:
        raise AssertionError("Cliniko is read only once every PayPal account can be")

    monkeypatch.setattr(reconcile_sources, "read_cliniko", unread)
    accounts.want("1")
    accounts.write("1", None)

    unset = accounts.reconcile(NORTH_PAYPAL_CLIENT_SECRET="")
    assert unset.exit_code == 2, unset.output
    assert unset.output.strip() == (
        f"reconcile stopped: PayPal account {NORTH}: environment variable "
        "NORTH_PAYPAL_CLIENT_SECRET not set: set it where paypal-ops runs (e.g. in .env), "
        "then run again"
    )
    assert not accounts.out.exists()

    refused = accounts.reconcile(NORTH_PAYPAL_CLIENT_SECRET="not-north-secret")
    assert refused.exit_code == 2, refused.output
    assert refused.output.strip() == (
        f"reconcile stopped: PayPal account {NORTH}: PayPal refused its client id/secret "
        "(HTTP 401 invalid_client): check NORTH_PAYPAL_CLIENT_ID and NORTH_PAYPAL_CLIENT_SECRET "
        "where "
        "paypal-ops runs"
    )
    assert "not-north-secret" not in refused.output and "all matches" not in refused.output


def test_two_keys_naming_one_account_list_its_invoices_once(accounts) -> None:
    accounts.write("1", None)
    credentials = accounts.sandbox.paypal_client_id, accounts.sandbox.paypal_client_secret
    default = PayPalClient(accounts.sandbox.paypal_url, *credentials)
    same = default.for_account(*credentials)  # e.g. a business's own variables hold the default's
    listed = reconcile_sources.list_accounts({None: default, "SAME_ID:SAME_SECRET": same})
    assert [invoice["detail"]["reference"] for invoice in listed] == ["1"]
