"""The order `make test` hands test files to its two pytest-xdist workers: heaviest first.

Each worker takes whole files (`--dist loadfile`). xdist would order them by how many tests
they hold (`--no-loadscope-reorder` turns that off), which put the longest single tests last
(the Dagster fleet, 3.5 min), so one worker ran on alone for minutes. Longest first, the two
finish together. Measured with `pytest -n 2 --dist loadfile --durations=60` on 2026-11-30; a
file not listed keeps its place after these.
"""

from __future__ import annotations

import pytest

HEAVIEST_FIRST = (
    "tests/reliability/test_faults_and_crashes.py",
    "tests/test_pipeline.py",
    "tests/test_fleet.py",
    "tests/reliability/test_bad_config.py",
    "target-paypal/tests/test_resilience.py",
    "target-paypal/tests/test_clinic_runs.py",
    "tests/test_clinics.py",
    "tests/test_approvals.py",
    "tests/test_demo_ports.py",
    "tests/test_voids.py",
    "tests/test_store_at_rest.py",
    "tests/test_tap_to_jsonl.py",
    "tests/test_reconcile.py",
    "tests/test_notifications.py",
    "tests/test_interop_postgres.py",
    "tests/test_plan.py",
    "tests/test_without_email.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the heaviest files' tests to the front, in that order; the rest keep theirs."""
    rank = {path: n for n, path in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
