"""Progress while invoices are applied: how many, how fast, how long still (counts only).

One line at most every `interval` seconds and one at the end of an apply pass, e.g.
`Progress PayPal: 1,200 of 3,000 invoices applied, 8.4 PayPal calls/s (limit 10), about 3 min
30 s left`. The same figures go into the log record's `extra` (`kind`, `stream`,
`phase`, `done`, `total`, `calls_per_second`, `limit_per_second`, `eta_seconds`), which
singer-sdk's JSON formatter (Meltano's `structured-logging`) carries as fields. Not `event`:
Meltano re-emits the fields as keyword arguments of structlog, whose message argument is
`event`, so a field of that name would fail the line.

The ETA is the invoices left divided by the invoices per second observed since the pass began.
The rate limit does not enter it: the observed rate already runs at the limit when the limit is
what holds the run back, and it also counts what the limit does not (PayPal's answer times,
retries, invoices that need no call at all).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

LOGGER = logging.getLogger("target-paypal")


def duration(seconds: float) -> str:
    """A wait as a person reads it: `45 s`, `3 min 30 s`, `2 h 5 min`."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


class Progress:
    """Counts one apply pass's invoices and logs how it goes.

    Args:
        total: Invoices this pass has to apply.
        calls: How many PayPal calls were made so far (a running count; only differences used).
        limit: `max_requests_per_second` (0: no limit).
        interval: Seconds between progress lines (0: a line after every invoice).
        clock: Monotonic seconds (injectable for tests).
        logger: Where the lines go.
    """

    def __init__(
        self,
        total: int,
        calls: Callable[[], int],
        limit: float,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = LOGGER,
    ) -> None:
        self.total = total
        self.done = 0
        self.lines = 0  # progress lines logged so far
        self._calls = calls
        self.limit = limit
        self.interval = max(0.0, interval)
        self._clock = clock
        self._logger = logger
        self._started = clock()
        self._first_calls = calls()
        self._last_at = self._started
        self._last_calls = self._first_calls

    def advance(self, invoices: int = 1) -> None:
        """Count invoices applied (or parked, or skipped); log if `interval` has passed."""
        self.done += invoices
        now = self._clock()
        if now - self._last_at >= self.interval and self.done < self.total:
            self._log(now)

    def finish(self, always: bool = True) -> None:
        """The pass's last line; with `always` false, only when the pass logged any before."""
        if always or self.lines:
            self._log(self._clock(), final=True)

    def fields(self, now: float, final: bool = False) -> dict[str, Any]:
        """The figures of a progress line (the log record's `extra`)."""
        calls = self._calls()
        if final:  # the whole pass
            since, made = now - self._started, calls - self._first_calls
        else:  # since the last line: how fast it goes now
            since, made = now - self._last_at, calls - self._last_calls
        elapsed = now - self._started
        left = max(0, self.total - self.done)
        eta: float | None = None
        if left == 0:
            eta = 0.0
        elif self.done and elapsed > 0:
            eta = round(left / (self.done / elapsed), 1)
        return {
            "kind": "progress",
            "stream": "invoices",
            "phase": "apply",
            "done": self.done,
            "total": self.total,
            "calls_per_second": round(made / since, 1) if since > 0 else None,
            "limit_per_second": self.limit or None,
            "eta_seconds": eta,
        }

    def _log(self, now: float, final: bool = False) -> None:
        extra = self.fields(now, final)
        self._logger.info(describe(extra, final), extra=extra)
        self.lines += 1
        self._last_at, self._last_calls = now, self._calls()


def describe(fields: dict[str, Any], final: bool = False) -> str:
    """One progress line from its figures."""
    rate = fields["calls_per_second"]
    limit = fields["limit_per_second"]
    speed = "" if rate is None else f", {rate:,.1f} PayPal calls/s"
    if speed:
        speed += f" (limit {limit:g})" if limit else " (no limit)"
    eta = fields["eta_seconds"]
    if final:
        left = ", done"
    elif eta is None:
        left = ""
    else:
        left = f", about {duration(eta)} left"
    return (
        f"Progress PayPal: {fields['done']:,} of {fields['total']:,} invoices applied{speed}{left}"
    )


def quiet_metrics(metrics_logger: logging.Logger) -> None:
    """Keep singer-sdk's METRIC lines (a few per stream and batch) out of INFO.

    They still show when the target logs at DEBUG (`TARGET_PAYPAL_LOGLEVEL=debug`).
    """
    if metrics_logger.getEffectiveLevel() > logging.DEBUG:
        metrics_logger.setLevel(logging.WARNING)
