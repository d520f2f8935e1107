"""Writes whose answer is lost: the applier finds out what PayPal did before writing again.

The sandbox's `answer_lost` fault commits a write and then answers 5xx or drops the connection;
its `drop` and `error_5xx` faults fail a write before PayPal does anything. Either way PayPal
must end up with exactly one of everything, and no write PayPal refuses (a 422) is ever sent.
"""

from __future__ import annotations

import pytest

from target_paypal.client import PayPalClient
from target_paypal.settle import NumberTaken, SettledWrites, payment_note

INVOICES = "/v2/invoicing/invoices"


def body(reference: str = "9001", number: str = "CLK-9001") -> dict:
    return {
        "detail": {"currency_code": "AUD", "invoice_number": number, "reference": reference},
        "primary_recipients": [{"billing_info": {"email_address": "p9001@example.com"}}],
        "items": [
            {
                "name": "Consult",
                "quantity": "1",
                "unit_amount": {"currency_code": "AUD", "value": "90.00"},
            }
        ],
    }


@pytest.fixture
def paypal(paypal_sandbox):
    """(sandbox, settled writes): a client with instant backoff on a fresh sandbox."""
    client = PayPalClient(
        paypal_sandbox.paypal_url,
        paypal_sandbox.paypal_client_id,
        paypal_sandbox.paypal_client_secret,
        max_requests_per_second=0,
        sleep=lambda _: None,
    )
    client.access_token()
    return paypal_sandbox, SettledWrites(client)


def calls(sandbox, method: str, suffix: str = "") -> list:
    return [
        c
        for c in sandbox.paypal.call_log
        if c.method == method and c.path.startswith(INVOICES) and c.path.endswith(suffix)
    ]


def no_422(sandbox) -> None:
    refused = [f"{c.method} {c.path}" for c in sandbox.paypal.call_log if c.status == 422]
    assert not refused, f"PayPal refused writes: {refused}"


def ours(sandbox, reference: str = "9001") -> list[dict]:
    return [i for i in sandbox.paypal.invoices() if i["detail"].get("reference") == reference]


def test_a_create_done_but_unanswered_is_adopted_not_sent_again(paypal) -> None:
    sandbox, writes = paypal
    sandbox.set_paypal_faults(answer_lost=1.0, seed=1)
    created = writes.create(body())
    assert [i["id"] for i in ours(sandbox)] == [created["id"]], "not exactly one invoice"
    assert len(calls(sandbox, "POST", INVOICES)) == 1, "the create was sent again"
    no_422(sandbox)


@pytest.mark.parametrize("fault", ["drop", "error_5xx"])
def test_a_create_that_failed_before_paypal_did_it_is_sent_again(paypal, fault) -> None:
    sandbox, writes = paypal
    sandbox.set_paypal_faults(**{fault: 0.5}, seed=3)
    for n in range(6):
        writes.create(body(str(n), f"CLK-{n}"))
    assert sorted(i["detail"]["reference"] for i in sandbox.paypal.invoices()) == [
        str(n) for n in range(6)
    ]
    assert sandbox.paypal_stats()["by_status"].get("dropped" if fault == "drop" else "500", 0) + (
        sandbox.paypal_stats()["by_status"].get("503", 0)
    ), "no fault happened"
    no_422(sandbox)


def test_send_cancel_and_payment_done_but_unanswered_are_not_repeated(paypal) -> None:
    sandbox, writes = paypal
    first = writes.create(body("1", "CLK-1"))
    second = writes.create(body("2", "CLK-2"))
    sandbox.set_paypal_faults(answer_lost=1.0, seed=2)

    writes.send(first["id"], "1", send_to_recipient=False)
    writes.send(second["id"], "2", send_to_recipient=True)
    amount = {"currency_code": "AUD", "value": "90.00"}
    writes.record_payment(first["id"], "1", {"method": "CASH", "amount": amount})
    writes.cancel(second["id"], "2")

    paid, cancelled = sandbox.paypal.invoice(first["id"]), sandbox.paypal.invoice(second["id"])
    assert paid["status"] == "MARKED_AS_PAID" and cancelled["status"] == "CANCELLED"
    transactions = paid["payments"]["transactions"]
    assert [t.get("note") for t in transactions] == [payment_note("1")], transactions
    assert len(calls(sandbox, "POST", "/send")) == 2
    assert len(calls(sandbox, "POST", "/payments")) == 1, "the payment was recorded again"
    assert len(calls(sandbox, "POST", "/cancel")) == 1
    assert sandbox.paypal_stats()["answers_lost"] == 4
    no_422(sandbox)


def test_update_and_delete_done_but_unanswered_are_not_repeated(paypal) -> None:
    sandbox, writes = paypal
    kept = writes.create(body("1", "CLK-1"))
    dropped = writes.create(body("2", "CLK-2"))
    sandbox.set_paypal_faults(answer_lost=1.0, seed=4)
    changed = body("1", "CLK-1")
    changed["items"][0]["quantity"] = "2"

    updated = writes.replace(kept["id"], "1", changed)
    writes.delete(dropped["id"], "2")

    assert updated["items"][0]["quantity"] == "2"
    assert sandbox.paypal.invoice(kept["id"])["items"][0]["quantity"] == "2"
    assert sandbox.paypal.invoice(dropped["id"]) is None
    assert len(calls(sandbox, "PUT")) == 1 and len(calls(sandbox, "DELETE")) == 1
    no_422(sandbox)


def test_a_duplicate_number_of_ours_is_adopted(paypal) -> None:
    """The search did not show it in time and we created again: PayPal's 422 settles it."""
    sandbox, writes = paypal
    first = writes.create(body())
    again = writes.create(body())
    assert again["id"] == first["id"] and len(ours(sandbox)) == 1


def test_a_number_used_by_another_invoice_is_named_not_guessed(paypal) -> None:
    sandbox, writes = paypal
    other = writes.create(body(reference="somebody-else", number="CLK-7"))
    with pytest.raises(NumberTaken) as taken:
        writes.create(body(reference="7", number="CLK-7"))
    message = str(taken.value)
    assert "CLK-7" in message and other["id"] in message and "Cliniko invoice 7" in message
    assert not ours(sandbox, "7")
