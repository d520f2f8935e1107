"""The PayPal half served over real HTTP beside Cliniko: its own faults, limit, stats, outage,
HTTP knobs, and `sandbox serve` starting both servers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from clinic_sandbox import SandboxServer

INVOICES = "/v2/invoicing/invoices"
TOKEN = "/v1/oauth2/token"


@pytest.fixture
def sb(make_sandbox) -> SandboxServer:
    return make_sandbox(patients=5, invoices=5)


def invoice_body(number: str = "CLN-1") -> dict[str, Any]:
    return {"detail": {"currency_code": "AUD", "invoice_number": number},
            "primary_recipients": [{"billing_info": {"email_address": "jane@example.com"}}],
            "items": [{"name": "Consult", "quantity": "1",
                       "unit_amount": {"currency_code": "AUD", "value": "100.00"}}]}


def statuses(session: requests.Session, url: str, times: int) -> list[int]:
    return [session.get(url).status_code for _ in range(times)]


def test_token_create_and_get_over_http(paypal_sandbox: SandboxServer) -> None:
    sb = paypal_sandbox
    assert sb.paypal_url == f"http://127.0.0.1:{sb.paypal_port}"
    assert sb.paypal_port != sb.port
    token = requests.post(sb.paypal_url + TOKEN, data={"grant_type": "client_credentials"},
                          auth=(sb.paypal_client_id, sb.paypal_client_secret)).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    created = requests.post(sb.paypal_url + INVOICES, json=invoice_body(), headers=headers)
    assert created.status_code == 201
    href = created.json()["href"]
    assert href.startswith(sb.paypal_url + INVOICES + "/")
    invoice = requests.get(href, headers=headers).json()
    assert invoice["status"] == "DRAFT" and invoice["detail"]["invoice_number"] == "CLN-1"
    assert sb.paypal.invoice(invoice["id"]) is not None
    assert sb.paypal_stats()["by_path"] == {TOKEN: 1, INVOICES: 1, href[len(sb.paypal_url):]: 1}
    assert sb.stats()["requests"] == 0  # Cliniko's counters are separate


def test_constructor_sets_credentials_and_token_lifetime(make_sandbox) -> None:
    sb = make_sandbox(patients=5, invoices=5, paypal_client_id="me",
                      paypal_client_secret="secret", paypal_token_expires_in=600)
    assert (sb.paypal_client_id, sb.paypal_client_secret) == ("me", "secret")
    token = requests.post(sb.paypal_url + TOKEN, auth=("me", "secret"),
                          data={"grant_type": "client_credentials"}).json()
    assert token["expires_in"] == 600


def test_5xx_faults_are_seeded_with_paypal_bodies(sb: SandboxServer) -> None:
    api = sb.paypal_session()

    def run() -> list[requests.Response]:
        sb.set_paypal_faults(error_5xx=0.5, seed=3)
        return [api.get(sb.paypal_url + INVOICES) for _ in range(30)]

    first = run()
    codes = [r.status_code for r in first]
    assert codes == [r.status_code for r in run()]
    assert set(codes) == {200, 500, 503}  # only the 5xx statuses PayPal's specs name
    names = {r.status_code: r.json()["name"] for r in first if r.status_code >= 500}
    assert names == {500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}
    assert all(r.headers["Paypal-Debug-Id"] for r in first)


def test_token_endpoint_is_faulted_too(sb: SandboxServer) -> None:
    sb.set_paypal_faults(error_5xx=1.0, seed=1)
    with pytest.raises(requests.HTTPError):
        sb.paypal_session()
    assert sb.paypal_stats()["by_path"] == {TOKEN: 1}


def test_429_fault_has_paypal_body_and_retry_after(sb: SandboxServer) -> None:
    api = sb.paypal_session()
    sb.set_paypal_rate_limit(None, window_seconds=5)  # the window sets an injected Retry-After
    sb.set_paypal_faults(error_429=1.0, seed=1)
    r = api.post(sb.paypal_url + INVOICES, json=invoice_body())
    assert r.status_code == 429 and r.headers["Retry-After"] == "5"
    body = r.json()
    assert body["name"] == "RATE_LIMIT_REACHED"
    assert body["message"] == "Too many requests. Blocked due to rate limiting."
    assert body["debug_id"] == r.headers["Paypal-Debug-Id"]
    assert body["links"][0]["rel"] == "information_link"
    assert sb.paypal.invoices() == []  # faulted before the route


def test_rate_limit_is_per_sandbox_and_off_by_default(sb: SandboxServer) -> None:
    api = sb.paypal_session()
    url = sb.paypal_url + INVOICES
    assert 429 not in statuses(api, url, 5)
    sb.set_paypal_rate_limit(limit=2, window_seconds=60)
    assert statuses(api, url, 3) == [200, 200, 429]
    retry_after = int(api.get(url).headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert sb.cliniko_session().get(sb.cliniko_url + "/taxes").ok  # Cliniko not limited
    sb.set_paypal_rate_limit(None)
    assert api.get(url).ok


def test_dropped_connection(sb: SandboxServer) -> None:
    token = sb.paypal_session().headers["Authorization"]
    sb.reset_paypal_stats()
    sb.set_paypal_faults(drop=1.0, seed=1)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(sb.paypal_url + INVOICES, headers={"Authorization": token})
    assert sb.paypal_stats()["by_status"] == {"dropped": 1}
    assert sb.paypal.call_log[-1].status == 0  # the call log's mark for "no answer"


def test_slow_and_latency_show_in_server_stats(sb: SandboxServer) -> None:
    api = sb.paypal_session()
    sb.reset_paypal_stats()
    sb.set_paypal_faults(latency_ms=100)
    replies = [api.get(sb.paypal_url + INVOICES) for _ in range(3)]
    assert all(r.ok for r in replies)
    assert sb.paypal_stats()["delay_seconds"] == pytest.approx(0.3)
    assert all(r.elapsed.total_seconds() >= 0.1 for r in replies)  # a floor, never a ceiling
    sb.set_paypal_faults(slow=1.0, slow_seconds=0.2, seed=1)
    assert api.get(sb.paypal_url + INVOICES).ok
    assert sb.paypal_stats()["delay_seconds"] == pytest.approx(0.5)
    assert sb.stats()["delay_seconds"] == 0  # Cliniko's faults are separate


def test_cliniko_faults_leave_paypal_alone(sb: SandboxServer) -> None:
    sb.set_faults(error_5xx=1.0, seed=1)
    assert sb.paypal_session().get(sb.paypal_url + INVOICES).ok
    sb.set_faults()
    sb.set_paypal_faults(error_5xx=1.0, seed=1)
    assert sb.cliniko_session().get(sb.cliniko_url + "/taxes").ok


def test_outage(sb: SandboxServer) -> None:
    api = sb.paypal_session()
    sb.set_paypal_outage(True)
    down = api.get(sb.paypal_url + INVOICES)
    assert down.status_code == 503 and down.json()["name"] == "SERVICE_UNAVAILABLE"
    token = requests.post(sb.paypal_url + TOKEN, data={"grant_type": "client_credentials"},
                          auth=(sb.paypal_client_id, sb.paypal_client_secret))
    assert token.status_code == 503
    sb.set_paypal_outage(False)
    assert api.get(sb.paypal_url + INVOICES).ok
    assert sb.paypal_stats()["by_status"] == {"200": 2, "503": 2}


def test_http_knobs_on_the_paypal_port(sb: SandboxServer) -> None:
    ctl = sb.paypal_control_url
    api = sb.paypal_session()
    url = sb.paypal_url + INVOICES
    assert requests.get(ctl + "/rate_limit").json() == {"limit": None, "window_seconds": 60.0}
    assert requests.put(ctl + "/rate_limit", json={"limit": 1, "window_seconds": 30}).ok
    assert statuses(api, url, 2) == [200, 429]
    assert requests.put(ctl + "/rate_limit", json={}).json()["limit"] is None
    assert requests.put(ctl + "/faults", json={"error_5xx": 1.0, "seed": 2}).ok
    assert requests.get(ctl + "/faults").json()["error_5xx"] == 1.0
    failed = api.get(url).status_code
    assert failed in (500, 503)
    assert requests.put(ctl + "/faults", json={"error_5xx": 2}).status_code == 400
    assert requests.put(ctl + "/faults", json={"latency_ms": 50}).ok
    assert requests.put(ctl + "/outage", json={"down": True}).json() == {"down": True}
    assert api.get(url).status_code == 503  # the outage answers before any fault or latency
    assert requests.put(ctl + "/outage", json={"down": False}).ok
    assert api.get(url).ok
    stats = requests.get(ctl + "/stats").json()
    expected = {"200": 3, "429": 1, "503": 1}
    expected[str(failed)] = expected.get(str(failed), 0) + 1
    assert stats["by_status"] == expected and stats["requests"] == 6
    assert stats["delay_seconds"] == pytest.approx(0.05)
    assert requests.post(ctl + "/stats/reset").json()["requests"] == 0
    assert requests.get(sb.control_url + "/stats").json()["requests"] == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(urls: list[str], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    pending = list(urls)
    while pending:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"not up: {pending}"
        try:
            if requests.get(pending[0], timeout=2).ok:
                pending.pop(0)
                continue
        except requests.ConnectionError:
            pass
        time.sleep(0.1)  # polling for startup, not timing anything


def test_sandbox_serve_starts_both_servers() -> None:
    cliniko, paypal = _free_port(), _free_port()
    command = [sys.executable, "-m", "clinic_sandbox.cli", "serve", "--cliniko-port",
               str(cliniko), "--paypal-port", str(paypal), "--patients", "5", "--invoices", "5",
               "--paypal-client-id", "cli-id", "--paypal-client-secret", "cli-secret"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        paypal_url = f"http://127.0.0.1:{paypal}"
        _wait_until_up([f"http://127.0.0.1:{cliniko}/_sandbox/stats",
                        paypal_url + "/_sandbox/paypal/stats"], process)
        token = requests.post(paypal_url + TOKEN, auth=("cli-id", "cli-secret"),
                              data={"grant_type": "client_credentials"})
        assert token.ok and token.json()["access_token"]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert f"PayPal sandbox:  {paypal_url}" in out and "cli-id" in out
    assert f"http://127.0.0.1:{cliniko}/v1" in out


def test_set_paypal_token_expiry_sets_the_lifetime_of_new_tokens(sb: SandboxServer) -> None:
    def fetch() -> dict[str, Any]:
        return requests.post(sb.paypal_url + TOKEN, data={"grant_type": "client_credentials"},
                             auth=(sb.paypal_client_id, sb.paypal_client_secret)).json()

    sb.set_paypal_token_expiry(2)
    assert fetch()["expires_in"] == 2
    assert requests.get(sb.paypal_control_url + "/credentials").json()["token_expires_in"] == 2
    sb.set_paypal_token_expiry(600)
    sb.paypal.expire_tokens()  # a live token is handed out again until it expires
    assert fetch()["expires_in"] == 600
