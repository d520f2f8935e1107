"""How far a run has got: records and pages read per stream against Cliniko's `total_entries`.

Cliniko answers every list request with `total_entries`, so after a stream's first page the tap
knows its size. A `ProgressTracker` (one per stream, or per partition of a stream that reads
several endpoints) counts records and pages as they arrive and, at most every
`progress_interval_seconds`, logs one line at INFO: records read of the total, pages done of the
pages there are, the observed request rate against the tap's limit, and an estimate of the time
left. A last line closes each stream (partition). The lines carry counts, the stream's name and
the partition's endpoint path: never a record's content.

Each line also carries its figures as structured fields (`logger.info(..., extra=...)`), which
singer-sdk's `StructuredFormatter` writes to the JSON line's `extra` object when Meltano runs the
tap with `--log-format=json`. See `FIELDS`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

# The structured fields of every progress line (besides `kind`, always "progress"; not
# `event`, which is the message's own key in Meltano's JSON log).
FIELDS = (
    "stream",
    "partition",
    "done",
    "total",
    "pages_done",
    "pages_total",
    "requests_per_minute",
    "limit_per_minute",
    "eta_seconds",
    "final",
)

DESELECTED = "Skipping deselected stream '%s'."
RECENT = 51  # the time per page is measured over the last 50 pages


class RequestLog:
    """The tap's requests (every stream's, retries included): when each was sent, time waited.

    The session that keeps the rate limit records each request here; progress trackers read it
    for the request rate and for where the limiter's window stands.
    """

    def __init__(
        self,
        max_requests: int | None,
        *,
        window_seconds: float,
        limit_per_minute: float | None = None,
    ) -> None:
        """An empty log.

        Args:
            max_requests: Requests the limiter lets through per window; None when unlimited.
            window_seconds: The limiter's window as it keeps it (margin included).
            limit_per_minute: The limit as configured, in requests a minute, for display.
        """
        self.limit = max_requests or None
        self.window = window_seconds
        self.limit_per_minute = limit_per_minute if self.limit else None
        self.times: deque[float] = deque()
        self.waited = 0.0

    def record(self, sent_at: float, *, waited: float = 0.0) -> None:
        """Note a request sent at `sent_at` (monotonic s) after `waited` s for the limiter."""
        self.times.append(sent_at)
        self.waited += waited
        horizon = sent_at - max(60.0, self.window)
        while len(self.times) > (self.limit or 0) and self.times[0] < horizon:
            self.times.popleft()

    def per_minute(self, now: float) -> int:
        """Requests sent in the minute before `now`."""
        return sum(1 for t in self.times if t > now - 60)

    def next_free(self) -> float:
        """When the limiter lets the next request go (monotonic s): 0 while a slot is free."""
        if self.limit is None or len(self.times) < self.limit:
            return 0.0
        return self.times[-self.limit] + self.window

    def last_window(self) -> list[float]:
        """Send times of the last `limit` requests (all kept ones when unlimited), oldest first."""
        return list(self.times)[-self.limit :] if self.limit else list(self.times)


class ProgressTracker:
    """Counts one stream's (or partition's) records and pages and logs its progress.

    The time left is modelled on the limiter: each page left takes the stream's own time per
    page (request and processing, without the limiter's waits), and no request goes out before
    the one `limit` requests earlier has left the limiter's window. In a steady run that is
    pages left / min(allowed, unthrottled rate); it also knows the free slots of the window now
    and the bursts a sliding-window limiter makes. Without a limit: pages left x time per page.
    """

    def __init__(
        self,
        stream: str,
        logger: logging.Logger,
        requests: RequestLog,
        *,
        per_page: int,
        interval_seconds: float,
        partition: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start tracking now (by `clock`, seconds), before the stream's first request.

        Args:
            stream: The Cliniko stream's name.
            logger: Where the progress lines go (at INFO).
            requests: The tap's request log (same clock).
            per_page: Records per page asked for, to count the pages there are.
            interval_seconds: Least time between two progress lines; 0 logs every page.
            partition: The endpoint path of the partition read, when a stream reads several.
            clock: Monotonic seconds; injectable for tests.
        """
        self.stream = stream
        self.partition = partition
        self.logger = logger
        self.requests = requests
        self.per_page = max(1, per_page)
        self.interval = max(0.0, interval_seconds)
        self.clock = clock
        self.started = clock()
        self.last_logged = self.started
        self.done = 0
        self.pages_done = 0
        self.total: int | None = None
        # (time, limiter wait so far) at the start and after each of the last RECENT pages
        self.marks: deque[tuple[float, float]] = deque([(self.started, requests.waited)], RECENT)

    # --- counting ------------------------------------------------------------------------------
    def page(self, records: int, total_entries: Any, *, last: bool = False) -> None:
        """Count a page read; log a progress line when the interval has passed.

        Args:
            records: Records on the page.
            total_entries: The page's `total_entries` (the first page's is kept).
            last: True on the stream's last page, whose figures the final line reports instead.
        """
        now = self.clock()
        self.done += records
        self.pages_done += 1
        self.marks.append((now, self.requests.waited))
        if self.total is None:
            self.total = _as_count(total_entries)
        if not last and now - self.last_logged >= self.interval:
            self.log(now)

    def tick(self) -> None:
        """Log a progress line if the interval has passed (while the limiter holds a request)."""
        now = self.clock()
        if self.interval and now - self.last_logged >= self.interval:
            self.log(now)

    def finish(self) -> None:
        """Log the stream's (partition's) last line: every record read."""
        self.log(self.clock(), final=True)

    # --- figures -------------------------------------------------------------------------------
    @property
    def pages_total(self) -> int | None:
        """Pages the stream has: ceil(total / per_page), at least one; None before the total."""
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / self.per_page))

    def seconds_per_page(self) -> float | None:
        """The recent pages' time each, the limiter's waits left out; None before a page."""
        (first, waited_first), (last, waited_last) = self.marks[0], self.marks[-1]
        pages = len(self.marks) - 1
        if not pages:
            return None
        return max(0.0, (last - first) - (waited_last - waited_first)) / pages

    def eta_seconds(self, now: float) -> float | None:
        """Seconds until the last page is read; None while unknown (no total, no page yet)."""
        pages_total, per_page = self.pages_total, self.seconds_per_page()
        if pages_total is None or per_page is None:
            return None
        left = max(0, pages_total - self.pages_done)
        limit, window = self.requests.limit, self.requests.window
        if left == 0 or limit is None:
            return left * per_page
        sends = self.requests.last_window()
        free = limit - len(sends)
        first_cycle: list[float] = []
        moment = now
        for m in range(min(left, limit)):
            moment += per_page
            if m >= free:  # waits for the send `limit` requests earlier to leave the window
                moment = max(moment, sends[m - free] + window)
            first_cycle.append(moment)
        m = left - 1
        end = max(first_cycle[m % limit] + (m // limit) * window, now + left * per_page)
        return end - now

    def fields(self, now: float, *, final: bool = False) -> dict[str, Any]:
        """The structured fields of a progress line at `now` (see `FIELDS`)."""
        eta = 0.0 if final else self.eta_seconds(now)
        return {
            "kind": "progress",
            "stream": self.stream,
            "partition": self.partition,
            "done": self.done,
            "total": self.total,
            "pages_done": self.pages_done,
            "pages_total": self.pages_total,
            "requests_per_minute": self.requests.per_minute(now),
            "limit_per_minute": _round(self.requests.limit_per_minute),
            "eta_seconds": None if eta is None else round(eta, 1),
            "final": final,
        }

    # --- logging -------------------------------------------------------------------------------
    def log(self, now: float, *, final: bool = False) -> None:
        """Log one progress line at INFO, its figures as structured fields."""
        fields = self.fields(now, final=final)
        self.last_logged = now
        self.logger.info(self.message(fields, elapsed=now - self.started), extra=fields)

    def message(self, fields: dict[str, Any], *, elapsed: float) -> str:
        """The human line: counts, rate and time left; nothing from the records."""
        name = self.stream + (f" ({self.partition})" if self.partition else "")
        total = fields["total"]
        records = f"{fields['done']:,}" + (f" of {total:,}" if total is not None else "")
        pages = f"{fields['pages_done']:,}"
        if fields["pages_total"] is not None:
            pages += f" of {fields['pages_total']:,}"
        rate_text = f"{fields['requests_per_minute']:,} requests in the last minute"
        limit = fields["limit_per_minute"]
        rate_text += f" (limit {limit:,})" if limit is not None else " (no limit)"
        if fields["final"]:
            took = duration(elapsed)
            return f"Read {name}: {records} records, {pages} pages in {took}, {rate_text}"
        eta = fields["eta_seconds"]
        left = "time left unknown" if eta is None else f"about {duration(eta)} left"
        return f"Progress {name}: {records} records, {pages} pages, {rate_text}, {left}"


def duration(seconds: float) -> str:
    """Seconds as people read them: `45 s`, `4 min 30 s`, `1 h 5 min`."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


class DeselectedAtDebug(logging.Filter):
    """Logs singer-sdk's "Skipping deselected stream" lines at DEBUG instead of INFO.

    A tap with 38 streams prints one per stream not selected on every run: noise at INFO.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote the deselected-stream line; pass every other record as it is."""
        if record.msg != DESELECTED or record.levelno != logging.INFO:
            return True
        return at_debug(record)


def at_debug(record: logging.LogRecord) -> bool:
    """Turn `record` into a DEBUG line, kept only when its logger shows DEBUG."""
    record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
    return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_deselected(logger: logging.Logger) -> None:
    """Install `DeselectedAtDebug` on `logger` once."""
    if not any(isinstance(f, DeselectedAtDebug) for f in logger.filters):
        logger.addFilter(DeselectedAtDebug())


def quiet_metrics(metrics_logger: logging.Logger) -> None:
    """Keep singer-sdk's METRIC lines (one per request: hundreds a run) out of INFO.

    They still show when the plugin logs at DEBUG (`TAP_CLINIKO_LOGLEVEL=debug`); the progress
    lines carry what a person needs.
    """
    if metrics_logger.getEffectiveLevel() > logging.DEBUG:
        metrics_logger.setLevel(logging.WARNING)


def _as_count(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _round(value: float | None) -> int | float | None:
    if value is None:
        return None
    return round(value) if float(value).is_integer() else round(value, 1)
