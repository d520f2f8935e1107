"""`paypal-ops dead-letters list | replay | discard` on a store the target really filled."""

from __future__ import annotations

import json
import subprocess
import sys

from target_paypal.store import Store
from target_paypal.store.schema import customers


def ops(target, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "paypal_ops.cli", "--store-url", target.config["store_url"]]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)


def letters(target) -> dict[str, dict]:
    listed = ops(target, "dead-letters", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {d["record_id"]: d for d in json.loads(listed.stdout)}


def test_list_replay_and_discard(target, clinic, by_reference) -> None:
    data = clinic(customers=5, invoices=14)
    sent = [i for i, h in data.invoices.items() if h["target_status"] == "SENT"]
    in_nzd, down = sent[0], sent[1:4]
    data.invoices[in_nzd]["currency_code"] = "NZD"
    # PayPal failing every invoice call (one call a minute: the token's), one try each.
    target.sandbox.set_paypal_rate_limit(limit=1, window_seconds=60)
    only = {"customers", "invoices", "invoice_lines"}
    done = target.run(data.messages(only=only), retry_max_tries=1)
    assert done.returncode == 0, done.stderr[-3000:]

    open_letters = letters(target)
    assert in_nzd in open_letters and "currency_code" in open_letters[in_nzd]["reason"]
    assert set(down) <= set(open_letters), "PayPal down: invoices parked"
    text = ops(target, "dead-letters", "list").stdout
    assert "open dead letter(s)" in text
    assert "@" not in text and "Surname" not in text, "IDs only"

    # PayPal is back: replaying by id queues those for the next run, even one with no input.
    target.sandbox.set_paypal_rate_limit(limit=None)
    replayed = ops(target, "dead-letters", "replay", "--id", down[0])
    assert replayed.returncode == 0 and "Queued for the next run: 1 invoice(s)" in replayed.stdout
    assert down[0] in Store(target.config["store_url"]).dirty_invoice_ids()
    assert ops(target, "dead-letters", "replay").returncode != 0, "replay needs a selection"

    # A record kept because it broke a rule stays parked while it still does.
    kept = ops(target, "dead-letters", "replay", "--id", in_nzd)
    assert f"Still failing, kept: invoices {in_nzd}" in kept.stdout
    assert in_nzd in letters(target)

    # A letter discarded by hand is closed, kept in the audit log, and not retried.
    discarded = ops(target, "dead-letters", "discard", "--id", down[1], "--why", "paid in cash")
    assert discarded.returncode == 0 and "Discarded 1" in discarded.stdout
    assert down[1] not in letters(target)
    store = Store(target.config["store_url"])
    assert any(
        e["operation"] == "discard invoices" and "paid in cash" in e["outcome"]
        for e in store.audit_log()
    )

    done = target.run("")  # the next run, with nothing new from Cliniko
    assert done.returncode == 0, done.stderr[-3000:]
    held = by_reference(target.sandbox)
    assert down[0] in held and down[2] in held, "queued and parked invoices applied"
    assert down[1] not in held, "a discarded letter is not retried"


def test_a_kept_record_that_passes_now_is_staged_again(tmp_path) -> None:
    from paypal_ops.dead_letters import Selection, replay

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    customer = {"customer_id": "42", "email": "someone@example.com"}
    store.park("customers", "42", "contract broken by an older version", record=customer)
    done = replay(store, Selection(record_ids=("42",)))
    assert done.restaged == ["customers 42"] and store.open_dead_letters() == []
    with store.begin() as conn:
        assert conn.execute(customers.select()).one().customer_id == "42"
