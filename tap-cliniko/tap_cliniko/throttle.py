"""Client-side rate limiting: every request to Cliniko waits for a slot first.

Cliniko allows a fixed number of requests a minute per user (200 today). A sliding-window
limiter (pyrate-limiter) on the shared session keeps the tap under it while using nearly all of
it; the small margin absorbs the difference between our clock and Cliniko's window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from pyrate_limiter import Limiter, Rate

from tap_cliniko.progress import RequestLog

MARGIN = 0.02  # stretch the window by 2 %: send times and Cliniko's arrival times differ a bit
# pyrate-limiter sleeps 50 ms beyond every computed wait by default; the margin above already
# covers clock differences, so a couple of milliseconds are enough (as target-paypal's limiter).
LIMITER_BUFFER_MS = 2


def limiter_window_ms(window_seconds: float) -> int:
    """The limiter's window in milliseconds: `window_seconds` stretched by `MARGIN`."""
    return int(window_seconds * 1000 * (1 + MARGIN)) + 50


def make_limiter(max_requests: int, window_seconds: float) -> Limiter:
    """A limiter of `max_requests` per window, the window stretched by `MARGIN`."""
    return Limiter(
        Rate(max_requests, limiter_window_ms(window_seconds)), buffer_ms=LIMITER_BUFFER_MS
    )


def make_request_log(max_requests: int, window_seconds: float) -> RequestLog:
    """The log of the session's requests, knowing the limit it keeps (0: none)."""
    return RequestLog(
        max_requests or None,
        window_seconds=limiter_window_ms(window_seconds) / 1000,
        limit_per_minute=max_requests * 60 / window_seconds if max_requests else None,
    )


class ThrottledSession(requests.Session):
    """A requests session that takes a limiter slot before each send (retries included).

    It notes when each request was sent and how long it waited (`requests`), for progress lines.
    While the limiter holds a request for longer than `heartbeat_seconds` (most of a minute once
    Cliniko's 200 are spent), it calls `heartbeat` every `heartbeat_seconds`, so the stream being
    read still reports its progress about as often as asked.
    """

    def __init__(
        self,
        limiter: Limiter | None,
        requests_log: RequestLog | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.limiter = limiter
        self.requests_log = requests_log or RequestLog(None, window_seconds=60.0)
        self.heartbeat: Callable[[], None] | None = None
        self.heartbeat_seconds = 0.0
        self._clock, self._sleep = clock, sleep

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Wait for a limiter slot (when limited), then send."""
        asked = time.monotonic()
        if self.limiter is not None:
            self.wait_with_heartbeat()
            self.limiter.try_acquire("cliniko")
        sent = time.monotonic()
        self.requests_log.record(sent, waited=sent - asked)
        return super().send(request, **kwargs)

    def wait_with_heartbeat(self) -> None:
        """Wait out the limiter's window in `heartbeat_seconds` steps, calling `heartbeat`."""
        step = self.heartbeat_seconds
        if self.heartbeat is None or step <= 0:
            return
        while self.requests_log.next_free() - self._clock() > step:
            self._sleep(step)
            self.heartbeat()
