"""PayPal webhooks of several PayPal accounts: each account's webhook has an id of its own, and
the receiver (`paypal-ops webhooks --webhook-id [ACCOUNT_KEY=]ID ...`) takes one per account.

The sandbox serves two merchant accounts on one port (the default and North), each sending its
own signed events to the receiver for its own webhook id. Every refusal has a positive control.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from webhook_harness import Served

from paypal_ops import webhooks
from paypal_ops.accounts import AccountClients
from paypal_ops.cli import cli
from paypal_ops.webhook_verify import (
    CertificateSource,
    OfflineVerifier,
    OnlineVerifier,
    WebhookIds,
    parse_allowed,
)
from paypal_ops.webhooks import create_app
from target_paypal.client import PayPalClient
from target_paypal.store import Store, Xref

WEBHOOK_ID = "8PT597110X687430LKGECATA"
NORTH_WEBHOOK_ID = "1JE4291016473214CKGECATB"
NORTH = "NORTH_PAYPAL_CLIENT_ID:NORTH_PAYPAL_CLIENT_SECRET"
NORTH_APP = ("north-client", "north-secret", "accounts@north.example")
ENVIRON = {"NORTH_PAYPAL_CLIENT_ID": NORTH_APP[0], "NORTH_PAYPAL_CLIENT_SECRET": NORTH_APP[1]}
BOTH = {None: WEBHOOK_ID, NORTH: NORTH_WEBHOOK_ID}
DEFAULT_CREDENTIALS = (
    "PAYPAL_OPS_PAYPAL_CLIENT_ID",
    "TARGET_PAYPAL_CLIENT_ID",
    "PAYPAL_OPS_PAYPAL_CLIENT_SECRET",
    "TARGET_PAYPAL_CLIENT_SECRET",
)
EMAIL = "jane.citizen@example.com"




def invoice_body(reference: str) -> dict:
    return {
        "detail": {"currency_code": "AUD", "reference": reference, "invoice_date": "2026-03-01"},
        "primary_recipients": [{"billing_info": {"email_address": EMAIL}}],
        "items": [
            {
                "name": "Initial consultation",
                "quantity": "1",
                "unit_amount": {"currency_code": "AUD", "value": "100.00"},
            }
        ],
    }


@dataclass
class Accounts:
    """The sandbox's default and North accounts, and the store both accounts' invoices are in."""

    sandbox: Any
    store: Store
    paypal: dict[str | None, Any]  # account key -> the sandbox account's PayPalState
    url: str = ""

    def open_invoice(self, cliniko_id: str, key: str | None, misfiled: bool = False) -> str:
        """An UNPAID invoice in account `key`, which the store has there (or in the default)."""
        invoice = self.paypal[key].add_invoice(invoice_body(cliniko_id), send=True)
        self.file(cliniko_id, invoice["id"], None if misfiled else key)
        return str(invoice["id"])

    def file(self, cliniko_id: str, paypal_id: str, key: str | None) -> None:
        self.store.save_xref(Xref(cliniko_id, paypal_id, "CLN-1", "UNPAID", "h", None, None, key))

    def settle(self) -> None:
        for state in self.paypal.values():
            assert state.webhooks.wait_idle(10)

    def answers(self, key: str | None) -> list[tuple[int | None, str]]:
        deliveries = self.paypal[key].webhooks.deliveries()
        return [(d.status, d.answer.strip()) for d in deliveries]


@pytest.fixture
def accounts(make_sandbox, tmp_path) -> Iterator[Callable[..., Accounts]]:
    """A receiver taking `ids` (offline or online checks); each account's webhook points to it."""
    served: list[Served] = []

    def make(ids: WebhookIds = BOTH, verify: str = "offline") -> Accounts:
        sandbox = make_sandbox(patients=5, invoices=5)
        north = sandbox.add_paypal_account(*NORTH_APP)
        store = Store(f"sqlite:///{tmp_path / 'store.db'}")
        made = Accounts(sandbox, store, {None: sandbox.paypal, NORTH: north})
        app = Served(create_app(made.store, ids, verifier(sandbox, verify)))
        served.append(app)
        made.url = app.url
        sandbox.set_paypal_webhook(app.url, WEBHOOK_ID)
        sandbox.set_paypal_webhook(app.url, NORTH_WEBHOOK_ID, client_id=NORTH_APP[0])
        return made

    yield make
    for app in served:
        app.stop()


