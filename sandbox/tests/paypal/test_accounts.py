"""Several PayPal merchant accounts on one sandbox port, told apart by their client credentials:
what a client of each account sees over HTTP, the control routes, and `sandbox serve`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from clinic_sandbox import SandboxServer
from clinic_sandbox.cli import main

INVOICES = "/v2/invoicing/invoices"
SEARCH = "/v2/invoicing/search-invoices"
NEXT_NUMBER = "/v2/invoicing/generate-next-invoice-number"
TOKEN = "/v1/oauth2/token"
A_EMAIL = "accounts@sunrise-clinic.example"  # the default account's merchant email
B_ID, B_SECRET, B_EMAIL = "harbour-client-id", "harbour-secret", "accounts@harbour.example"


@pytest.fixture
def sb(make_sandbox) -> SandboxServer:
    server = make_sandbox(patients=5, invoices=5)
    server.add_paypal_account(B_ID, B_SECRET, B_EMAIL)
    return server


def body(number: str, reference: str = "cliniko-1", email: str | None = None) -> dict[str, Any]:
    invoice: dict[str, Any] = {
        "detail": {"currency_code": "AUD", "invoice_number": number, "reference": reference},
        "primary_recipients": [{"billing_info": {"email_address": "jane@example.com"}}],
        "items": [{"name": "Consult", "quantity": "1",
                   "unit_amount": {"currency_code": "AUD", "value": "100.00"}}]}
    if email is not None:
        invoice["invoicer"] = {"email_address": email}
    return invoice


def token(paypal_url: str, client_id: str, secret: str) -> requests.Response:
    return requests.post(paypal_url + TOKEN, auth=(client_id, secret),
                         data={"grant_type": "client_credentials"}, timeout=30)


def create(sb: SandboxServer, api: requests.Session, invoice: dict[str, Any]) -> requests.Response:
    return api.post(sb.paypal_url + INVOICES, json=invoice,
                    headers={"Prefer": "return=representation"})


def created_id(sb: SandboxServer, api: requests.Session, invoice: dict[str, Any]) -> str:
    response = create(sb, api, invoice)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def issue(response: requests.Response) -> str:
    return str(response.json()["details"][0]["issue"])


def test_each_account_gets_tokens_for_itself_only(sb: SandboxServer) -> None:
    mine = token(sb.paypal_url, sb.paypal_client_id, sb.paypal_client_secret)
    theirs = token(sb.paypal_url, B_ID, B_SECRET)
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["access_token"] != theirs.json()["access_token"]
    for client_id, secret in ((B_ID, sb.paypal_client_secret), (sb.paypal_client_id, B_SECRET)):
        refused = token(sb.paypal_url, client_id, secret)  # an id with the other one's secret
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    invoice_id = created_id(sb, sb.paypal_session(B_ID), body("B-1"))
    assert [i["id"] for i in sb.paypal_accounts[B_ID].invoices()] == [invoice_id]
    assert sb.paypal.invoices() == []


def test_a_token_cannot_read_or_change_another_accounts_invoice(sb: SandboxServer,
                                                                checker) -> None:
    mine, theirs = sb.paypal_session(), sb.paypal_session(B_ID)
    path = f"{INVOICES}/{created_id(sb, theirs, body('B-1'))}"
    url = sb.paypal_url + path
    attempts = [("GET", "", None), ("PUT", "", body("B-1")), ("DELETE", "", None),
                ("POST", "/send", {}), ("POST", "/generate-qr-code", {})]
    for method, suffix, json in attempts:
        response = mine.request(method, url + suffix, json=json)
        assert response.status_code == 403, (method, suffix, response.text)
        assert response.json()["name"] == "NOT_AUTHORIZED"
        assert issue(response) == "PERMISSION_DENIED"
        assert response.json()["details"][0]["description"] == (
            "The requested invoice is not associated with the requested user.")
        if checker is not None:  # the spec's 403 body for this operation
            checker.check_response(method, path + suffix, 403, response.json(), False)
    assert theirs.get(url).json()["status"] == "DRAFT"  # nothing was changed or deleted
    unknown = mine.get(f"{sb.paypal_url}{INVOICES}/INV2-AAAA-BBBB-CCCC-DDDD")
    assert unknown.status_code == 404 and unknown.json()["name"] == "RESOURCE_NOT_FOUND"
    assert requests.get(url, timeout=30).status_code == 401  # no token: as before


def test_the_404_choice_answers_another_accounts_id_as_unknown(sb: SandboxServer) -> None:
    sb.paypal.rules.foreign_invoice_status = 404
    url = f"{sb.paypal_url}{INVOICES}/{created_id(sb, sb.paypal_session(B_ID), body('B-1'))}"
    response = sb.paypal_session().get(url)
    assert response.status_code == 404 and issue(response) == "INVALID_RESOURCE_ID"


def test_list_and_search_show_the_tokens_account_only(sb: SandboxServer) -> None:
    mine, theirs = sb.paypal_session(), sb.paypal_session(B_ID)
    my_id = created_id(sb, mine, body("A-1", reference="cliniko-a"))
    their_id = created_id(sb, theirs, body("B-1", reference="cliniko-b"))
    assert [i["id"] for i in mine.get(sb.paypal_url + INVOICES).json()["items"]] == [my_id]
    assert [i["id"] for i in theirs.get(sb.paypal_url + INVOICES).json()["items"]] == [their_id]
    search = sb.paypal_url + SEARCH + "?total_required=true"
    found = mine.post(search, json={"reference": "cliniko-b"}).json()
    assert found["items"] == [] and found["total_items"] == 0
    assert [i["id"] for i in theirs.post(search, json={"reference": "cliniko-b"}).json()[
        "items"]] == [their_id]


def test_invoice_numbers_are_each_accounts_own(sb: SandboxServer) -> None:
    mine, theirs = sb.paypal_session(), sb.paypal_session(B_ID)
    created_id(sb, mine, body("CLN-0007"))
    created_id(sb, theirs, body("CLN-0007"))  # the same number in the other account
    again = create(sb, mine, body("CLN-0007"))
    assert again.status_code == 422 and issue(again) == "DUPLICATE_INVOICE_NUMBER"
    created_id(sb, theirs, body("CLN-0041"))
    assert mine.post(sb.paypal_url + NEXT_NUMBER).json()["invoice_number"] == "CLN-0008"
    assert theirs.post(sb.paypal_url + NEXT_NUMBER).json()["invoice_number"] == "CLN-0042"


def test_the_invoicer_email_must_be_the_accounts_own(sb: SandboxServer) -> None:
    mine, theirs = sb.paypal_session(), sb.paypal_session(B_ID)
    for api, other_email in ((theirs, A_EMAIL), (mine, B_EMAIL)):
        refused = create(sb, api, body("X-1", email=other_email))
        assert refused.status_code == 422 and issue(refused) == "USER_NOT_FOUND"
    accepted = create(sb, theirs, body("X-1", email=B_EMAIL))
    assert accepted.status_code == 201
    assert accepted.json()["detail"]["metadata"]["created_by"] == B_EMAIL


def test_an_outage_of_one_account_leaves_the_other_answering(sb: SandboxServer) -> None:
    mine, theirs = sb.paypal_session(), sb.paypal_session(B_ID)
    sb.set_paypal_outage(True, client_id=B_ID)
    assert theirs.get(sb.paypal_url + INVOICES).status_code == 503
    assert token(sb.paypal_url, B_ID, B_SECRET).status_code == 503
    assert mine.get(sb.paypal_url + INVOICES).status_code == 200
    assert token(sb.paypal_url, sb.paypal_client_id, sb.paypal_client_secret).status_code == 200
    sb.set_paypal_outage(False, client_id=B_ID)
    assert theirs.get(sb.paypal_url + INVOICES).status_code == 200


def test_rate_limits_faults_and_stats_are_per_account(sb: SandboxServer) -> None:
    mine, theirs = sb.paypal_session(), sb.paypal_session(B_ID)
    sb.set_paypal_rate_limit(2, client_id=B_ID)
    assert [theirs.get(sb.paypal_url + INVOICES).status_code for _ in range(3)] == [200, 200, 429]
    assert [mine.get(sb.paypal_url + INVOICES).status_code for _ in range(5)] == [200] * 5
    assert sb.paypal_stats(B_ID)["by_status"] == {"200": 3, "429": 1}  # its token + 3 calls
    assert sb.paypal_stats()["by_status"] == {"200": 6}
    sb.set_paypal_rate_limit(None, client_id=B_ID)
    sb.set_paypal_faults(error_5xx=1.0, client_id=B_ID)
    assert theirs.get(sb.paypal_url + INVOICES).status_code in (500, 503)
    assert mine.get(sb.paypal_url + INVOICES).status_code == 200


def test_requests_naming_no_account_go_to_the_default(sb: SandboxServer) -> None:
    theirs = sb.paypal_session(B_ID)
    sb.paypal.clear_call_log()
    sb.paypal_accounts[B_ID].clear_call_log()
    assert theirs.get(sb.paypal_url + INVOICES).status_code == 200
    nobody = requests.get(sb.paypal_url + INVOICES, timeout=30)
    assert nobody.status_code == 401 and nobody.json()["name"] == "AUTHENTICATION_FAILURE"
    stranger = requests.get(sb.paypal_url + INVOICES, timeout=30,
                            headers={"Authorization": "Bearer A21AAnot-a-real-token"})
    assert stranger.status_code == 401
    assert token(sb.paypal_url, "nobody", "nothing").json()["error"] == "invalid_client"
    assert [(c.path, c.status) for c in sb.paypal_accounts[B_ID].call_log] == [(INVOICES, 200)]
    assert [(c.path, c.status) for c in sb.paypal.call_log] == [
        (INVOICES, 401), (INVOICES, 401), (TOKEN, 401)]


def test_control_routes_add_list_and_reach_an_account(sb: SandboxServer) -> None:
    accounts = sb.paypal_control_url + "/accounts"
    new = {"client_id": "cove-id", "client_secret": "cove-secret",
           "merchant_email": "accounts@cove.example"}
    added = requests.post(accounts, json=new, timeout=30)
    assert added.status_code == 201
    assert added.json() == {"client_id": "cove-id", "merchant_email": "accounts@cove.example",
                            "default": False}
    assert requests.post(accounts, json=new, timeout=30).status_code == 409
    assert requests.post(accounts, json={"client_id": "x"}, timeout=30).status_code == 400
    listed = requests.get(accounts, timeout=30)
    assert [(a["client_id"], a["merchant_email"], a["default"])
            for a in listed.json()["accounts"]] == [
        (sb.paypal_client_id, A_EMAIL, True), (B_ID, B_EMAIL, False),
        ("cove-id", "accounts@cove.example", False)]
    assert not any(s in listed.text for s in (sb.paypal_client_secret, B_SECRET, "cove-secret"))

    api = sb.paypal_session("cove-id")
    invoice_id = created_id(sb, api, body("C-1"))
    assert api.post(f"{sb.paypal_url}{INVOICES}/{invoice_id}/send", json={}).status_code == 200
    cove = f"{accounts}/cove-id"
    assert [i["id"] for i in requests.get(cove + "/invoices", timeout=30).json()["items"]] == [
        invoice_id]
    assert requests.get(sb.paypal_control_url + "/invoices", timeout=30).json()["items"] == []
    assert requests.post(f"{cove}/invoices/{invoice_id}/pay", timeout=30).status_code == 200
    assert api.get(f"{sb.paypal_url}{INVOICES}/{invoice_id}").json()["status"] == "PAID"
    assert requests.get(cove + "/stats", timeout=30).json()["by_path"][TOKEN] == 1
    assert requests.get(cove, timeout=30).json()["merchant_email"] == "accounts@cove.example"
    assert requests.get(accounts + "/nobody/invoices", timeout=30).status_code == 404


def test_a_control_route_switches_one_account_down(sb: SandboxServer) -> None:
    mine, theirs = sb.paypal_session(), sb.paypal_session(B_ID)
    down = f"{sb.paypal_control_url}/accounts/{sb.paypal_client_id}/outage"
    assert requests.put(down, json={"down": True}, timeout=30).json() == {"down": True}
    assert mine.get(sb.paypal_url + INVOICES).status_code == 503
    assert theirs.get(sb.paypal_url + INVOICES).status_code == 200
    assert sb.paypal.outage and not sb.paypal_accounts[B_ID].outage


def test_an_account_added_before_start_signs_its_own_webhooks() -> None:
    server = SandboxServer(patients=5, invoices=5)
    state = server.add_paypal_account(B_ID, B_SECRET, B_EMAIL)
    with server:
        assert list(server.paypal_accounts) == [server.paypal_client_id, B_ID]
        assert server.paypal_accounts[B_ID] is state
        server.set_paypal_webhook("http://127.0.0.1:9/hook", "WH-A")
        server.set_paypal_webhook("http://127.0.0.1:9/hook", "WH-B", client_id=B_ID)
        for account in (server.paypal, state):
            cert_url = account.webhooks.cert_url
            assert cert_url.startswith(server.paypal_url + "/v1/notifications/certs/")
            served = requests.get(cert_url, timeout=30)
            assert served.status_code == 200
            assert served.content == account.webhooks.certificate_pem()
        assert server.paypal.webhooks.cert_url != state.webhooks.cert_url


def test_adding_an_existing_client_id_is_refused(sb: SandboxServer) -> None:
    for client_id in (sb.paypal_client_id, B_ID):
        with pytest.raises(ValueError, match="exists already"):
            sb.add_paypal_account(client_id, "s", "x@example.com")


@pytest.mark.parametrize("value", ["just-an-id", "id:secret:no-email", ":secret:a@b.example"])
def test_the_cli_refuses_a_malformed_account_without_echoing_it(value, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--paypal-account", value])
    assert stopped.value.code == 2
    assert value not in capsys.readouterr().err


def test_the_cli_refuses_a_client_id_twice(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--paypal-account", "sandbox-client-id:s:a@b.example"])
    assert "client id of its own" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_token(url: str, process: subprocess.Popen[str], auth: tuple[str, str]
                    ) -> requests.Response:
    deadline = time.monotonic() + 60
    while True:  # wait for the server to listen (polling for startup, not timing anything)
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "sandbox serve did not start"
        try:
            return requests.post(url + TOKEN, auth=auth, timeout=5,
                                 data={"grant_type": "client_credentials"})
        except requests.ConnectionError:
            time.sleep(0.1)


def test_the_cli_serves_the_accounts_it_is_given() -> None:
    paypal = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "clinic_sandbox.cli", "serve", "--cliniko-port",
         str(_free_port()), "--paypal-port", str(paypal), "--patients", "5", "--invoices", "5",
         "--paypal-account", f"{B_ID}:{B_SECRET}:x:{B_EMAIL}",
         "--paypal-account", "cove-id:cove-secret:accounts@cove.example"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{paypal}"
    try:
        theirs = _wait_for_token(url, process, (B_ID, f"{B_SECRET}:x"))  # colons in a secret
        assert theirs.status_code == 200
        headers = {"Authorization": f"Bearer {theirs.json()['access_token']}"}
        assert requests.post(url + INVOICES, json=body("B-1", email=B_EMAIL), headers=headers,
                             timeout=30).status_code == 201
        listed = requests.get(url + "/_sandbox/paypal/accounts", timeout=30).json()["accounts"]
        assert [a["client_id"] for a in listed] == ["sandbox-client-id", B_ID, "cove-id"]
        assert requests.get(url + "/_sandbox/paypal/invoices", timeout=30).json()["items"] == []
        cove = token(url, "cove-id", "cove-secret")
        assert cove.status_code == 200
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert f"PayPal account:  {B_ID} ({B_EMAIL};" in out
    assert "PayPal account:  cove-id (accounts@cove.example;" in out
    assert B_SECRET not in out and "cove-secret" not in out

