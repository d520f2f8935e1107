"""`SandboxServer`: the seeded Cliniko API and the PayPal API in one process.

Each is served by uvicorn on its own port and background thread, with separate rate limits,
faults and stats.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import requests
import uvicorn

from .cliniko.app import create_cliniko_app
from .cliniko.seed import seed_store
from .cliniko.store import ClinikoStore
from .faults import ASGIApp, FaultInjector, RateLimiter, Stats
from .paypal.accounts import PayPalAccounts
from .paypal.auth import OBSERVED_EXPIRES_IN
from .paypal.guard import PayPalGuard
from .paypal.state import PayPalState


class _HideInjectedDrops(logging.Filter):
    """uvicorn logs an error for every response we cut short on purpose; keep logs readable."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return "fault injection" not in text and "without completing response" not in text


class PortUnavailable(OSError):
    """The sandbox cannot listen on a port: another program holds it, or it is not allowed."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({reason})")
        self.host, self.port = host, port


class _Served:
    """One ASGI app served by uvicorn on a daemon thread.

    The socket is bound up front, so port 0 gives a free port we know before uvicorn starts.
    """

    def __init__(self, app: ASGIApp, host: str, port: int, name: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this; without it Nagle + delayed ACK add ~40 ms to every
        # response uvicorn writes in two parts (head, then body).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise PortUnavailable(host, port, exc.strerror or str(exc)) from exc
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False,
                                lifespan="off", timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:  # wait for uvicorn's startup, not for test timing
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"{self.thread.name} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()


class SandboxServer:
    """In-process sandbox: `with SandboxServer(seed=42) as sb: sb.cliniko_url, sb.paypal_url`."""

    def __init__(self, seed: int = 42, patients: int = 500, invoices: int = 800,
                 host: str = "127.0.0.1", cliniko_port: int = 0,
                 api_key: str = "sandbox-key-au1", rate_limit: int | None = 200,
                 rate_window: float = 60.0, paypal_port: int = 0,
                 paypal_client_id: str = "sandbox-client-id",
                 paypal_client_secret: str = "sandbox-client-secret",
                 paypal_token_expires_in: int = OBSERVED_EXPIRES_IN) -> None:
        self.host, self.api_key = host, api_key
        self._port, self._paypal_port = cliniko_port, paypal_port
        self.cliniko = ClinikoStore(id_seed=seed)
        seed_store(self.cliniko, seed=seed, patients=patients, invoices=invoices)
        self.limiter = RateLimiter(rate_limit, rate_window)
        self.faults = FaultInjector()
        self.stats_counter = Stats()
        self.app = create_cliniko_app(self.cliniko, api_key, self.limiter, self.faults,
                                      self.stats_counter)
        self.paypal = PayPalState(paypal_client_id, paypal_client_secret,
                                  paypal_token_expires_in)
        self.paypal_guard = PayPalGuard()
        self.paypal_app = self.paypal_guard.app(self.paypal)
        # What the PayPal port serves: the default account above, and any added later.
        self.paypal_router = PayPalAccounts(self.paypal, self.paypal_guard, self.paypal_app)
        self._served: list[_Served] = []

    # ----- lifecycle -----------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Serve both APIs; return once both listen (port 0: a free port, see `port`)."""
        logging.getLogger("uvicorn.error").addFilter(_HideInjectedDrops())
        try:
            cliniko = self._serve(self.app, self._port, "sandbox-cliniko")
            self._port = cliniko.port
            self.cliniko.base_url = self.cliniko_url
            self._paypal_port = self._serve(self.paypal_router, self._paypal_port,
                                            "sandbox-paypal").port
            self.paypal_router.set_base_url(self.paypal_url)
        except BaseException:
            self.stop()
            raise
        return self

    def _serve(self, app: ASGIApp, port: int, name: str) -> _Served:
        served = _Served(app, self.host, port, name)
        self._served.append(served)
        served.start()
        return served

    def stop(self) -> None:
        """Stop serving and close the sockets; the seeded data stays."""
        for served in self._served:
            served.stop()
        self._served = []

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- the Python API ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The Cliniko API's port (the bound one once started, even if 0 was asked)."""
        return self._port

    @property
    def cliniko_url(self) -> str:
        """Cliniko API base URL, ending in `/v1`."""
        return f"http://{self.host}:{self._port}/v1"

    @property
    def control_url(self) -> str:
        """Base URL of the Cliniko sandbox's control routes (`/stats`, `/faults`, ...)."""
        return f"http://{self.host}:{self._port}/_sandbox"

    def cliniko_session(self, user_agent: str = "sandbox client (devs@example.com)"
                        ) -> requests.Session:
        """A `requests` session with the key and a User-Agent, as a well-behaved client."""
        session = requests.Session()
        session.auth = (self.api_key, "")
        session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        return session

    def set_rate_limit(self, limit: int | None = 200, window_seconds: float = 60.0) -> None:
        """Cliniko's per-key limit: `limit` requests per window (None: unlimited)."""
        self.limiter.configure(limit, window_seconds)

    def set_faults(self, error_5xx: float = 0.0, error_429: float = 0.0, drop: float = 0.0,
                   slow: float = 0.0, slow_seconds: float = 2.0, latency_ms: float = 0,
                   seed: int | None = None) -> None:
        """Fail or slow these shares (0 to 1) of Cliniko API requests, drawn from `seed`."""
        self.faults.configure(error_5xx=error_5xx, error_429=error_429, drop=drop, slow=slow,
                              slow_seconds=slow_seconds, latency_ms=latency_ms, seed=seed)

    def stats(self) -> dict[str, Any]:
        """Cliniko API requests since the last reset: total, by status, by path, delay."""
        return self.stats_counter.snapshot()

    def reset_stats(self) -> None:
        """Zero the Cliniko request counts."""
        self.stats_counter.reset()

    # ----- the PayPal half ---------------------------------------------------------------------
    @property
    def paypal_port(self) -> int:
        """The PayPal API's port (the bound one once started, even if 0 was asked)."""
        return self._paypal_port

    @property
    def paypal_url(self) -> str:
        """Base URL without a trailing slash: clients append `/v1/oauth2/token`, `/v2/...`."""
        return f"http://{self.host}:{self._paypal_port}"

    @property
    def paypal_control_url(self) -> str:
        """Base URL of the PayPal sandbox's control routes (`/stats`, `/invoices`, ...)."""
        return f"{self.paypal_url}/_sandbox/paypal"

    @property
    def paypal_client_id(self) -> str:
        """The client id the PayPal sandbox accepts."""
        return self.paypal.credentials.client_id

    @property
    def paypal_client_secret(self) -> str:
        """The client secret the PayPal sandbox accepts."""
        return self.paypal.credentials.client_secret

    def paypal_session(self, client_id: str | None = None) -> requests.Session:
        """A `requests` session holding a fresh bearer token (of the account `client_id`).

        The token is fetched through the API, so it counts in the stats and can be faulted.
        """
        credentials = self._paypal_state(client_id).credentials
        session = requests.Session()
        reply = session.post(self.paypal_url + "/v1/oauth2/token",
                             auth=(credentials.client_id, credentials.client_secret),
                             data={"grant_type": "client_credentials"}, timeout=30)
        reply.raise_for_status()
        session.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        return session

    def set_paypal_rate_limit(self, limit: int | None = None, window_seconds: float = 60.0,
                              client_id: str | None = None) -> None:
        """Limit PayPal API requests per window; off by default, as PayPal publishes no limit.

        The window also sets an injected 429's `Retry-After`.  Each account (`client_id`; None:
        the default) has its own limit, as PayPal limits per REST app.
        """
        self._paypal_guard(client_id).limiter.configure(limit, window_seconds)

    def set_paypal_faults(self, error_5xx: float = 0.0, error_429: float = 0.0, drop: float = 0.0,
                          slow: float = 0.0, slow_seconds: float = 2.0, latency_ms: float = 0,
                          seed: int | None = None, answer_lost: float = 0.0,
                          client_id: str | None = None) -> None:
        """Fail or slow these shares (0 to 1) of PayPal API requests, drawn from `seed`.

        `answer_lost`: the share of writes PayPal carries out whose answer is then lost (a
        500/503 or a dropped connection instead of the 2xx); see `paypal/guard.py`.  Only the
        account `client_id`'s requests (None: the default account's).
        """
        self._paypal_guard(client_id).faults.configure(
            error_5xx=error_5xx, error_429=error_429, drop=drop, slow=slow,
            slow_seconds=slow_seconds, latency_ms=latency_ms, seed=seed, answer_lost=answer_lost)

    def set_paypal_token_expiry(self, seconds: int, client_id: str | None = None) -> None:
        """Lifetime in seconds of the PayPal tokens issued from now on (by that account).

        Tokens already issued keep theirs (`PUT /_sandbox/paypal/token-expiry` does the same).
        """
        self._paypal_state(client_id).set_token_expiry(seconds)

    def set_paypal_outage(self, down: bool = True, client_id: str | None = None) -> None:
        """While down, every PayPal API call (token included) answers 503; False ends it.

        Only the account `client_id`'s calls (None: the default account's).
        """
        self._paypal_state(client_id).set_outage(down)

    def paypal_stats(self, client_id: str | None = None) -> dict[str, Any]:
        """PayPal API requests since the last reset: total, by status, by path, delay.

        Also `answers_lost`: writes carried out whose answer was replaced by a 5xx or a drop.
        Counted per account (`client_id`; None: the default account).
        """
        return self._paypal_guard(client_id).stats.snapshot()

    def reset_paypal_stats(self, client_id: str | None = None) -> None:
        """Zero the PayPal request counts (of the account `client_id`; None: the default)."""
        self._paypal_guard(client_id).stats.reset()

    def paypal_notifications(self, invoice_id: str | None = None, client_id: str | None = None
                             ) -> list[dict[str, Any]]:
        """Who the PayPal API's writes emailed, oldest first (see `PayPalState.notifications`).

        E.g. "never emailed": `not any(n["recipient_emailed"] for n in
        sb.paypal_notifications(invoice_id))`.  Of the account `client_id` (None: the default).
        """
        return self._paypal_state(client_id).notifications(invoice_id)

    def set_paypal_webhook(self, url: str | None, webhook_id: str | None = None,
                           retries: int = 2, client_id: str | None = None) -> None:
        """Send signed INVOICING.INVOICE.* events of an account to `url` (None: stop sending)."""
        self._paypal_state(client_id).webhooks.configure(url, webhook_id, retries)

    @property
    def paypal_cert_origin(self) -> str:
        """The origin a receiver must allow certificates from (`--allowed-cert-hosts`)."""
        return self.paypal_url

    # ----- several PayPal accounts -------------------------------------------------------------
    def add_paypal_account(self, client_id: str, client_secret: str,
                           merchant_email: str) -> PayPalState:
        """Another merchant account on the PayPal port (before or after `start`).

        Its credentials give tokens for it alone; it has its own invoices, numbers, call log,
        webhooks, outage, faults, stats and limit (`paypal/accounts.py`).  Raises ValueError
        if an account has this client id already.
        """
        return self.paypal_router.add(client_id, client_secret, merchant_email)

    @property
    def paypal_accounts(self) -> dict[str, PayPalState]:
        """Every PayPal account by client id, the default (`paypal`) first."""
        return self.paypal_router.states()

    def _paypal_state(self, client_id: str | None) -> PayPalState:
        return self.paypal if client_id is None else self.paypal_router.account(client_id).state

    def _paypal_guard(self, client_id: str | None) -> PayPalGuard:
        if client_id is None:
            return self.paypal_guard
        return self.paypal_router.account(client_id).guard