def verifier(sandbox: Any, verify: str) -> OfflineVerifier | OnlineVerifier:
    if verify == "online":
        default = PayPalClient(
            sandbox.paypal_url, sandbox.paypal_client_id, sandbox.paypal_client_secret
        )
        return OnlineVerifier(AccountClients(default, ENVIRON))
    return OfflineVerifier(CertificateSource(parse_allowed(sandbox.paypal_cert_origin)))


def verify_calls(state: Any) -> list[int]:
    return [c.status for c in state.call_log if c.path.endswith("verify-webhook-signature")]


@pytest.mark.parametrize("verify", ["offline", "online"])
def test_an_invoice_paid_in_each_account_is_recorded(accounts, verify, caplog):
    caplog.set_level(logging.INFO, logger="paypal_ops.webhooks")
    clinic = accounts(verify=verify)
    default_id = clinic.open_invoice("300000000000000001", None)
    north_id = clinic.open_invoice("300000000000000002", NORTH)

    clinic.paypal[None].mark_paid(default_id)
    clinic.paypal[NORTH].mark_paid(north_id)
    clinic.settle()

    assert clinic.answers(None) == [(200, "recorded")]
    assert clinic.answers(NORTH) == [(200, "recorded")]
    for cliniko_id in ("300000000000000001", "300000000000000002"):
        assert clinic.store.xref(cliniko_id).paypal_status == "PAID"
    events = {e["paypal_id"]: e["invoice_id"] for e in clinic.store.webhook_events()}
    assert events == {default_id: "300000000000000001", north_id: "300000000000000002"}
    assert f"invoice={north_id} transmission=" in caplog.text
    assert f"account={NORTH}" in caplog.text and "account=default" in caplog.text
    assert "@" not in caplog.text and NORTH_APP[1] not in caplog.text
    if verify == "online":  # each account's own client asked, the default's first
        assert verify_calls(clinic.paypal[NORTH]) == [200]
        assert verify_calls(clinic.paypal[None]) == [200, 200]


def north_delivery(clinic: Accounts) -> tuple[dict[str, str], bytes]:
    """North's genuine delivery of a paid invoice, and a new event the receiver has not seen."""
    clinic.paypal[NORTH].mark_paid(clinic.open_invoice("300000000000000002", NORTH))
    clinic.settle()
    [delivery] = clinic.paypal[NORTH].webhooks.deliveries()
    event = json.loads(delivery.body)
    event["id"] = "WH-NEW0000000000000-00000000000000000"
    return delivery.headers, json.dumps(event).encode()


def test_a_delivery_signed_for_an_unconfigured_webhook_id_is_refused(accounts):
    clinic = accounts()
    _, fresh = north_delivery(clinic)
    webhooks_ = clinic.paypal[NORTH].webhooks

    def post(webhook_id: str) -> requests.Response:
        headers = webhooks_.headers_for(fresh, webhook_id)
        return requests.post(clinic.url, data=fresh, headers=headers, timeout=10)

    reply = post("SOME-OTHER-WEBHOOK")
    assert (reply.status_code, reply.text) == (401, "refused: signature does not verify\n")
    assert len(clinic.store.webhook_events()) == 1
    assert post(NORTH_WEBHOOK_ID).status_code == 200  # control
    assert len(clinic.store.webhook_events()) == 2


def test_an_account_without_its_webhook_id_is_refused(accounts):
    """Before: one --webhook-id, and another account's events answered 401, never recorded."""
    clinic = accounts(ids={None: WEBHOOK_ID})
    north_id = clinic.open_invoice("300000000000000002", NORTH)
    clinic.paypal[NORTH].mark_paid(north_id)
    clinic.settle()
    assert set(clinic.answers(NORTH)) == {
        (401, "refused: signature does not verify")
    }
    assert clinic.store.xref("300000000000000002").paypal_status == "UNPAID"
    assert clinic.store.webhook_events() == []


