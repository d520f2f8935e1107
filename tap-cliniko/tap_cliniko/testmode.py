"""`tap-cliniko --test`: one record of every stream, and no ERROR line when that works.

singer-sdk's connection test stops each stream at its second record by raising an exception
(`MaxRecordsLimitException`, re-raised as an aborted sync), and its `Stream.sync` logs every
exception it sees as "An unhandled error occurred while syncing" at ERROR before the test
swallows it: 38 ERROR lines on a test that succeeded. This filter moves exactly those lines, the
planned stop, to DEBUG; any other error while syncing is still logged at ERROR.
"""

from __future__ import annotations

import logging
import sys

from singer_sdk.exceptions import AbortedSyncExceptionBase, MaxRecordsLimitException

from tap_cliniko.progress import at_debug

# singer-sdk 0.54.9's message in `Stream.sync` (streams/core.py); re-check on upgrade.
UNHANDLED = "An unhandled error occurred while syncing '%s'"


def is_planned_stop(error: BaseException | None) -> bool:
    """Whether `error` is singer-sdk stopping a stream at its record limit (`--test`)."""
    return isinstance(error, AbortedSyncExceptionBase) and isinstance(
        error.__cause__, MaxRecordsLimitException
    )


class PlannedStopAtDebug(logging.Filter):
    """Logs singer-sdk's "unhandled error" line at DEBUG when the error is the planned stop.

    The line is logged inside singer-sdk's `except` block, so the error being handled is the
    one `sys.exc_info()` returns here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote the line for a planned stop; pass every other record as it is."""
        if record.msg != UNHANDLED or record.levelno != logging.ERROR:
            return True
        if not is_planned_stop(sys.exc_info()[1]):
            return True
        return at_debug(record)


def quiet_planned_stops(logger: logging.Logger) -> None:
    """Install `PlannedStopAtDebug` on a stream's logger once."""
    if not any(isinstance(f, PlannedStopAtDebug) for f in logger.filters):
        logger.addFilter(PlannedStopAtDebug())
