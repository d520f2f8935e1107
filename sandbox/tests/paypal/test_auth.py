"""OAuth2 client credentials: what a client fetching and using tokens would check."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from clinic_sandbox.paypal import PayPalState, create_paypal_app

INVOICES = "/v2/invoicing/invoices"


def token(client, user="test-client", secret="test-secret", grant="client_credentials"):
    return client.post("/v1/oauth2/token", auth=(user, secret), data={"grant_type": grant})


def test_token_has_paypal_fields_and_configured_expiry(client):
    response = token(client)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"scope", "access_token", "token_type", "app_id", "expires_in", "nonce"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "https://uri.paypal.com/services/invoicing" in body["scope"].split()
    assert body["app_id"].startswith("APP-")


def test_same_token_is_returned_while_valid(client, clock):
    first = token(client).json()
    clock.advance(600)
    second = token(client).json()
    assert second["access_token"] == first["access_token"]
    assert second["expires_in"] == 3000


@pytest.mark.parametrize("user,secret", [("test-client", "wrong"), ("someone", "test-secret")])
def test_bad_credentials_get_oauth_invalid_client(client, user, secret):
    response = token(client, user, secret)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client",
                               "error_description": "Client Authentication failed"}


def test_missing_basic_auth_is_invalid_client(client):
    response = client.post("/v1/oauth2/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_other_grant_types_are_refused(client):
    response = token(client, grant="password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def _list(client, bearer):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return client.get(INVOICES, headers=headers)


def test_api_needs_a_bearer_token(client):
    response = _list(client, None)
    assert response.status_code == 401
    body = response.json()
    assert body["name"] == "AUTHENTICATION_FAILURE"
    assert body["debug_id"]
    assert response.headers["Paypal-Debug-Id"] == body["debug_id"]


def test_unknown_token_is_refused(client):
    assert _list(client, "A21AAnot-a-real-token").status_code == 401


def test_token_expires_with_the_clock(client, clock):
    access = token(client).json()["access_token"]
    assert _list(client, access).status_code == 200
    clock.advance(3599)
    assert _list(client, access).status_code == 200
    clock.advance(1)
    response = _list(client, access)
    assert response.status_code == 401
    assert response.json()["name"] == "AUTHENTICATION_FAILURE"
    renewed = token(client).json()["access_token"]
    assert renewed != access
    assert _list(client, renewed).status_code == 200


def test_expiry_is_configurable_and_tokens_can_be_expired_by_hand(client, state):
    state.set_token_expiry(60)
    access = token(client).json()
    assert access["expires_in"] == 60
    state.expire_tokens()
    assert _list(client, access["access_token"]).status_code == 401


def test_rotated_credentials_invalidate_old_tokens(client, state):
    access = token(client).json()["access_token"]
    state.set_credentials("new-client", "new-secret")
    assert _list(client, access).status_code == 401
    assert token(client).status_code == 401
    assert token(client, "new-client", "new-secret").status_code == 200


def test_stale_token_can_answer_with_the_observed_oauth_shape(clock):
    state = PayPalState(client_id="c", client_secret="s", clock=clock, token_expires_in=10,
                        stale_token_body="oauth")
    with TestClient(create_paypal_app(state)) as client:
        access = token(client, "c", "s").json()["access_token"]
        clock.advance(10)
        response = _list(client, access)
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_token",
                                   "error_description": "Access Token not found in cache"}
        # A missing header still gets PayPal's REST error body.
        assert _list(client, None).json()["name"] == "AUTHENTICATION_FAILURE"


def test_a_token_issued_for_2_seconds_is_refused_once_the_clock_moves(client, clock):
    assert client.put("/_sandbox/paypal/token-expiry", json={"seconds": 2}).status_code == 204
    issued = token(client).json()
    assert issued["expires_in"] == 2
    assert _list(client, issued["access_token"]).status_code == 200
    clock.advance(1.9)
    assert _list(client, issued["access_token"]).status_code == 200
    clock.advance(0.1)
    refused = _list(client, issued["access_token"])
    assert refused.status_code == 401
    assert refused.json()["name"] == "AUTHENTICATION_FAILURE"
    renewed = token(client).json()
    assert renewed["access_token"] != issued["access_token"] and renewed["expires_in"] == 2
