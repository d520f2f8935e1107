"""Progress while invoices are applied: a fake clock and call counter drive the tracker."""

from __future__ import annotations

import logging

import pytest

from target_paypal.progress import Progress, duration


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="target-paypal")
    return lambda: [r for r in caplog.records if getattr(r, "kind", None) == "progress"]


def test_a_line_at_most_every_interval_with_the_rate_and_the_eta(lines) -> None:
    clock, calls = Clock(), {"n": 0}
    progress = Progress(100, lambda: calls["n"], 10, 10, clock)
    for _ in range(20):  # 20 invoices in 9.5 s, 3 calls each: no line yet
        clock.now += 0.475
        calls["n"] += 3
        progress.advance()
    assert lines() == []
    clock.now += 0.5  # 10 s since the start, 21 invoices done
    calls["n"] += 3
    progress.advance()
    (first,) = lines()
    assert (first.done, first.total, first.stream, first.phase) == (21, 100, "invoices", "apply")
    assert first.calls_per_second == 6.3 and first.limit_per_second == 10
    assert first.eta_seconds == pytest.approx(79 / 2.1, abs=0.1)  # left / observed rate
    assert first.getMessage() == (
        "Progress PayPal: 21 of 100 invoices applied, 6.3 PayPal calls/s (limit 10), "
        "about 38 s left"
    )
    clock.now += 9.9
    progress.advance()
    assert len(lines()) == 1, "a second line before the interval passed"
    clock.now += 0.1
    progress.advance()
    assert len(lines()) == 2


def test_the_final_line_says_done_of_total_and_no_time_left(lines) -> None:
    clock = Clock()
    progress = Progress(3, lambda: 0, 0, 10, clock)
    for _ in range(3):
        clock.now += 1
        progress.advance()
    progress.finish()
    (last,) = lines()
    assert (last.done, last.total, last.eta_seconds) == (3, 3, 0.0)
    assert last.limit_per_second is None
    assert last.getMessage() == (
        "Progress PayPal: 3 of 3 invoices applied, 0.0 PayPal calls/s (no limit), done"
    )


def test_a_short_pass_stays_quiet_unless_it_is_the_last(lines) -> None:
    clock = Clock()
    quiet = Progress(5, lambda: 0, 10, 10, clock)
    quiet.advance(5)
    quiet.finish(always=False)
    assert lines() == []
    quiet.finish(always=True)
    assert len(lines()) == 1


def test_interval_zero_logs_after_every_invoice(lines) -> None:
    clock = Clock()
    progress = Progress(4, lambda: 0, 10, 0, clock)
    for _ in range(4):
        progress.advance()
    progress.finish(always=False)
    assert [r.done for r in lines()] == [1, 2, 3, 4]


def test_no_eta_before_anything_is_done() -> None:
    progress = Progress(10, lambda: 0, 10, 10, Clock())
    assert progress.fields(1000.0)["eta_seconds"] is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (44.6, "45 s"), (210, "3 min 30 s"), (180, "3 min"), (7500, "2 h 5 min")],
)
def test_durations_read_as_a_person_says_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text
