"""Alerts reach a local webhook sink and a local SMTP server, once per run, naming IDs and counts
but no person; a channel that is down never fails the sync nor shows its secrets."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from paypal_ops.reconcile_alert import reconciliation_alert
from target_paypal.alerts import (
    Alert,
    approvals_alert,
    channel,
    notify,
    parse_urls,
    wait_words,
)
from target_paypal.store import Store
from target_paypal.store.schema import approvals
from target_paypal.store.sql import upsert_by_key

SMTP_USER, SMTP_PASSWORD = "alerts", "Sm7p-pa55word"
WEBHOOK_TOKEN = "T000/B000/w3bhookT0ken"


@dataclass
class Webhook:
    port: int
    posts: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        # Apprise's JSON webhook, its payload reduced to Slack's {"text": ...}.
        return (
            f"json://127.0.0.1:{self.port}/services/{WEBHOOK_TOKEN}"
            "?:message=text&:version&:title&:type&:attachments"
        )

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]


@dataclass
class Mailbox:
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    @property
    def url(self) -> str:
        return (
            f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}"
            "?smtp=127.0.0.1&secure=no&from=sync@clinic.example&to=ops@clinic.example"
        )

    def texts(self) -> list[str]:
        out = []
        for message in self.messages:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            content = body.get_content().replace("\r\n", "\n")
            out.append(f"{message['Subject']}\n{content}")
        return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    sink = Webhook(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            size = int(self.headers.get("Content-Length") or 0)
            sink.posts.append(json.loads(self.rfile.read(size)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
            box.messages.append(
                email.message_from_bytes(envelope.content, policy=email.policy.default)
            )
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=box.port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield box
    controller.stop()


def personal_data(clinic) -> set[str]:
    """Everything about a person or a treatment in the generated input."""
    found = set()
    for customer in clinic.customers.values():
        found |= {customer["email"], customer["given_name"], customer["surname"]}
        found.add(customer["address"]["address_line_1"])
    for lines in clinic.lines.values():
        found |= {line["name"] for line in lines}
    return found


def last_run(target) -> int:
    return int(Store(target.config["store_url"]).runs(limit=1)[0]["id"])


def parking_clinic(clinic):
    """Two invoices in US dollars, and the invoices of a patient who never arrives."""
    data = clinic(customers=6, invoices=10, seed=5)
    usd = sorted(data.invoices)[:2]
    for invoice_id in usd:
        data.invoices[invoice_id]["currency_code"] = "USD"
    missing = next(data.invoices[i]["customer_id"] for i in sorted(data.invoices) if i not in usd)
    orphans = sorted(
        i for i, h in data.invoices.items() if h["customer_id"] == missing and i not in usd
    )
    del data.customers[missing]
    return data, usd, orphans, missing


def test_parked_records_alert_once_on_the_webhook_and_by_email(
    target, clinic, webhook, mailbox
) -> None:
    data, usd, orphans, missing = parking_clinic(clinic)
    everyone = personal_data(clinic(customers=6, invoices=10, seed=5))

    result = target.run(data.messages(), alert_urls=[webhook.url, mailbox.url])

    assert result.returncode == 0, result.stderr[-2000:]
    run_id = last_run(target)
    assert len(webhook.posts) == 1 and len(mailbox.messages) == 1, result.stderr[-2000:]
    assert list(webhook.posts[0]) == ["text"]  # Slack's incoming-webhook shape
    assert f"run {run_id} parked {len(usd) + len(orphans)} new record(s)" in webhook.texts()[0]
    for text in webhook.texts() + mailbox.texts():
        assert f"run {run_id}" in text
        assert f"{len(usd)} invoices: currency_code is not AUD" in text
        for invoice_id in usd + orphans:
            assert invoice_id in text
        assert missing in text  # the reason names the patient by id
        leaked = {value for value in everyone if value in text}
        assert not leaked, f"personal data in an alert: {leaked}"
    assert f"run {run_id}" in mailbox.messages[0]["Subject"]
    assert f"\nNewly parked in this run: {len(usd) + len(orphans)}\n" in mailbox.texts()[0]
    assert SMTP_PASSWORD not in result.stderr and WEBHOOK_TOKEN not in result.stderr

    # The same input again: the parked invoices are retried and still parked, nothing new.
    again = target.run(data.messages(), alert_urls=[webhook.url, mailbox.url])
    assert again.returncode == 0, again.stderr[-2000:]
    assert last_run(target) == run_id + 1
    assert len(webhook.posts) == 1 and len(mailbox.messages) == 1

    # And `paypal-ops notify` after it finds nothing left to say.
    done = ops_notify(target.config["store_url"], webhook.url, mailbox.url)
    assert done.returncode == 0, done.stderr
    assert len(webhook.posts) == 1 and len(mailbox.messages) == 1


def test_a_run_with_nothing_parked_sends_no_alert(target, clinic, webhook, mailbox) -> None:
    data = clinic(customers=4, invoices=6, seed=3)
    result = target.run(data.messages(), alert_urls=[webhook.url, mailbox.url])
    assert result.returncode == 0, result.stderr[-2000:]
    summary = Store(target.config["store_url"]).runs(limit=1)[0]["counts"]
    assert summary["invoices"]["created"] > 0 and summary["invoices"]["parked"] == 0
    assert webhook.posts == [] and mailbox.messages == []


def test_a_paid_invoice_removed_in_cliniko_alerts_once_as_a_conflict(
    target, clinic, webhook
) -> None:
    data = clinic(customers=4, invoices=10, seed=3)
    assert target.run(data.messages(), alert_urls=[webhook.url]).returncode == 0
    assert webhook.posts == []
    paid = next(i for i, h in data.invoices.items() if h["target_status"] == "PAID")
    data.invoices[paid]["target_status"] = "VOID"  # archived in Cliniko with its items
    for line in data.lines[paid]:
        line["deleted"] = True

    result = target.run(data.messages(), alert_urls=[webhook.url])

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(webhook.posts) == 1, result.stderr[-2000:]
    text = webhook.texts()[0]
    assert f"run {last_run(target)} found 1 new conflict(s)" in text
    assert f"1 invoices: paid in PayPal but void in Cliniko; IDs {paid}" in text
    again = target.run(data.messages(), alert_urls=[webhook.url])
    assert again.returncode == 0 and len(webhook.posts) == 1, "the same conflict alerted again"


def test_a_channel_that_is_down_warns_in_one_line_without_secrets(
    target, clinic, webhook, mailbox
) -> None:
    data, usd, orphans, _ = parking_clinic(clinic)
    down_mail = mailbox.url.replace(f":{mailbox.port}", f":{free_port()}")
    down_hook = webhook.url.replace(f":{webhook.port}", f":{free_port()}")

    result = target.run(data.messages(), alert_urls=[down_hook, down_mail])

    assert result.returncode == 0, result.stderr[-2000:]
    assert webhook.posts == [] and mailbox.messages == []
    warnings = [line for line in result.stderr.splitlines() if "not delivered to" in line]
    assert len(warnings) == 2, result.stderr[-3000:]
    assert any("mailto://127.0.0.1:" in w for w in warnings)
    assert any("json://127.0.0.1:" in w for w in warnings)
    for secret in (SMTP_PASSWORD, WEBHOOK_TOKEN, SMTP_USER + ":"):
        assert secret not in result.stderr
    run_id = last_run(target)
    assert Store(target.config["store_url"]).runs(limit=1)[0]["status"] == "succeeded"

    # Nothing was delivered, so the run is not marked notified: `notify` delivers it later.
    later = ops_notify(target.config["store_url"], webhook.url, mailbox.url)
    assert later.returncode == 0, later.stderr
    assert len(webhook.posts) == 1 and len(mailbox.messages) == 1
    assert f"run {run_id} parked {len(usd) + len(orphans)} new record(s)" in webhook.texts()[0]


def ops_notify(store_url: str, *urls: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "paypal_ops.cli", "--store-url", store_url, "notify"]
    for url in urls:
        command += ["--alert-url", url]
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_ALERT_URLS")}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**clean, **(env or {})}
    )


def test_notify_alerts_a_crashed_run_once(tmp_path, webhook, mailbox) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    finished = store.start_run()
    store.finish_run(finished, "succeeded", {"invoices": {"created": 3}})
    crashed = store.start_run()  # killed mid-run: its row stays "running"
    store.park("invoices", "200000000000000077", "PayPal unavailable (HTTP 503)")
    store.note_outcome(crashed, "invoices", "200000000000000077", "parked", "PayPal unavailable")

    first = ops_notify(url, webhook.url, mailbox.url)

    assert first.returncode == 0, first.stderr
    assert f"Run {crashed} (failed): alert sent to 2 of 2 channels" in first.stdout
    assert len(webhook.posts) == 1 and len(mailbox.messages) == 1
    for text in webhook.texts() + mailbox.texts():
        assert f"target-paypal run {crashed} did not finish (status running" in text
        assert "200000000000000077" in text
        assert f"run {finished} " not in text
    assert store.notified(f"run:{crashed}")

    second = ops_notify(url, webhook.url, mailbox.url)
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""
    assert len(webhook.posts) == 1 and len(mailbox.messages) == 1

    # A later crash, with the channels from the utility's setting (a JSON list, as Meltano
    # passes an array setting in the environment).
    again = store.start_run()
    third = ops_notify(url, env={"PAYPAL_OPS_ALERT_URLS": json.dumps([webhook.url])})
    assert third.returncode == 0, third.stderr
    assert len(webhook.posts) == 2 and f"run {again} did not finish" in webhook.texts()[1]


def test_notify_without_channels_or_with_all_down_exits_1(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store(url).start_run()
    none = ops_notify(url)
    assert none.returncode == 1 and "no alert URL" in none.stderr
    down = f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{free_port()}?smtp=127.0.0.1&to=a@b.c"
    failed = ops_notify(url, down)
    assert failed.returncode == 1
    assert "reached no channel (mailto://127.0.0.1:" in failed.stderr
    assert SMTP_PASSWORD not in failed.stderr + failed.stdout


REPORT = {
    "ok": False,
    "generated_at": "2026-11-27T06:00:00+00:00",
    "counts": {
        "missing_in_paypal": 1,
        "not_in_cliniko": 0,
        "different": 2,
        "conflict": 0,
        "paid_in_paypal_open_in_cliniko": 1,
    },
    "items": [
        {
            "kind": "missing_in_paypal",
            "cliniko_invoice_id": "101",
            "paypal_id": None,
            "invoice_number": "CLK-10",
            "fields": [],
            "detail": "not in PayPal",
        },
        {
            "kind": "different",
            "cliniko_invoice_id": "123",
            "paypal_id": "INV2-AAAA-BBBB",
            "invoice_number": "CLK-12",
            "fields": ["amount", "recipient"],
            "detail": "recipient jane.citizen@example.com, not jane@example.com",
        },
        {
            "kind": "different",
            "cliniko_invoice_id": "124",
            "paypal_id": "INV2-CCCC-DDDD",
            "invoice_number": "CLK-13",
            "fields": ["status"],
            "detail": "",
        },
        {
            "kind": "paid_in_paypal_open_in_cliniko",
            "cliniko_invoice_id": "130",
            "paypal_id": "INV2-EEEE-FFFF",
            "invoice_number": "CLK-20",
            "fields": [],
            "detail": "",
        },
    ],
}


def test_reconciliation_alert_names_ids_and_counts_only() -> None:
    alert = reconciliation_alert(REPORT)
    assert alert is not None
    assert alert.kind == "reconciliation" and alert.subject == "reconcile:2026-11-27T06:00:00+00:00"
    assert alert.title == "Reconciliation found 4 mismatch(es) between Cliniko and PayPal"
    body = alert.body
    assert "missing in PayPal: 1" in body and "different in PayPal: 2" in body
    assert "paid in PayPal, still open in Cliniko: 1" in body
    item = "Cliniko invoice 123; PayPal INV2-AAAA-BBBB; number CLK-12; fields amount, recipient"
    assert item in body
    for value in ("101", "124", "INV2-EEEE-FFFF", "CLK-20"):
        assert value in body
    assert "not_in_cliniko" not in body and "conflict" not in body  # zero counts left out
    assert "jane" not in body  # an item's free-text detail never goes out
    assert reconciliation_alert({"ok": True, "counts": {"different": 0}, "items": []}) is None


def test_notify_sends_a_subject_once_per_store(tmp_path, webhook) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    alert = reconciliation_alert(REPORT)
    assert alert is not None
    assert notify([webhook.url], alert, store) == 1
    assert notify([webhook.url], alert, store) == 0
    assert len(webhook.posts) == 1
    assert notify([], Alert("x", "parked", "t", ())) == 0  # no channel: nothing, no error
    assert notify(["not a url at all"], Alert("y", "parked", "t", ())) == 0


def test_urls_setting_and_channel_names() -> None:
    assert parse_urls(None) == [] and parse_urls("") == []
    assert parse_urls('["json://a/b", "mailto://u:p@h"]') == ["json://a/b", "mailto://u:p@h"]
    assert parse_urls("json://a/b") == ["json://a/b"]
    assert parse_urls(["json://a/b", " "]) == ["json://a/b"]
    assert channel("mailtos://user:pw@smtp.example:465?to=x@y.z") == "mailtos://smtp.example:465"
    assert channel("https://hooks.slack.com/services/T/B/secret") == "https://hooks.slack.com"


# --- invoices waiting for approval too long -------------------------------------------------
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def hold(
    store: Store,
    invoice_id: str,
    days_ago: float,
    after: int | None = 3,
    rule: str = "large-total",
    state: str = "waiting",
    now: dt.datetime = NOW,
) -> None:
    """Put an invoice in the approval queue as the applier writes it (store.approvals)."""
    row = {
        "invoice_id": invoice_id,
        "rule": rule,
        "basis": "b",
        "state": state,
        "held_since": now - dt.timedelta(days=days_ago),
        "alert_after_days": after,
        "invoice_number": f"CLN-{invoice_id[-4:]}",
        "total": "1250.00",
        "currency_code": "AUD",
        "content": None,
        "decided_by": None,
        "decided_at": None,
        "why": None,
    }
    with store.begin() as conn:
        upsert_by_key(conn, approvals, "invoice_id", row)


def test_approvals_alert_once_per_wait_not_before_alert_after_days(tmp_path, webhook) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    assert approvals_alert(store, NOW) is None  # an empty queue
    hold(store, "200000000000001001", days_ago=4.5)  # past 3 days
    hold(store, "200000000000001002", days_ago=3.2, rule="third-party-payer")  # past 3 days
    hold(store, "200000000000001003", days_ago=2)  # not yet
    hold(store, "200000000000001004", days_ago=30, after=None)  # the rule never alerts
    hold(store, "200000000000001005", days_ago=30, state="approved")  # decided

    alert = approvals_alert(store, NOW)
    assert alert is not None and alert.kind == "approval" and alert.run_id is None
    subjects = (alert.subject, *alert.also)
    since = int((NOW - dt.timedelta(days=4.5)).timestamp())
    assert subjects[0] == f"approval:200000000000001001:{since}"  # the longest waiting first
    assert [s.split(":")[1] for s in subjects] == ["200000000000001001", "200000000000001002"]
    assert alert.title == (
        "2 invoice(s) waiting for approval past their rule's alert time (longest 4 d 12 h)"
    )
    assert alert.lines == (
        "Waiting for approval in all: 4",
        "  1 held by rule large-total (alert after 3 d), longest 4 d 12 h; "
        "IDs 200000000000001001 (CLN-1001)",
        "  1 held by rule third-party-payer (alert after 3 d), longest 3 d 4 h; "
        "IDs 200000000000001002 (CLN-1002)",
        "Approve or reject them: paypal-ops approvals list",
    )
    assert notify([webhook.url], alert, store) == 1
    assert all(store.notified(s) for s in subjects)  # each invoice, alerted once
    assert approvals_alert(store, NOW) is None
    assert approvals_alert(store, NOW + dt.timedelta(hours=23)) is None  # 1003: 2 d 23 h
    later = approvals_alert(store, NOW + dt.timedelta(days=1, hours=1))
    assert later is not None and (later.subject, later.also) == (
        f"approval:200000000000001003:{int((NOW - dt.timedelta(days=2)).timestamp())}",
        (),
    )
    # Back in the queue later (a change in Cliniko held it again): a new wait, alerted again.
    hold(store, "200000000000001001", days_ago=3.5)
    again = approvals_alert(store, NOW)
    assert again is not None and again.subject.startswith("approval:200000000000001001:")
    assert again.subject != subjects[0]
    assert len(f"approval:{'9' * 40}:{since}") <= 80  # the notifications table's subject


def test_notify_alerts_invoices_waiting_too_long_once(tmp_path, webhook) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url)
    run_id = store.start_run()
    store.finish_run(run_id, "succeeded", {"invoices": {"held": 2}})
    hold(store, "200000000000002001", days_ago=5, now=dt.datetime.now(dt.UTC))
    first = ops_notify(url, webhook.url)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "Approval queue (1 waiting too long): alert sent to 1 of 1 channels\n"
    assert len(webhook.posts) == 1 and "200000000000002001 (CLN-2001)" in webhook.texts()[0]
    second = ops_notify(url, webhook.url)
    assert second.returncode == 0 and second.stdout == ""
    assert len(webhook.posts) == 1


def test_a_run_alerts_once_about_invoices_waiting_past_their_alert_time(
    target, clinic, webhook
) -> None:
    data = clinic(customers=4, invoices=6, seed=3)
    held = next(i for i, h in data.invoices.items() if h["target_status"] == "SENT")
    approval = {"rule": "large-total", "basis": "c" * 64, "alert_after_days": 3}
    data.invoices[held] = {**data.invoices[held], "approval": approval}
    first = target.run(data.messages(), alert_urls=[webhook.url])
    assert first.returncode == 0, first.stderr[-2000:]
    assert webhook.posts == [], "an alert before the invoice waited alert_after_days"
    store = Store(target.config["store_url"])
    with store.begin() as conn:  # as if the first run had been four days ago
        conn.execute(
            approvals.update().values(held_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=4))
        )

    later = target.run(data.messages(), alert_urls=[webhook.url])

    assert later.returncode == 0, later.stderr[-2000:]
    assert len(webhook.posts) == 1, later.stderr[-2000:]
    text = webhook.texts()[0]
    assert "1 invoice(s) waiting for approval past their rule's alert time" in text
    assert held in text and data.invoices[held]["invoice_number"] in text
    assert target.run(data.messages(), alert_urls=[webhook.url]).returncode == 0
    assert len(webhook.posts) == 1, "the same wait alerted twice"


def test_wait_words() -> None:
    assert wait_words(dt.timedelta(days=3, hours=4, minutes=59)) == "3 d 4 h"
    assert wait_words(dt.timedelta(hours=5, minutes=12)) == "5 h 12 min"
    assert wait_words(dt.timedelta(minutes=7, seconds=59)) == "7 min"
    assert wait_words(dt.timedelta(seconds=-5)) == "0 min"
