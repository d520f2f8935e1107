"""Progress lines: the tracker on a fake clock, and a sync against the sandbox that reports them."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tap_cliniko.progress import (
    DESELECTED,
    FIELDS,
    ProgressTracker,
    RequestLog,
    duration,
    quiet_deselected,
)
from tap_cliniko.throttle import ThrottledSession, make_request_log


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def limited(max_requests: int | None = 200, window: float = 60.0) -> RequestLog:
    """A request log as the tap's session keeps it, without the limiter's margin."""
    return RequestLog(
        max_requests,
        window_seconds=window,
        limit_per_minute=max_requests * 60 / window if max_requests else None,
    )


def tracker(
    clock: FakeClock, requests: RequestLog | None = None, **kwargs: object
) -> ProgressTracker:
    settings: dict = {"per_page": 100, "interval_seconds": 10.0, "clock": clock}
    settings.update(kwargs)
    logger = logging.getLogger("tap-cliniko.invoices")
    return ProgressTracker("invoices", logger, requests or limited(), **settings)


def read_pages(
    clock: FakeClock, progress: ProgressTracker, pages: int, seconds: float, total: int = 10_000
) -> None:
    """`pages` requests sent and read, each taking `seconds` (no wait for the limiter)."""
    for _ in range(pages):
        progress.requests.record(clock())
        clock.advance(seconds)
        progress.page(100, total)


def progress_records(caplog: pytest.LogCaptureFixture) -> list[dict]:
    """The progress lines logged: their structured fields, `level` and `message`."""
    return [
        {**{k: getattr(r, k) for k in FIELDS}, "level": r.levelno, "message": r.getMessage()}
        for r in caplog.records
        if getattr(r, "kind", None) == "progress"
    ]


def test_lines_come_at_most_every_interval_and_a_final_line_ends_the_stream(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    progress = tracker(clock)
    for page in range(1, 31):  # a page every 3 s: lines at 12, 24, ... seconds after the start
        clock.advance(3)
        progress.page(100, 3000, last=page == 30)
    progress.finish()
    lines = progress_records(caplog)
    assert [r["pages_done"] for r in lines] == [4, 8, 12, 16, 20, 24, 28, 30]
    assert all(r["level"] == logging.INFO for r in lines)
    final = lines[-1]
    assert final["final"] and final["done"] == final["total"] == 3000
    assert final["eta_seconds"] == 0
    assert final["message"].startswith("Read invoices: 3,000 of 3,000 records, 30 of 30 pages")


def test_interval_zero_logs_every_page_but_the_last_which_the_final_line_reports(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    progress = tracker(clock, interval_seconds=0, per_page=10)
    for done in (10, 10, 5):
        clock.advance(0.5)
        progress.page(done, 25, last=done == 5)
    progress.finish()
    lines = progress_records(caplog)
    assert [
        (r["done"], r["total"], r["pages_done"], r["pages_total"], r["final"]) for r in lines
    ] == [
        (10, 25, 1, 3, False),
        (20, 25, 2, 3, False),
        (25, 25, 3, 3, True),
    ]


def test_total_is_the_first_pages_total_entries(clock: FakeClock) -> None:
    progress = tracker(clock, per_page=100)
    assert progress.pages_total is None and progress.eta_seconds(clock()) is None
    clock.advance(1)
    progress.page(100, "10001")  # a string, as one legacy example shows it
    clock.advance(1)
    progress.page(100, 10500)  # a record created meanwhile does not move the denominator
    assert progress.total == 10001 and progress.pages_total == 101


def test_eta_in_a_steady_run_at_the_limit_is_pages_left_over_the_allowed_rate(
    clock: FakeClock,
) -> None:
    progress = tracker(clock)
    read_pages(clock, progress, 20, 0.3)  # 200 a minute: the limit, so never a wait
    now = clock()
    assert progress.requests.per_minute(now) == 20
    assert progress.eta_seconds(now) == pytest.approx(80 / 200 * 60, rel=0.01)
    assert progress.fields(now)["limit_per_minute"] == 200


def test_eta_of_a_slow_server_follows_the_observed_rate(clock: FakeClock) -> None:
    progress = tracker(clock)
    read_pages(clock, progress, 30, 2.0)  # 30 a minute, far below the limit
    assert progress.eta_seconds(clock()) == pytest.approx(70 * 2.0)


def test_eta_without_a_limit_follows_the_observed_rate(clock: FakeClock) -> None:
    progress = tracker(clock, make_request_log(0, 60))
    read_pages(clock, progress, 10, 0.05, total=5000)
    now = clock()
    assert progress.eta_seconds(now) == pytest.approx(40 * 0.05)
    assert "(no limit)" in progress.message(progress.fields(now), elapsed=0.5)


def test_eta_knows_the_limiters_window_is_full(clock: FakeClock) -> None:
    """200 requests in the first 10 s (a burst), then the window is full: a page left must wait
    for the send 200 requests earlier to leave the 60-s window."""
    progress = tracker(clock)
    read_pages(clock, progress, 200, 0.05, total=25_000)  # 250 pages, 200 read in 10 s
    now = clock()
    # 50 pages left: the first can go when the first send is 60 s old; the rest follow the
    # first burst's pace, one every 0.05 s.
    assert progress.eta_seconds(now) == pytest.approx(1000 + 49 * 0.05 + 60 - now, abs=0.1)
    # The plain rate formula (pages left / 200 a minute) would say 15 s.


def test_eta_counts_free_slots_in_the_window(clock: FakeClock) -> None:
    progress = tracker(clock)
    read_pages(clock, progress, 10, 0.05, total=10_000)  # 90 left, 190 free slots: no wait
    assert progress.eta_seconds(clock()) == pytest.approx(90 * 0.05)


def test_eta_of_many_windows_adds_a_window_per_limit_pages(clock: FakeClock) -> None:
    progress = tracker(clock, limited(10, 1.0))
    read_pages(clock, progress, 10, 0.01, total=100 * 100)  # 10 in 0.1 s: the window is full
    now = clock()
    # 90 left: nine more windows of 10; the last page goes 9 windows after the 10th send.
    assert progress.eta_seconds(now) == pytest.approx(1000 + 0.09 + 9 * 1.0 - now, abs=0.02)


def test_limiter_waits_are_not_counted_as_time_per_page(clock: FakeClock) -> None:
    progress = tracker(clock)
    for _ in range(4):
        clock.advance(5.0)  # held by the limiter
        progress.requests.record(clock(), waited=5.0)
        clock.advance(0.5)
        progress.page(100, 1000)
    assert progress.seconds_per_page() == pytest.approx(0.5)


def test_unknown_total_gives_no_eta(clock: FakeClock) -> None:
    progress = tracker(clock)
    clock.advance(1)
    progress.page(100, None)
    fields = progress.fields(clock())
    assert fields["total"] is None and fields["eta_seconds"] is None
    assert progress.message(fields, elapsed=1).endswith("time left unknown")


def test_the_request_log_knows_the_limit_as_configured() -> None:
    assert make_request_log(200, 60).limit_per_minute == 200
    assert make_request_log(10, 1).limit_per_minute == 600
    assert make_request_log(0, 60).limit_per_minute is None
    assert make_request_log(200, 60).window == pytest.approx(61.25)


def test_durations_read_as_people_read_them() -> None:
    assert [duration(s) for s in (0, 44.6, 270, 3900)] == ["0 s", "45 s", "4 min 30 s", "1 h 5 min"]


def test_deselected_stream_line_is_demoted_to_debug(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tap-cliniko-progress-test")
    quiet_deselected(logger)
    quiet_deselected(logger)
    assert len(logger.filters) == 1
    caplog.set_level(logging.INFO)
    logger.info(DESELECTED, "bookings")
    logger.info("Beginning sync of '%s'", "users")
    assert [r.getMessage() for r in caplog.records] == ["Beginning sync of 'users'"]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger=logger.name)
    logger.info(DESELECTED, "bookings")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "Skipping deselected stream 'bookings'.")
    ]


# --- against the sandbox -----------------------------------------------------------------------
STREAMS = ["patients", "invoices", "invoice_items", "practitioners"]


def test_sync_reports_counts_and_totals_of_what_the_sandbox_holds(
    cliniko_sandbox, run_tap, tap_config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    run_tap(tap_config(progress_interval_seconds=0, per_page=10), STREAMS)
    lines = progress_records(caplog)
    store = cliniko_sandbox.cliniko
    held = {(s, None): len(store.records(s)) for s in STREAMS if s != "practitioners"}
    practitioners = store.records("practitioners")
    held["practitioners", "/practitioners"] = sum(1 for r in practitioners if r["active"])
    held["practitioners", "/practitioners/inactive"] = len(practitioners) - sum(
        1 for r in practitioners if r["active"]
    )
    for (stream, partition), count in held.items():
        mine = [r for r in lines if (r["stream"], r["partition"]) == (stream, partition)]
        pages = max(1, math.ceil(count / 10))
        assert [r["done"] for r in mine] == [min(count, 10 * p) for p in range(1, pages + 1)]
        assert {r["total"] for r in mine} == {count}, stream
        assert {r["pages_total"] for r in mine} == {pages}, stream
        assert [r["final"] for r in mine] == [False] * (pages - 1) + [True], stream
        assert all(r["eta_seconds"] is not None for r in mine), stream
    assert {r["stream"] for r in lines} == set(STREAMS)


def test_deselected_streams_are_not_listed_at_info(
    cliniko_sandbox, run_tap, tap_config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    run_tap(tap_config(), ["users"])
    assert caplog.records, "the run logged nothing at all: the capture is broken"
    assert not [r for r in caplog.records if r.msg == DESELECTED and r.levelno >= logging.INFO]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="tap-cliniko")
    run_tap(tap_config(), ["users"])
    assert sum(r.msg == DESELECTED for r in caplog.records) > 30, "kept at DEBUG"


def words_of_patients(sandbox) -> set[str]:
    words: set[str] = set()
    for patient in sandbox.cliniko.records("patients"):
        for key in ("first_name", "last_name", "email"):
            words.update(re.findall(r"[\w.@+-]+", str(patient.get(key) or "").lower()))
    return {w for w in words if len(w) > 2}


def test_progress_lines_parse_as_json_and_carry_no_patient_data(
    cliniko_sandbox, tap_config, tmp_path: Path
) -> None:
    """The JSON lines a `--log-format=json` Meltano run gets (singer-sdk's StructuredFormatter)."""
    log_config = tmp_path / "logging.yaml"
    log_config.write_text(
        "version: 1\ndisable_existing_loggers: false\nformatters:\n  structured:\n"
        "    (): singer_sdk.logging.StructuredFormatter\nhandlers:\n  console:\n"
        "    class: logging.StreamHandler\n    formatter: structured\n"
        "    stream: ext://sys.stderr\nroot:\n  level: INFO\n  handlers: [console]\n"
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(progress_interval_seconds=0, per_page=20)))
    catalog = tmp_path / "catalog.json"
    tap = [sys.executable, "-m", "tap_cliniko.tap", "--config", str(config)]
    found = subprocess.run([*tap, "--discover"], capture_output=True, text=True, check=True)
    entries = json.loads(found.stdout)
    for entry in entries["streams"]:
        top = next(meta for meta in entry["metadata"] if meta["breadcrumb"] == [])
        top["metadata"]["selected"] = entry["tap_stream_id"] in ("patients", "invoices")
    catalog.write_text(json.dumps(entries))
    env = {**os.environ, "SINGER_SDK_LOG_CONFIG": str(log_config)}
    run = subprocess.run(
        [*tap, "--catalog", str(catalog)], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    logged = [json.loads(line) for line in run.stderr.splitlines()]
    progress = [line for line in logged if line["extra"].get("kind") == "progress"]
    finals = {line["extra"]["stream"]: line["extra"] for line in progress if line["extra"]["final"]}
    for stream in ("patients", "invoices"):
        held = len(cliniko_sandbox.cliniko.records(stream))
        assert finals[stream]["done"] == finals[stream]["total"] == held
    for line in progress:
        assert {"stream", "done", "total", "eta_seconds"} <= set(line["extra"])
        assert isinstance(line["extra"]["eta_seconds"], int | float)
    leaked = words_of_patients(cliniko_sandbox) & set(
        re.findall(r"[\w.@+-]+", json.dumps(progress).lower())
    )
    assert not leaked, f"patient data in progress lines: {sorted(leaked)[:5]}"


def test_a_request_held_by_the_limiter_keeps_reporting_progress() -> None:
    """Once the window's 200 are spent the limiter holds the next request for most of a
    minute: the stream still reports every interval while it waits."""
    now = [100.0]
    log = RequestLog(2, window_seconds=60.0)
    for sent in (40.0, 41.0, 99.0):  # a limit of 2: the last two were sent at 41 and 99
        log.record(sent)
    beats: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    session = ThrottledSession(None, log, clock=lambda: now[0], sleep=sleep)
    session.heartbeat, session.heartbeat_seconds = lambda: beats.append(now[0]), 10.0
    session.wait_with_heartbeat()  # next free at 41 + 60 = 101: under one step, no beat
    assert beats == []
    log.record(100.0)  # now the next slot frees at 99 + 60 = 159
    session.wait_with_heartbeat()
    assert beats == [110.0, 120.0, 130.0, 140.0, 150.0], beats
