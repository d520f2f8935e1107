"""Rate limiting, fault injection and request statistics for any simulated API.

`screen()` is the shared core: rate limit per key, one seeded fault draw, then the configured
delays.  Two front ends use it:

* `ApiGuard` (Cliniko), a plain ASGI middleware: requests whose path starts with one of its API
  prefixes are counted, authenticated (by a callback the API supplies), screened and answered in
  Cliniko's shapes; everything else (the `/_sandbox` control routes) passes straight through.
* `paypal/guard.py`, the PayPal app's `faults` hook, which answers in PayPal's shapes, wrapped in
  a `RequestCounter` so outage and dropped answers are counted too.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Denial:
    """An early answer (401, 403, ...) produced by an API's authentication callback."""

    status: int
    body: bytes
    content_type: str = "application/json"


# Returns (rate-limit key, None) for a good request or (None, Denial) to refuse it.
Authenticate = Callable[[Scope], tuple[str | None, Denial | None]]


class RateLimiter:
    """Fixed-window rate limit per key: `limit` requests per `window_seconds`.

    A key's window starts at its first request (Cliniko documents 200/min per user, not the
    window kind).
    """

    def __init__(self, limit: int | None = 200, window_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self.configure(limit, window_seconds)

    def configure(self, limit: int | None, window_seconds: float = 60.0) -> None:
        """Set a new limit (None: unlimited) and window, and forget every key's count."""
        with self._lock:
            self.limit, self.window = limit, float(window_seconds)
            self._windows.clear()

    def hit(self, key: str) -> float | None:
        """Count a request; None if allowed, else the UNIX time when the window resets."""
        with self._lock:
            if self.limit is None:
                return None
            now = self._clock()
            start, used = self._windows.get(key, (now, 0))
            if now >= start + self.window:
                start, used = now, 0
            used += 1
            self._windows[key] = (start, used)
            if used > self.limit:
                return start + self.window
            return None


@dataclass
class FaultSettings:
    """The share of API requests failed each way (0 to 1), the delays, and the RNG seed."""

    error_5xx: float = 0.0
    error_429: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    latency_ms: float = 0.0
    seed: int | None = None


class FaultInjector:
    """Draws, per API request and from a seeded RNG, whether to fail it and how.

    An API may add kinds of its own after the shared ones, with a settings class that has a
    share for each (PayPal's `answer_lost`); kinds added at the end leave what a seed draws
    for the shared kinds unchanged while their shares are 0.
    """

    KINDS: tuple[str, ...] = ("error_5xx", "error_429", "drop", "slow")

    def __init__(self, error_statuses: tuple[int, ...] = (500, 502, 503),
                 settings_class: type[FaultSettings] = FaultSettings,
                 extra_kinds: tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self.error_statuses = error_statuses
        self.settings_class = settings_class
        self.kinds = self.KINDS + extra_kinds
        self.generation = 0
        self.configure()

    def configure(self, **settings: Any) -> FaultSettings:
        """Replace every setting (unnamed ones go back to no faults) and reseed the RNG.

        Raises:
            ValueError: a share is outside 0 to 1.
            TypeError: an unknown setting.
        """
        with self._lock:
            chosen = self.settings_class(**settings)
            for name in self.kinds:
                share = getattr(chosen, name)
                if not 0.0 <= share <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1")
            self.settings = chosen
            self._rng = random.Random(self.settings.seed)
            self.generation += 1  # ends the delays of requests already waiting (`screen`)
            return self.settings

    def draw(self) -> tuple[str | None, int]:
        """(fault kind or None, status for 5xx). One RNG step per request keeps it replayable.

        Each kind owns a band of the roll, in `kinds` order.  For a kind added by an API the
        status is the drawn 5xx in the first half of its band and 0 in the second half, so one
        roll also picks between a 5xx and a dropped connection (PayPal's `answer_lost`).
        """
        with self._lock:
            roll, pick = self._rng.random(), self._rng.choice(self.error_statuses)
            edge = 0.0
            for name in self.kinds:
                share = getattr(self.settings, name)
                if roll < edge + share:
                    if name in self.KINDS or roll < edge + share / 2:
                        return name, pick
                    return name, 0
                edge += share
            return None, 0


class Stats:
    """Thread-safe request counts (total, by status, by path) and injected delay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.requests = 0
            self.by_status: dict[str, int] = {}
            self.by_path: dict[str, int] = {}
            self.delay_seconds = 0.0

    def add_delay(self, seconds: float) -> None:
        """Injected latency/slowness, so tests can check it without timing the client."""
        with self._lock:
            self.delay_seconds += seconds

    def record(self, path: str, status: str) -> None:
        """Count one request to `path` answered with `status` (or "dropped")."""
        with self._lock:
            self.requests += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            self.by_path[path] = self.by_path.get(path, 0) + 1

    def recount_as_dropped(self, status: str) -> None:
        """A request already counted under `status` was then cut short."""
        with self._lock:
            left = self.by_status.get(status, 0) - 1  # 0 if a reset came in between
            if left > 0:
                self.by_status[status] = left
            else:
                self.by_status.pop(status, None)
            self.by_status["dropped"] = self.by_status.get("dropped", 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """A copy of the counts, as `GET /_sandbox/stats` returns them."""
        with self._lock:
            return {"requests": self.requests, "by_status": dict(self.by_status),
                    "by_path": dict(self.by_path),
                    "delay_seconds": round(self.delay_seconds, 6)}


@dataclass(frozen=True)
class Verdict:
    """What `screen` decided for one request: serve it (`kind` None) or fail it."""

    kind: str | None = None  # "limited", "error_429", "error_5xx", "drop" or an API's own
    status: int = 0  # the HTTP status to fail with (0 for a drop)
    retry_at: float = 0.0  # for 429s: the UNIX time the client may try again


async def _delay(faults: FaultInjector, seconds: float) -> None:
    """Wait `seconds`, or less if the faults are configured again meanwhile.

    Requests held by a long latency are let go when a test turns the latency off, as a
    congested network recovers, instead of each one sleeping out its full delay.
    """
    generation = faults.generation
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0 and faults.generation == generation:
        await asyncio.sleep(min(left, 0.05))


async def screen(limiter: RateLimiter, faults: FaultInjector, stats: Stats, key: str) -> Verdict:
    """Rate limit, then one fault draw, then sleep the latency (+ slow) before any answer."""
    reset = limiter.hit(key)
    if reset is not None:
        return Verdict("limited", 429, reset)
    settings = faults.settings
    kind, status = faults.draw()
    delay = settings.latency_ms / 1000 + (settings.slow_seconds if kind == "slow" else 0.0)
    if delay:
        stats.add_delay(delay)
        await _delay(faults, delay)
    if kind == "error_429":
        # As if a window of the limiter's length had just filled up.
        return Verdict(kind, 429, time.time() + (limiter.window or 60.0))
    if kind == "error_5xx":
        return Verdict(kind, status)
    if kind == "drop":
        return Verdict(kind)
    if kind is not None and kind not in FaultInjector.KINDS:
        return Verdict(kind, status)  # an API's own kind: its guard acts on it
    return Verdict()


async def run_counted(stats: Stats, path: str, send: Send,
                      handler: Callable[[Send], Awaitable[None]]) -> None:
    """Run `handler` with a `send` that records the status (or "dropped") in `stats`."""
    status_seen: list[str] = []

    async def counting_send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            # Count before any byte leaves: a client that has the reply sees it counted.
            status_seen.append(str(message["status"]))
            stats.record(path, status_seen[0])
        await send(message)

    try:
        await handler(counting_send)
    except DroppedConnection:
        # Return without finishing the body: uvicorn then closes the connection.
        stats.recount_as_dropped(status_seen[0])
    finally:
        if not status_seen:  # no answer was ever started
            stats.record(path, "dropped")


class RequestCounter:
    """ASGI middleware counting requests under `prefixes` in `stats`.

    Injected drops become closed connections.
    """

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...], stats: Stats) -> None:
        self.app, self.prefixes, self.stats = app, prefixes, stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count an API request while the wrapped app answers it; pass anything else through."""
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        await run_counted(self.stats, path, send, lambda counting_send: self.app(
            scope, receive, counting_send))


class ApiGuard:
    """ASGI middleware: stats -> authentication -> rate limit -> faults -> the API."""

    def __init__(self, app: ASGIApp, prefixes: dict[str, Authenticate],
                 limiter: RateLimiter, faults: FaultInjector, stats: Stats) -> None:
        self.app, self.prefixes = app, prefixes
        self.limiter, self.faults, self.stats = limiter, faults, stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Screen an API request before the API sees it; pass anything else through."""
        path = scope.get("path", "")
        auth = next((a for p, a in self.prefixes.items() if path.startswith(p)), None)
        if scope["type"] != "http" or auth is None:
            await self.app(scope, receive, send)
            return
        await run_counted(self.stats, path, send, lambda counting_send: self._guarded(
            scope, receive, counting_send, auth))

    async def _guarded(self, scope: Scope, receive: Receive, send: Send,
                       auth: Authenticate) -> None:
        key, denial = auth(scope)
        if denial is not None:
            await _respond(send, denial.status, denial.body, denial.content_type)
            return
        verdict = await screen(self.limiter, self.faults, self.stats, key or "")
        if verdict.status == 429:
            await _too_many(send, math.ceil(verdict.retry_at))
        elif verdict.kind == "error_5xx":
            message = {500: "Internal Server Error", 502: "Bad Gateway",
                       503: "Service Unavailable"}[verdict.status]
            await _respond(send, verdict.status, json.dumps({"message": message}).encode())
        elif verdict.kind == "drop":
            await drop_connection(send)
        else:
            await self.app(scope, receive, send)


async def _respond(send: Send, status: int, body: bytes,
                   content_type: str = "application/json", headers: list | None = None) -> None:
    head = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def _too_many(send: Send, reset: int) -> None:
    body = json.dumps({"message": "Too many requests. Please wait and try again."}).encode()
    await _respond(send, 429, body, headers=[(b"x-ratelimit-reset", str(reset).encode())])


class DroppedConnection(Exception):
    """Raised after a partial response so the server aborts the connection."""


async def drop_connection(send: Send, partial: bytes = b'{"patients": [') -> None:
    """Promise a long body, send a little, then abort: the client sees a broken response.

    Whoever runs the app must catch `DroppedConnection` (`run_counted` does).
    """
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"65536")]})
    await send({"type": "http.response.body", "body": partial, "more_body": True})
    raise DroppedConnection("fault injection: connection dropped")


def settings_dict(faults: FaultInjector) -> dict[str, Any]:
    """The current fault settings as JSON-ready data (`GET /_sandbox/faults`)."""
    return asdict(faults.settings)
