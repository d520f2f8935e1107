"""The PayPal app's `faults` hook, with a rate limiter, fault injector and stats of its own.

It is the same machinery as Cliniko's, answering in PayPal's shapes.

Order per API call (token included): outage (in the app) -> rate limit -> fault draw ->
latency/slow sleep -> injected answer or the API.  One merchant account per sandbox, so the
limiter has a single key: PayPal does not publish what it limits by.
"""

from __future__ import annotations

import math
import time

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..faults import FaultInjector, RateLimiter, RequestCounter, Stats, drop_connection, screen
from ..knobs import add_knob_routes
from .app import API_PREFIXES, create_paypal_app, error_response
from .control import PREFIX
from .errors import STATUS_NAMES
from .state import PayPalState
from .store import new_debug_id

RATE_KEY = "merchant"
RATE_LIMIT_DOCS = "https://developer.paypal.com/api/rest/reference/rate-limiting/"


def rate_limited(retry_at: float) -> Response:
    """429 RATE_LIMIT_REACHED as observed, with `Retry-After` until `retry_at`.

    The `Retry-After` header (whole seconds) is UNCONFIRMED for PayPal (its docs' sample code
    reads it "if available").
    """
    debug_id = new_debug_id()
    name, message = STATUS_NAMES[429]
    body = {"name": name, "message": message, "debug_id": debug_id,
            "links": [{"href": RATE_LIMIT_DOCS, "rel": "information_link", "method": "GET"}]}
    wait = max(1, math.ceil(retry_at - time.time()))
    return JSONResponse(body, status_code=429,
                        headers={"Retry-After": str(wait), "Paypal-Debug-Id": debug_id})


class DroppedResponse(Response):
    """Starts a 200, sends a little of a long promised body, then aborts the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.status_code = 0  # what the call log records: no HTTP answer ever completed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the broken answer; the connection is then dropped."""
        await drop_connection(send, b'{"items": [')


class PayPalGuard:
    """`faults` for `create_paypal_app`: its own limiter (off by default), injector, stats."""

    def __init__(self) -> None:
        self.limiter = RateLimiter(None)
        # 500 and 503 are the 5xx statuses PayPal's specs name (INTERNAL_SERVER_ERROR and
        # SERVICE_UNAVAILABLE); a 502 would have no PayPal body to send.
        self.faults = FaultInjector(error_statuses=(500, 503))
        self.stats = Stats()

    async def apply(self, request: Request) -> Response | None:
        """Screen one API call: a 429, 5xx or dropped answer, or None to let the API answer."""
        verdict = await screen(self.limiter, self.faults, self.stats, RATE_KEY)
        if verdict.status == 429:
            return rate_limited(verdict.retry_at)
        if verdict.kind == "error_5xx":
            return error_response(verdict.status, [])
        if verdict.kind == "drop":
            return DroppedResponse()
        return None

    def app(self, state: PayPalState) -> ASGIApp:
        """The PayPal app faulted by this guard, with knob routes under `/_sandbox/paypal`.

        Requests are counted from outside the app, so outage 503s and drops show in the stats.
        """
        app = create_paypal_app(state, faults=self)
        add_knob_routes(app, PREFIX, self.limiter, self.faults, self.stats, default_limit=None)
        return RequestCounter(app, API_PREFIXES, self.stats)
