"""Several PayPal merchant accounts behind one port, as behind PayPal's one host.

Each account is a `PayPalState` served by a guarded app of its own (`PayPalGuard().app`), so it
keeps its own invoices and numbers, tokens, call log, webhooks, outage switch, faults, stats and
rate limit (a limit per REST app is UNCONFIRMED: PayPal publishes none).  `PayPalAccounts` is
the ASGI app in front; it picks the account a request is for from what the client presents:

* `POST /v1/oauth2/token`: the client id in its Basic `Authorization` header (the sandbox
  reads credentials nowhere else);
* any other API call: the account whose `TokenIssuer` issued the bearer token;
* `GET /v1/notifications/certs/{cert_id}` (no token): the account that signs with that cert;
* `/_sandbox/paypal/accounts`: list (`GET`) or add (`POST`) accounts; `.../accounts/{client_id}`
  is one account's summary, and `.../accounts/{client_id}/<route>` is that account's
  `/_sandbox/paypal/<route>` (invoices, outage, faults, stats, ...).

Whatever names no account (an unknown client id or token, no credentials) and every other
route go to the default account, which then answers exactly as a one-account sandbox does.
List and search show the token's account's invoices only; a token naming another account's
invoice id gets the spec's 403 PERMISSION_DENIED (`app._owner`; UNCONFIRMED for live PayPal,
`InvoicingRules.foreign_invoice_status` = 404 answers as for an unknown id instead).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from ..faults import ASGIApp, Receive, Scope, Send
from ..knobs import _json_object
from .app import API_PREFIXES
from .auth import basic_credentials
from .control import PREFIX
from .guard import PayPalGuard
from .state import TOKEN_PATH, PayPalState
from .webhooks import CERT_PATH

ACCOUNTS = PREFIX + "/accounts"
NEW_ACCOUNT_FIELDS = ("client_id", "client_secret", "merchant_email")


@dataclass(frozen=True)
class Account:
    """One merchant account: its state, its guard (limits, faults, stats) and its app."""

    state: PayPalState
    guard: PayPalGuard
    app: ASGIApp

    @property
    def client_id(self) -> str:
        """The client id its token endpoint accepts now (it follows credential rotation)."""
        return self.state.credentials.client_id

    def summary(self, default: bool) -> dict[str, Any]:
        """What the account list shows: never the secret."""
        return {"client_id": self.client_id, "merchant_email": self.state.rules.merchant_email,
                "default": default}


class UnknownAccount(KeyError):
    """No PayPal account of this sandbox has the client id."""


class PayPalAccounts:
    """The accounts by client id, default first, and the ASGI app routing requests to them."""

    def __init__(self, default: PayPalState, guard: PayPalGuard | None = None,
                 app: ASGIApp | None = None) -> None:
        guard = guard or PayPalGuard()
        self._lock = threading.Lock()
        self._accounts: tuple[Account, ...] = ()  # replaced whole, so readers need no lock
        self._base_url = ""
        self._join(Account(default, guard, app or guard.app(default)))
        self._control = _control_app(self)

    # -- the accounts -----------------------------------------------------------------------
    @property
    def default(self) -> Account:
        """The account a one-account sandbox has; unroutable requests go to it."""
        return self._accounts[0]

    def add(self, client_id: str, client_secret: str, merchant_email: str) -> PayPalState:
        """A new account with these credentials, like the default in everything else.

        Its tokens last as long, it runs on the same clock and invoicing rules (but its own
        merchant email), and it starts with no invoices, no limit and no faults.

        Raises:
            ValueError: an account already has this client id.
        """
        with self._lock:
            if self.find(client_id) is not None:
                raise ValueError(f"a PayPal account with client id {client_id!r} exists already")
            base = self.default.state
            state = PayPalState(client_id, client_secret, base.tokens.expires_in, base.clock,
                                dataclasses.replace(base.rules, merchant_email=merchant_email),
                                base.honour_request_id, base.stale_token_body)
            guard = PayPalGuard()
            self._join(Account(state, guard, guard.app(state)))
        return state

    def _join(self, account: Account) -> None:
        state = account.state
        state.elsewhere = lambda invoice_id: self._held_by_other(state, invoice_id)
        if self._base_url:
            state.webhooks.base_url = self._base_url
        self._accounts = (*self._accounts, account)

    def _held_by_other(self, asking: PayPalState, invoice_id: str) -> bool:
        return any(a.state is not asking and a.state.store.has(invoice_id)
                   for a in self._accounts)

    def find(self, client_id: str) -> Account | None:
        """The account whose client id this is, or None."""
        return next((a for a in self._accounts if a.client_id == client_id), None)

    def account(self, client_id: str) -> Account:
        """The account whose client id this is; raises `UnknownAccount`."""
        found = self.find(client_id)
        if found is None:
            raise UnknownAccount(f"no PayPal account with client id {client_id!r}")
        return found

    def states(self) -> dict[str, PayPalState]:
        """Every account's state by its client id, the default first."""
        return {a.client_id: a.state for a in self._accounts}

    def summaries(self) -> list[dict[str, Any]]:
        """Client ids and merchant emails, the default first (`GET .../accounts`)."""
        return [a.summary(a is self.default) for a in self._accounts]

    def set_base_url(self, url: str) -> None:
        """Where the sandbox is served: every account's webhooks link back to it."""
        self._base_url = url
        for account in self._accounts:
            account.state.webhooks.base_url = url

    # -- routing ----------------------------------------------------------------------------
    def route(self, scope: Scope) -> Account:
        """The account a request is for (see the module docstring)."""
        accounts, path = self._accounts, scope.get("path", "")
        if len(accounts) == 1 or not path.startswith(API_PREFIXES):
            return accounts[0]
        authorization = _header(scope, b"authorization")
        if path == TOKEN_PATH:
            pair = basic_credentials(authorization)
            found = self.find(pair[0]) if pair is not None else None
        elif path.startswith(CERT_PATH):
            cert_id = path[len(CERT_PATH):]
            found = next((a for a in accounts if a.state.webhooks.serves_cert(cert_id)), None)
        else:
            found = self._by_token(authorization)
        return found or accounts[0]

    def _by_token(self, authorization: str | None) -> Account | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        return next((a for a in self._accounts if a.state.store.token(token) is not None), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (or lifespan event) with the account it is for."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == ACCOUNTS or path.startswith(ACCOUNTS + "/"):
            await self._accounts_control(scope, receive, send)
        else:
            await self.route(scope).app(scope, receive, send)

    async def _accounts_control(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`.../accounts/{client_id}/<route>` to that account's control route; else the list."""
        client_id, slash, route = scope["path"][len(ACCOUNTS) + 1:].partition("/")
        account = self.find(client_id) if slash else None
        if account is None:
            await self._control(scope, receive, send)
            return
        inner = PREFIX + "/" + route
        await account.app({**scope, "path": inner, "raw_path": quote(inner).encode()},
                          receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _missing(body: dict[str, Any]) -> list[str]:
    return [n for n in NEW_ACCOUNT_FIELDS if not isinstance(body.get(n), str) or not body[n]]


def _control_app(accounts: PayPalAccounts) -> FastAPI:
    """`GET|POST .../accounts`, `GET .../accounts/{client_id}`, and 404s for unknown ids."""
    app = FastAPI(title="PayPal sandbox accounts", docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.get(ACCOUNTS)
    async def listing() -> Response:
        return JSONResponse({"accounts": accounts.summaries()})

    @app.post(ACCOUNTS)
    async def add(request: Request) -> Response:
        body = await _json_object(request)
        if missing := _missing(body):
            return JSONResponse({"detail": f"missing or not text: {', '.join(missing)}"},
                                status_code=400)
        try:
            accounts.add(body["client_id"], body["client_secret"], body["merchant_email"])
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        return JSONResponse(accounts.account(body["client_id"]).summary(False),
                            status_code=201)

    @app.get(ACCOUNTS + "/{client_id}")
    async def one(client_id: str) -> Response:
        found = accounts.find(client_id)
        if found is None:
            return _unknown(client_id)
        return JSONResponse(found.summary(found is accounts.default))

    @app.api_route(ACCOUNTS + "/{client_id}/{route:path}",
                   methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown(client_id: str) -> Response:
        return _unknown(client_id)

    return app


def _unknown(client_id: str) -> Response:
    return JSONResponse({"detail": f"no PayPal account with client id {client_id!r}"},
                        status_code=404)
