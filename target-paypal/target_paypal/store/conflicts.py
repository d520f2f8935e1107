"""The safety net under the store's lock order: a transaction PostgreSQL aborted is run again.

By design a clinic's store has one writer while staging (the target drains its sinks one at
a time and a run holds the clinic's run lock), and each applier worker writes only its own
invoice's rows. Should PostgreSQL still abort a transaction as a deadlock victim or on a
serialization failure, the call is repeated a bounded number of times, with a warning line.

So is a unique violation: `INSERT ... ON CONFLICT (key)` settles a race only on `key`, and
two writers inserting the same new row at once can still collide on another unique column
(`xrefs.paypal_id`); tried again, the row is there and the upsert updates it. A true duplicate
fails every try and is raised.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa

LOGGER = logging.getLogger("target-paypal")
CONFLICT_TRIES = 5
RETRIED = {
    "40P01": "deadlock",
    "40001": "serialization failure",
    "23505": "unique violation (a concurrent insert)",
}

F = TypeVar("F", bound=Callable[..., Any])


def conflict_kind(error: BaseException) -> str | None:
    """What PostgreSQL refused for, when it is a race worth another try (`RETRIED`), else None."""
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    return RETRIED.get(state) if isinstance(state, str) else None


def retry_conflicts(method: F) -> F:
    """Run `method` again (at most CONFLICT_TRIES in all) when it fails on a conflict."""

    @functools.wraps(method)
    def again(self: Any, *args: Any, **kwargs: Any) -> Any:
        # A generator given as an argument would be empty on the second try.
        args = tuple(list(a) if isinstance(a, Iterator) else a for a in args)
        for attempt in range(1, CONFLICT_TRIES + 1):
            try:
                return method(self, *args, **kwargs)
            except sa.exc.DBAPIError as error:
                kind = conflict_kind(error)
                if kind is None or attempt == CONFLICT_TRIES:
                    raise
                LOGGER.warning(
                    "Store %s in %s: rolled back, trying again (%d of %d)",
                    kind,
                    method.__name__,
                    attempt + 1,
                    CONFLICT_TRIES,
                )
                time.sleep(random.uniform(0.02, 0.1) * attempt)  # let the other one finish
        raise AssertionError("unreachable")

    return again  # type: ignore[return-value]


def retry_every_method(cls: type) -> type:
    """Wrap each public method of `cls` (each is one transaction, or several safe to repeat)."""
    for name, member in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_") or name in NOT_TRANSACTIONS or inspect.isgeneratorfunction(member):
            continue
        setattr(cls, name, retry_conflicts(member))
    return cls


NOT_TRANSACTIONS = {"begin", "hold_run_lock", "release_run_lock"}
