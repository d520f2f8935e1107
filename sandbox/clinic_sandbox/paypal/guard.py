"""The PayPal app's `faults` hook, with a rate limiter, fault injector and stats of its own.

It is the same machinery as Cliniko's, answering in PayPal's shapes.

Order per API call (token included): outage (in the app) -> rate limit -> fault draw ->
latency/slow sleep -> injected answer or the API.  Each merchant account has a guard of its own
(`accounts.py`), so the limiter has a single key.  PayPal publishes no limits, so a limit per
REST app is UNCONFIRMED.

PayPal's own fault kind, `answer_lost` ("the write is done, the answer is lost"), is drawn
like the others but acts after the API: a write (`state.is_write`) that the API answered with
a 2xx is committed, and the client gets a 500/503 in PayPal's shape or a dropped connection
instead of that answer.  Reads, the token endpoint and refused (4xx) writes are answered as
usual.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..faults import (
    FaultInjector,
    FaultSettings,
    RateLimiter,
    RequestCounter,
    Stats,
    drop_connection,
    screen,
)
from ..knobs import add_knob_routes
from .app import API_PREFIXES, create_paypal_app, error_response
from .control import PREFIX
from .errors import STATUS_NAMES
from .state import PayPalState, is_write
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


@dataclass
class PayPalFaultSettings(FaultSettings):
    """The shared fault settings plus `answer_lost`: the share of writes whose answer is lost."""

    answer_lost: float = 0.0


class PayPalStats(Stats):
    """The shared request counts plus `answers_lost`: writes done whose answer was lost."""

    def __init__(self) -> None:
        self._lost_lock = threading.Lock()
        self.answers_lost = 0
        super().__init__()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lost_lock:
            self.answers_lost = 0
            super().reset()

    def lose_answer(self) -> None:
        """Count one write whose answer was replaced by a 5xx or a dropped connection."""
        with self._lost_lock:
            self.answers_lost += 1

    def snapshot(self) -> dict[str, Any]:
        """The shared counts and `answers_lost` (`GET /_sandbox/paypal/stats`)."""
        with self._lost_lock:
            return super().snapshot() | {"answers_lost": self.answers_lost}


class PayPalGuard:
    """`faults` for `create_paypal_app`: its own limiter (off by default), injector, stats."""

    def __init__(self) -> None:
        self.limiter = RateLimiter(None)
        # 500 and 503 are the 5xx statuses PayPal's specs name (INTERNAL_SERVER_ERROR and
        # SERVICE_UNAVAILABLE); a 502 would have no PayPal body to send.
        self.faults = FaultInjector(error_statuses=(500, 503),
                                    settings_class=PayPalFaultSettings,
                                    extra_kinds=("answer_lost",))
        self.stats = PayPalStats()

    async def apply(self, request: Request) -> Response | None:
        """Screen one API call: a 429, 5xx or dropped answer, or None to let the API answer.

        A write that drew `answer_lost` is let through, marked for `finish`.
        """
        verdict = await screen(self.limiter, self.faults, self.stats, RATE_KEY)
        if verdict.status == 429:
            return rate_limited(verdict.retry_at)
        if verdict.kind == "error_5xx":
            return error_response(verdict.status, [])
        if verdict.kind == "drop":
            return DroppedResponse()
        if verdict.kind == "answer_lost" and is_write(request.method, request.url.path):
            request.state.lose_answer_with = verdict.status  # 500/503, or 0 to drop
        return None

    async def finish(self, request: Request, response: Response) -> Response | None:
        """The answer to send instead of the API's `response`, or None to send it.

        Only a marked write the API carried out (2xx) loses its answer; the API's own answer
        is read to its end first, so the write is complete before the client hears anything.
        """
        status = getattr(request.state, "lose_answer_with", None)
        if status is None or not 200 <= response.status_code < 300:
            return None
        body_iterator = getattr(response, "body_iterator", None)
        if body_iterator is not None:
            async for _ in body_iterator:
                pass
        self.stats.lose_answer()
        return error_response(status, []) if status else DroppedResponse()

    def app(self, state: PayPalState) -> ASGIApp:
        """The PayPal app faulted by this guard, with knob routes under `/_sandbox/paypal`.

        Requests are counted from outside the app, so outage 503s and drops show in the stats.
        """
        app = create_paypal_app(state, faults=self)
        add_knob_routes(app, PREFIX, self.limiter, self.faults, self.stats, default_limit=None)
        return RequestCounter(app, API_PREFIXES, self.stats)
