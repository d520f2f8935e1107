"""The PayPal client on its own: tokens, Retry-After, retries, and messages without secrets."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import urllib3

from target_paypal import client as client_module
from target_paypal.client import PayPalClient, PayPalError, token_margin


def client_for(sandbox, waits: list[float] | None = None, **kwargs) -> PayPalClient:
    return PayPalClient(
        sandbox.paypal_url,
        sandbox.paypal_client_id,
        sandbox.paypal_client_secret,
        max_requests_per_second=0,
        sleep=(waits.append if waits is not None else lambda _: None),
        **kwargs,
    )


BODY = {
    "detail": {"currency_code": "AUD", "invoice_number": "T-1", "reference": "r1"},
    "items": [
        {
            "name": "Consult",
            "quantity": "1",
            "unit_amount": {"currency_code": "AUD", "value": "90.00"},
        }
    ],
}


def test_expired_token_is_renewed_once(paypal_sandbox) -> None:
    client = client_for(paypal_sandbox)
    client.access_token()
    paypal_sandbox.paypal.expire_tokens()
    created = client.create_invoice(BODY)
    assert created["status"] == "DRAFT"
    assert [c.path for c in paypal_sandbox.paypal.call_log].count("/v1/oauth2/token") == 2


def test_a_token_that_expires_while_retries_wait_is_renewed_each_time(paypal_sandbox) -> None:
    """PayPal turns away half the calls (429) and every token expires during each wait, as a
    3-second token does under load: each try after a wait takes a new token, nothing fails."""
    client = client_for(paypal_sandbox, max_tries=30)
    client._sleep = lambda _: paypal_sandbox.paypal.expire_tokens()
    client.access_token()
    paypal_sandbox.set_paypal_faults(error_429=0.5, seed=3)
    for n in range(8):
        client.create_invoice({**BODY, "detail": {**BODY["detail"], "invoice_number": f"E-{n}"}})
    paypal_sandbox.set_paypal_faults()
    log = paypal_sandbox.paypal.call_log
    assert sum(1 for c in log if c.status == 401) > 1, "the case never arose"
    assert len(paypal_sandbox.paypal.invoices()) == 8


def test_retry_after_is_honoured_on_429(paypal_sandbox) -> None:
    paypal_sandbox.set_paypal_rate_limit(limit=None, window_seconds=7)
    paypal_sandbox.set_paypal_faults(error_429=0.5, seed=2)
    waits: list[float] = []
    client = client_for(paypal_sandbox, waits, max_tries=20)
    for n in range(6):
        client.create_invoice({**BODY, "detail": {**BODY["detail"], "invoice_number": f"T-{n}"}})
    assert waits and all(w == 7.0 for w in waits)


def test_5xx_is_retried_with_growing_backoff(paypal_sandbox) -> None:
    paypal_sandbox.set_paypal_faults(error_5xx=1.0, seed=1)
    waits: list[float] = []
    client = client_for(paypal_sandbox, waits, max_tries=4, backoff_base_seconds=1.0)
    with pytest.raises(PayPalError) as error:
        client.access_token()
    assert error.value.retriable and len(waits) == 3
    assert waits[0] < waits[1] < waits[2]


def test_a_dropped_read_is_retried_a_dropped_write_is_not_resent(paypal_sandbox) -> None:
    """The sandbox drops as servers do: a 200 head, part of the body, then a closed connection
    (urllib3 raises ProtocolError: connection broken). A read is simply retried; a
    write may have been done, so the client hands it back as answer lost, sent once."""
    paypal_sandbox.set_paypal_faults(drop=1.0, seed=1)
    waits: list[float] = []
    client = client_for(paypal_sandbox, waits, max_tries=3)
    with pytest.raises(PayPalError) as error:
        client.access_token()
    assert error.value.retriable and error.value.name == "ProtocolError"
    assert len(waits) == 2
    paypal_sandbox.set_paypal_faults()
    client.access_token()
    paypal_sandbox.set_paypal_faults(drop=1.0, seed=1)
    with pytest.raises(PayPalError) as error:
        client.create_invoice(BODY)
    assert error.value.answer_lost and error.value.operation == "create"
    creates = [c for c in paypal_sandbox.paypal.call_log if c.path == "/v2/invoicing/invoices"]
    assert len(creates) == 1, "a create whose answer was lost was sent again blindly"


def test_a_refused_connection_is_not_an_answer_lost(paypal_sandbox) -> None:
    """Nothing reached PayPal, so nothing needs reading back: the client retries it."""
    client = PayPalClient("http://127.0.0.1:9", "id", "secret", max_tries=2, sleep=lambda _: None)
    with pytest.raises(PayPalError) as error:
        client.create_invoice(BODY)
    assert error.value.unreachable and not error.value.answer_lost


def test_token_refresh_margin_scales_with_its_lifetime(paypal_sandbox, monkeypatch) -> None:
    """A 60-second token is used for 54 s, not refreshed on every call (a fixed minute's margin
    would); PayPal's 9-hour token is refreshed a minute early."""
    assert token_margin(32400) == 60 and token_margin(60) == 6
    paypal_sandbox.paypal.set_token_expiry(60)
    client = client_for(paypal_sandbox)
    client.access_token()
    started = time.time()

    def tokens_fetched_at(seconds_later: float) -> int:
        monkeypatch.setattr(
            client_module, "time", SimpleNamespace(time=lambda: started + seconds_later)
        )
        client.access_token()
        return [c.path for c in paypal_sandbox.paypal.call_log].count("/v1/oauth2/token")

    assert tokens_fetched_at(53) == 1, "a 60-second token refreshed after 53 s"
    assert tokens_fetched_at(55) == 2, "a 60-second token not refreshed 5 s before its expiry"


def test_refused_credentials_say_so_without_the_secret(paypal_sandbox) -> None:
    client = PayPalClient(
        paypal_sandbox.paypal_url, "wrong-id", "very-secret-value", max_requests_per_second=0
    )
    with pytest.raises(PayPalError) as error:
        client.access_token()
    assert error.value.status == 401 and "refused" in str(error.value)
    assert "very-secret-value" not in str(error.value)


def test_error_names_issues_not_values(paypal_sandbox) -> None:
    client = client_for(paypal_sandbox)
    bad = {**BODY, "detail": {**BODY["detail"], "invoice_number": "N" * 40}}
    with pytest.raises(PayPalError) as error:
        client.create_invoice(bad)
    assert error.value.status == 400 and error.value.issues
    assert "N" * 40 not in str(error.value) and error.value.debug_id


def test_proxies_and_the_ca_bundle_come_from_the_environment_read_once(monkeypatch) -> None:
    """The transport reads them when made (requests would on every call): a proxy for PayPal's
    host is used, NO_PROXY still bypasses it, and REQUESTS_CA_BUNDLE is what verifies."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.clinic.example:3128")
    monkeypatch.setenv("NO_PROXY", "api-m.paypal.com")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/clinic/ca.pem")
    sandbox = PayPalClient("https://api-m.sandbox.paypal.com", "id", "secret")
    transport = sandbox.transport
    assert transport.proxy == "http://proxy.clinic.example:3128"
    assert isinstance(transport.pool, urllib3.ProxyManager)
    assert transport.pool.proxy.host == "proxy.clinic.example"
    assert transport.ca_certs == "/etc/clinic/ca.pem"
    live = PayPalClient("https://api-m.paypal.com", "id", "secret")
    assert live.transport.proxy is None
    assert not isinstance(live.transport.pool, urllib3.ProxyManager)
