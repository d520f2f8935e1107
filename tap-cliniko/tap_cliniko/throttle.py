"""Client-side rate limiting: every request to Cliniko waits for a slot first.

Cliniko allows a fixed number of requests a minute per user (200 today). A sliding-window
limiter (pyrate-limiter) on the shared session keeps the tap under it while using nearly all of
it; the small margin absorbs the difference between our clock and Cliniko's window.
"""

from __future__ import annotations

from typing import Any

import requests
from pyrate_limiter import Limiter, Rate

MARGIN = 0.02  # stretch the window by 2 %: send times and Cliniko's arrival times differ a bit
# pyrate-limiter sleeps 50 ms beyond every computed wait by default; the margin above already
# covers clock differences, so a couple of milliseconds are enough (as target-paypal's limiter).
LIMITER_BUFFER_MS = 2


def make_limiter(max_requests: int, window_seconds: float) -> Limiter:
    """A limiter of `max_requests` per window, the window stretched by `MARGIN`."""
    window_ms = int(window_seconds * 1000 * (1 + MARGIN)) + 50
    return Limiter(Rate(max_requests, window_ms), buffer_ms=LIMITER_BUFFER_MS)


class ThrottledSession(requests.Session):
    """A requests session that takes a limiter slot before each send (retries included)."""

    def __init__(self, limiter: Limiter | None) -> None:
        super().__init__()
        self.limiter = limiter

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Wait for a limiter slot (when limited), then send."""
        if self.limiter is not None:
            self.limiter.try_acquire("cliniko")
        return super().send(request, **kwargs)
