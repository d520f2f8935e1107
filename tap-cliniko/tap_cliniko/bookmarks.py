"""Same-second bookkeeping for incremental streams.

Cliniko's `updated_at` has one-second precision, so the tap asks for `updated_at >= bookmark`
(a record written later in the bookmark's second must not be lost) and remembers which ids it
already emitted at that second, so they are not sent again on every run. Only seconds that
were over before reading began are remembered (by Cliniko's clock, from its Date header).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

STATE_KEY = "ids_at_bookmark"
# singer-sdk's cap on the bookmark, a private state key (singer_sdk.helpers._state.SIGNPOST_MARKER
# in 0.54.9), written directly: the public hook, get_replication_key_signpost(), is asked before
# the stream's first request, too early for Cliniko's clock. Re-check on upgrade.
SIGNPOST_KEY = "replication_key_signpost"


def parse_ts(value: Any) -> dt.datetime | None:
    """Parse a Cliniko or Singer timestamp to an aware UTC datetime; None if unset."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def cliniko_ts(value: dt.datetime) -> str:
    """The form Cliniko filters take: second precision, UTC, `Z`."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SameSecondTracker:
    """Ids emitted at the latest second seen; decides which records are repeats."""

    def __init__(self, start: dt.datetime | None, saved: dict[str, Any] | None) -> None:
        saved = saved or {}
        self.at = start
        same = start is not None and parse_ts(saved.get("at")) == start
        self.ids: set[str] = set(saved.get("ids", [])) if same else set()
        self._already_sent = frozenset(self.ids)
        self._start = start

    def is_repeat(self, record_id: str, updated: dt.datetime | None) -> bool:
        """Whether an earlier run already sent this record at the starting second."""
        return updated == self._start and record_id in self._already_sent

    def add(self, record_id: str, updated: dt.datetime | None) -> None:
        """Note an emitted record; a later second starts a new set of ids."""
        if updated is None:
            return
        if self.at is None or updated > self.at:
            self.at, self.ids = updated, {record_id}
        elif updated == self.at:
            self.ids.add(record_id)

    def close_at(self, server_started: dt.datetime) -> None:
        """Forget ids from the second reading began in, or later.

        That second was not over, so a record could still change in it after being read; the
        bookmark is capped there too.
        """
        if self.at is not None and self.at >= server_started:
            self.at, self.ids = server_started, set()

    def as_state(self) -> dict[str, Any]:
        """The part of the stream's state this tracker keeps: the second and its ids."""
        return {"at": cliniko_ts(self.at) if self.at else None, "ids": sorted(self.ids)}
