"""OAuth2 client credentials (notes §1): issuing and checking bearer tokens.

PayPal hands back the same token while it is still valid [obs], so does the sandbox.  Time comes
from an injectable clock, so tests expire tokens by moving the clock, never by sleeping.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .store import PayPalStore, Token, new_access_token

SCOPES = " ".join((
    "https://uri.paypal.com/services/invoicing",
    "https://uri.paypal.com/services/invoicing/invoices/read",
    "https://uri.paypal.com/services/invoicing/invoices/readwrite",
    "https://uri.paypal.com/services/reporting/search/read",
    "https://uri.paypal.com/services/applications/webhooks",
))
APP_ID = "APP-80W284485P519543T"
OBSERVED_EXPIRES_IN = 32400  # 9 h, as real tokens show [obs]; configurable


class OAuthError(Exception):
    """Token-endpoint failures use the OAuth (RFC 6749) body, not PayPal's REST shape."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, str]:
        """The RFC 6749 error body: `error` and `error_description`."""
        return {"error": self.error, "error_description": self.description}


@dataclass
class Credentials:
    """The one REST app's client id and secret the sandbox accepts."""

    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an HTTP Basic `Authorization` header; None if it is not one."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class TokenIssuer:
    """Issues bearer tokens for the client credentials and checks the ones clients present."""

    def __init__(self, store: PayPalStore, credentials: Credentials, clock: Callable[[], float],
                 expires_in: int = OBSERVED_EXPIRES_IN) -> None:
        self.store, self.credentials, self.clock = store, credentials, clock
        self.expires_in = expires_in

    def issue(self, authorization: str | None, form: dict[str, Any]) -> dict[str, Any]:
        """The token response for a `POST /v1/oauth2/token`; raises OAuthError."""
        pair = basic_credentials(authorization)
        if pair is None or not (secrets.compare_digest(pair[0], self.credentials.client_id)
                                and secrets.compare_digest(pair[1],
                                                           self.credentials.client_secret)):
            raise OAuthError(401, "invalid_client", "Client Authentication failed")
        grant = form.get("grant_type")
        if grant is None:
            raise OAuthError(400, "invalid_request", "grant_type is missing")
        if grant != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type",
                             f"Grant Type {grant} is not supported")
        now = self.clock()  # one reading: a fresh token reports exactly `expires_in`
        token = self._current_or_new(pair[0], now)
        return {"scope": SCOPES, "access_token": token.access_token, "token_type": "Bearer",
                "app_id": APP_ID, "expires_in": max(int(token.expires_at - now), 0),
                "nonce": self._nonce(now)}

    def _current_or_new(self, client_id: str, now: float) -> Token:
        with self.store.lock:
            for token in self.store.tokens():
                if token.client_id == client_id and token.expires_at > now:
                    return token
            token = Token(new_access_token(), client_id, now, now + self.expires_in)
            self.store.add_token(token)
            return token

    @staticmethod
    def _nonce(now: float) -> str:
        moment = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return moment + secrets.token_urlsafe(32)

    def check(self, authorization: str | None) -> str | None:
        """None for a live bearer token, else why not: "missing", "unknown" or "expired"."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return "missing"
        token = self.store.token(authorization[7:].strip())
        if token is None or token.client_id != self.credentials.client_id:
            return "unknown"
        return "expired" if token.expires_at <= self.clock() else None

    def expire_all(self) -> None:
        """Make every issued token stale (as PayPal's cache eviction would)."""
        with self.store.lock:
            for token in self.store.tokens():
                self.store.add_token(Token(token.access_token, token.client_id, token.issued_at,
                                           min(token.expires_at, self.clock())))