def test_an_event_for_an_invoice_in_another_account_is_ignored(accounts, caplog):
    """The store has North's invoice in the default account: a misconfigured receiver."""
    clinic = accounts()
    north_id = clinic.open_invoice("300000000000000002", NORTH, misfiled=True)
    clinic.paypal[NORTH].mark_paid(north_id)
    clinic.settle()

    assert clinic.answers(NORTH) == [(200, "ignored: the invoice is in another PayPal account")]
    assert clinic.store.xref("300000000000000002").paypal_status == "UNPAID"
    assert clinic.store.webhook_events() == []
    [warning] = [r for r in caplog.records if r.name == "paypal_ops.webhooks"]
    assert warning.levelno == logging.WARNING
    assert north_id in warning.getMessage() and NORTH in warning.getMessage()
    assert "@" not in caplog.text

    # Once the store and the receiver agree, PayPal's resend of the event is recorded.
    clinic.file("300000000000000002", north_id, NORTH)
    [event] = clinic.paypal[NORTH].webhooks.events()
    clinic.paypal[NORTH].webhooks.resend(event["id"])
    clinic.settle()
    assert clinic.answers(NORTH)[-1] == (200, "recorded")
    assert clinic.store.xref("300000000000000002").paypal_status == "PAID"


@pytest.fixture
def invoke(tmp_path, monkeypatch) -> Callable[..., tuple[Any, dict]]:
    """Run `paypal-ops webhooks ARGS` up to serving, with `env`: its exit and its ids."""
    started: dict = {}
    monkeypatch.setattr(webhooks.uvicorn, "run", lambda *a, **k: None)
    monkeypatch.setattr(webhooks, "create_app", lambda _s, ids, *a: started.update(ids=ids))
    unset = ("PAYPAL_OPS_WEBHOOK_ID", "PAYPAL_WEBHOOK_ID", *ENVIRON, *DEFAULT_CREDENTIALS)
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    store = ["--store-url", f"sqlite:///{tmp_path / 'store.db'}", "webhooks"]

    def run(*args: str, **env: str) -> tuple[Any, dict]:
        result = CliRunner().invoke(cli, [*store, *args], env=env)
        return result, started.pop("ids", None)

    return run


def test_webhook_ids_from_options_and_from_the_environment(invoke):
    result, ids = invoke("--webhook-id", f"{NORTH}={NORTH_WEBHOOK_ID}", "--webhook-id", WEBHOOK_ID)
    assert result.exit_code == 0, result.output
    assert list(ids.items()) == [(None, WEBHOOK_ID), (NORTH, NORTH_WEBHOOK_ID)]  # default first
    _, ids = invoke(PAYPAL_OPS_WEBHOOK_ID=f"{WEBHOOK_ID}  {NORTH}={NORTH_WEBHOOK_ID}\n")
    assert ids == BOTH  # a variable holds several, split on whitespace
    _, ids = invoke(PAYPAL_WEBHOOK_ID=WEBHOOK_ID)
    assert ids == {None: WEBHOOK_ID}


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ([f"{NORTH}="], f"'{NORTH}=' has no webhook id"),
        (["north_id:north_secret=WH-1"], "'north_id:north_secret' is not an account key"),
        (["NORTH_PAYPAL_CLIENT_ID=WH-1"], "'NORTH_PAYPAL_CLIENT_ID' is not an account key"),
        ([WEBHOOK_ID, "WH-2"], "two webhook ids for the default account"),
        ([f"{NORTH}=WH-1", f"{NORTH}=WH-2"], f"two webhook ids for the {NORTH} account"),
        ([WEBHOOK_ID, f"{NORTH}={WEBHOOK_ID}"], f"webhook id {WEBHOOK_ID} is given for two"),
    ],
)
def test_bad_webhook_ids_are_usage_errors(invoke, values, error):
    result, ids = invoke(*(arg for value in values for arg in ("--webhook-id", value)))
    assert (result.exit_code, ids) == (2, None)
    [line] = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert line.startswith("Error: Invalid value for '--webhook-id': ") and error in line, line


def test_online_checks_need_each_accounts_variables(invoke):
    args = ("--verify", "online", "--webhook-id", f"{NORTH}={NORTH_WEBHOOK_ID}")
    result, ids = invoke(*args)
    assert (result.exit_code, ids) == (2, None)
    assert "NORTH_PAYPAL_CLIENT_ID and NORTH_PAYPAL_CLIENT_SECRET not set" in result.output
    result, ids = invoke(*args, **ENVIRON)  # control; no default credentials needed
    assert (result.exit_code, ids) == (0, {NORTH: NORTH_WEBHOOK_ID}), result.output
    result, _ = invoke("--verify", "online", "--webhook-id", WEBHOOK_ID, **ENVIRON)
    assert result.exit_code == 2 and "no PayPal credentials" in result.output
