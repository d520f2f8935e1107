"""Records sharing the bookmark's second are neither lost nor repeated."""

from __future__ import annotations

from tap_cliniko.bookmarks import SameSecondTracker, parse_ts

T0 = parse_ts("2026-03-01T10:00:00Z")
T1 = parse_ts("2026-03-01T10:00:01Z")


def test_ids_at_the_last_second_are_remembered() -> None:
    tracker = SameSecondTracker(None, None)
    for record_id, ts in [("1", T0), ("2", T1), ("3", T1)]:
        tracker.add(record_id, ts)
    assert tracker.as_state() == {"at": "2026-03-01T10:00:01Z", "ids": ["2", "3"]}


def test_next_run_skips_only_what_it_already_sent() -> None:
    saved = {"at": "2026-03-01T10:00:01Z", "ids": ["2", "3"]}
    tracker = SameSecondTracker(T1, saved)
    assert tracker.is_repeat("2", T1)
    assert not tracker.is_repeat("4", T1)  # written later in the same second: not lost
    assert not tracker.is_repeat("2", parse_ts("2026-03-01T10:00:05Z"))  # edited again


def test_saved_ids_for_another_second_are_ignored() -> None:
    tracker = SameSecondTracker(T1, {"at": "2026-03-01T10:00:00Z", "ids": ["2"]})
    assert not tracker.is_repeat("2", T1)


def test_the_second_reading_began_in_is_not_remembered_as_done() -> None:
    # Read at T1 by Cliniko's clock: a record of T1 may still change within T1, so no id of T1
    # may count as already sent next run (the bookmark stays at T1 and T1 is read again).
    tracker = SameSecondTracker(T0, None)
    tracker.add("2", T1)
    tracker.close_at(T1)
    assert tracker.as_state() == {"at": "2026-03-01T10:00:01Z", "ids": []}


def test_seconds_over_before_reading_began_stay_remembered() -> None:
    tracker = SameSecondTracker(T0, None)
    tracker.add("2", T1)
    tracker.close_at(parse_ts("2026-03-01T10:00:02Z"))
    assert tracker.as_state() == {"at": "2026-03-01T10:00:01Z", "ids": ["2"]}
