"""The `answer_lost` fault: PayPal carries the write out, then the client gets a 5xx or a dropped
connection instead of the answer.  Checked over real HTTP, as a client of the sandbox sees it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from clinic_sandbox import SandboxServer
from clinic_sandbox.faults import FaultInjector
from clinic_sandbox.paypal.guard import PayPalGuard

INVOICES = "/v2/invoicing/invoices"
SEARCH = "/v2/invoicing/search-invoices"
BROKEN = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(seed=42, patients=5, invoices=5) as sb:
        yield sb


@pytest.fixture
def sb(server: SandboxServer) -> SandboxServer:
    server.set_paypal_faults()
    server.paypal.reset()
    server.reset_paypal_stats()
    return server


def invoice_body(number: str = "CLN-1", reference: str = "cliniko-1", memo: str = "v1"
                 ) -> dict[str, Any]:
    return {"detail": {"currency_code": "AUD", "invoice_number": number, "reference": reference,
                       "memo": memo},
            "primary_recipients": [{"billing_info": {"email_address": "jane@example.com"}}],
            "items": [{"name": "Consult", "quantity": "1",
                       "unit_amount": {"currency_code": "AUD", "value": "100.00"}}]}


def lost(call: Callable[[], requests.Response]) -> str:
    """Run a call whose answer must be lost: "500"/"503" (PayPal's shape) or "dropped"."""
    try:
        response = call()
    except BROKEN:
        return "dropped"
    assert response.status_code in (500, 503), response.text
    name, message = {500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
                     503: ("SERVICE_UNAVAILABLE", "Service Unavailable.")}[response.status_code]
    assert response.json() == {"name": name, "message": message, "links": [],
                               "debug_id": response.headers["Paypal-Debug-Id"]}  # spec error_5xx
    return str(response.status_code)


def test_a_create_whose_answer_is_lost_still_creates_the_invoice(sb: SandboxServer) -> None:
    api = sb.paypal_session()
    sb.set_paypal_faults(answer_lost=1.0, seed=1)
    got = lost(lambda: api.post(sb.paypal_url + INVOICES, json=invoice_body()))
    sb.set_paypal_faults()
    found = api.post(sb.paypal_url + SEARCH, json={"reference": "cliniko-1"}).json()["items"]
    assert [i["detail"]["invoice_number"] for i in found] == ["CLN-1"]
    assert found[0]["status"] == "DRAFT"
    stats = sb.paypal_stats()
    assert stats["answers_lost"] == 1
    assert stats["by_status"][got] == 1
    call = sb.paypal.call_log[-2]  # the search came after it
    assert (call.method, call.path, call.is_write, call.answer_lost, call.succeeded) == (
        "POST", INVOICES, True, True, True)
    assert call.status == (0 if got == "dropped" else int(got))
    assert sb.paypal.lost_answers() == [call]


def test_after_a_lost_create_a_resend_is_refused_and_search_by_number_finds_it(
        sb: SandboxServer) -> None:
    sb.paypal.add_invoice(invoice_body("CLN-8", "cliniko-8"))  # another invoice, not ours
    api = sb.paypal_session()
    sb.set_paypal_faults(answer_lost=1.0, seed=2)
    lost(lambda: api.post(sb.paypal_url + INVOICES, json=invoice_body("CLN-7", "cliniko-7")))
    sb.set_paypal_faults()
    again = api.post(sb.paypal_url + INVOICES, json=invoice_body("CLN-7", "cliniko-7"))
    assert again.status_code == 422
    assert again.json()["name"] == "UNPROCESSABLE_ENTITY"
    assert [d["issue"] for d in again.json()["details"]] == ["DUPLICATE_INVOICE_NUMBER"]
    by_number = api.post(sb.paypal_url + SEARCH, json={"invoice_number": "CLN-7"}).json()
    assert [i["detail"]["reference"] for i in by_number["items"]] == ["cliniko-7"]
    assert len(sb.paypal.invoices()) == 2


def _sent(sb: SandboxServer) -> str:
    return sb.paypal.add_invoice(invoice_body(), send=True)["id"]


def _draft(sb: SandboxServer) -> str:
    return sb.paypal.add_invoice(invoice_body())["id"]


# (what to set up by hand -> invoice id, the API call, what PayPal holds afterwards)
WRITES: dict[str, tuple[Callable[[SandboxServer], str], Callable[..., requests.Response],
                        Callable[[SandboxServer, str], bool]]] = {
    "send": (_draft, lambda api, url, i: api.post(f"{url}{INVOICES}/{i}/send", json={}),
             lambda sb, i: sb.paypal.invoice(i)["status"] == "UNPAID"),
    "replace": (_sent, lambda api, url, i: api.put(f"{url}{INVOICES}/{i}",
                                                   json=invoice_body(memo="v2")),
                lambda sb, i: sb.paypal.invoice(i)["detail"]["memo"] == "v2"),
    "record payment": (_sent, lambda api, url, i: api.post(
        f"{url}{INVOICES}/{i}/payments", json={"method": "BANK_TRANSFER", "note": "ours-1"}),
        lambda sb, i: sb.paypal.invoice(i)["status"] == "MARKED_AS_PAID"
        and [t["note"] for t in sb.paypal.invoice(i)["payments"]["transactions"]] == ["ours-1"]),
    "cancel": (_sent, lambda api, url, i: api.post(f"{url}{INVOICES}/{i}/cancel", json={}),
               lambda sb, i: sb.paypal.invoice(i)["status"] == "CANCELLED"),
    "delete": (_draft, lambda api, url, i: api.delete(f"{url}{INVOICES}/{i}"),
               lambda sb, i: sb.paypal.invoice(i) is None),
}


@pytest.mark.parametrize("operation", list(WRITES))
def test_each_write_is_done_though_its_answer_is_lost(sb: SandboxServer, operation: str) -> None:
    setup, call, done = WRITES[operation]
    invoice_id = setup(sb)
    api = sb.paypal_session()
    sb.set_paypal_faults(answer_lost=1.0, seed=5)
    lost(lambda: call(api, sb.paypal_url, invoice_id))
    assert done(sb, invoice_id)
    assert sb.paypal_stats()["answers_lost"] == 1
    assert [c.answer_lost for c in sb.paypal.call_log] == [False, True]  # token, then the write


def test_deleting_a_payment_remind_and_next_number_lose_their_answers_too(
        sb: SandboxServer) -> None:
    invoice_id = _sent(sb)
    payment_id = sb.paypal.record_payment(invoice_id, "CASH", "10.00")
    api = sb.paypal_session()
    sb.set_paypal_faults(answer_lost=1.0, seed=6)
    url = f"{sb.paypal_url}{INVOICES}/{invoice_id}"
    lost(lambda: api.delete(f"{url}/payments/{payment_id}"))
    assert sb.paypal.invoice(invoice_id)["payments"]["transactions"] == []
    lost(lambda: api.post(f"{url}/remind", json={}))
    lost(lambda: api.post(sb.paypal_url + "/v2/invoicing/generate-next-invoice-number"))
    assert sb.paypal_stats()["answers_lost"] == 3
    assert [c.path for c in sb.paypal.lost_answers()] == [
        f"{INVOICES}/{invoice_id}/payments/{payment_id}", f"{INVOICES}/{invoice_id}/remind",
        "/v2/invoicing/generate-next-invoice-number"]


def test_a_refused_write_is_answered_as_usual(sb: SandboxServer) -> None:
    draft = _draft(sb)
    api = sb.paypal_session()
    sb.set_paypal_faults(answer_lost=1.0, seed=1)
    duplicate = api.post(sb.paypal_url + INVOICES, json=invoice_body())
    assert duplicate.status_code == 422
    assert duplicate.json()["details"][0]["issue"] == "DUPLICATE_INVOICE_NUMBER"
    refused = api.post(f"{sb.paypal_url}{INVOICES}/{draft}/cancel", json={})
    assert refused.status_code == 422
    assert refused.json()["details"][0]["issue"] == "CANNOT_CANCEL_DRAFT_INVOICE"
    bad = api.post(f"{sb.paypal_url}{INVOICES}/{draft}/payments", json={"method": "GOLD"})
    assert bad.status_code == 400
    assert sb.paypal_stats()["answers_lost"] == 0
    assert sb.paypal.lost_answers() == []


def test_reads_search_and_the_token_are_never_lost(sb: SandboxServer) -> None:
    invoice_id = _draft(sb)
    sb.set_paypal_faults(answer_lost=1.0, seed=1)
    api = sb.paypal_session()  # raises if the token's answer were lost
    assert api.get(sb.paypal_url + INVOICES).status_code == 200
    assert api.get(f"{sb.paypal_url}{INVOICES}/{invoice_id}").status_code == 200
    assert api.post(sb.paypal_url + SEARCH, json={"reference": "cliniko-1"}).status_code == 200
    assert sb.paypal_stats()["answers_lost"] == 0
    assert sb.paypal_stats()["by_status"] == {"200": 4}


def test_the_same_seed_loses_the_same_answers_the_same_way(sb: SandboxServer) -> None:
    def run() -> list[str]:
        sb.paypal.reset()
        api = sb.paypal_session()
        sb.set_paypal_faults(answer_lost=0.6, seed=9)
        outcomes = []
        for n in range(16):
            try:
                reply = api.post(sb.paypal_url + INVOICES, json=invoice_body(f"R-{n}", f"r-{n}"))
                outcomes.append(str(reply.status_code))
            except BROKEN:
                outcomes.append("dropped")
        assert len(sb.paypal.invoices()) == 16  # every create was carried out
        return outcomes

    first = run()
    assert first == run()
    assert {"201", "dropped"} <= set(first) and {"500", "503"} & set(first)


def test_answers_lost_is_counted_and_reset_with_the_stats(sb: SandboxServer) -> None:
    api = sb.paypal_session()
    sb.set_paypal_faults(answer_lost=1.0, seed=3)
    outcomes = [lost(lambda n=n: api.post(sb.paypal_url + INVOICES,
                                          json=invoice_body(f"S-{n}", f"s-{n}")))
                for n in range(6)]
    stats = sb.paypal_stats()
    assert stats["answers_lost"] == 6
    assert {k: v for k, v in stats["by_status"].items() if k != "200"} == {
        o: outcomes.count(o) for o in set(outcomes)}
    assert requests.get(sb.paypal_control_url + "/stats").json()["answers_lost"] == 6
    assert requests.post(sb.paypal_control_url + "/stats/reset").json()["answers_lost"] == 0
    assert sb.paypal_stats()["answers_lost"] == 0


def test_answer_lost_is_set_over_http_and_shown_in_the_call_log(sb: SandboxServer) -> None:
    ctl = sb.paypal_control_url
    assert requests.put(ctl + "/faults", json={"answer_lost": 1.5}).status_code == 400
    assert requests.put(ctl + "/faults", json={"answer_lost": 1.0, "seed": 4}).ok
    assert requests.get(ctl + "/faults").json()["answer_lost"] == 1.0
    api = sb.paypal_session()
    lost(lambda: api.post(sb.paypal_url + INVOICES, json=invoice_body()))
    calls = requests.get(ctl + "/calls").json()["calls"]
    assert [(c["path"], c["is_write"], c["answer_lost"], c["succeeded"]) for c in calls] == [
        ("/v1/oauth2/token", False, False, True), (INVOICES, True, True, True)]
    # Cliniko's faults have no such kind (its API takes no writes).
    assert requests.put(sb.control_url + "/faults", json={"answer_lost": 0.5}).status_code == 400


# What the old injector (before `answer_lost`) drew for these settings and seeds.
SHARED = {"error_5xx": 0.2, "error_429": 0.1, "drop": 0.1, "slow": 0.1}
BEFORE = {
    3: [("error_429", 500), ("drop", 503), (None, 0), (None, 0), ("error_429", 500),
        ("error_5xx", 503), (None, 0), ("drop", 500), ("error_429", 500), (None, 0), (None, 0),
        ("error_5xx", 500), ("drop", 500), (None, 0), ("slow", 503), (None, 0)],
    11: [("slow", 503), ("slow", 500), ("error_5xx", 503), (None, 0), ("error_5xx", 503),
         ("error_5xx", 500), (None, 0), (None, 0), (None, 0), ("error_5xx", 500), (None, 0),
         (None, 0), ("slow", 500), (None, 0), ("slow", 500), ("slow", 503)],
}


@pytest.mark.parametrize("seed", sorted(BEFORE))
def test_seeds_draw_the_other_kinds_as_before(seed: int) -> None:
    faults = PayPalGuard().faults
    faults.configure(**SHARED, seed=seed)
    assert [faults.draw() for _ in range(16)] == BEFORE[seed]
    # A share of answer_lost takes only rolls that drew no fault before.
    faults.configure(**SHARED, answer_lost=0.3, seed=seed)
    with_lost = [faults.draw() for _ in range(16)]
    assert [d for d in with_lost if d[0] != "answer_lost"] == \
        [d for d, w in zip(BEFORE[seed], with_lost, strict=True) if w[0] != "answer_lost"]
    assert all(b == (None, 0) for b, w in zip(BEFORE[seed], with_lost, strict=True)
               if w[0] == "answer_lost")
    cliniko = FaultInjector(error_statuses=(500, 503))
    cliniko.configure(**SHARED, seed=seed)
    assert [cliniko.draw() for _ in range(16)] == BEFORE[seed]


def test_a_send_whose_answer_is_lost_has_still_emailed_the_patient(sb: SandboxServer) -> None:
    invoice_id = _draft(sb)
    api = sb.paypal_session()
    sb.set_paypal_faults(answer_lost=1.0, seed=8)
    lost(lambda: api.post(f"{sb.paypal_url}{INVOICES}/{invoice_id}/send", json={}))
    assert [(n["operation"], n["recipient_emailed"], n["status_after"])
            for n in sb.paypal_notifications(invoice_id)] == [("send", True, "UNPAID")]
    assert requests.get(sb.paypal_control_url + "/notifications").json()["notifications"][0][
        "invoice_id"] == invoice_id
