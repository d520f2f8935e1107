"""Reliability suite: faults, crashes, outages and bad input through the real pipeline.

Every test here that runs something hands what it printed and wrote to `leak_scan`; at teardown
the scan fails the test if any credential, token, patient name or email used appears in it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from leaks import CLINIKO_KEY, PAYPAL_CLIENT_ID, PAYPAL_SECRET, LeakScan


@pytest.fixture
def leak_scan() -> Iterator[LeakScan]:
    scan = LeakScan()
    yield scan
    leaks = scan.leaks()
    assert not leaks, "secrets or personal data in output:\n" + "\n".join(leaks)


@pytest.fixture(scope="session")
def distinctive_credentials() -> dict[str, str]:
    """The leak scan's distinctive credentials as `make_sandbox` keyword arguments."""
    return {
        "api_key": CLINIKO_KEY,
        "paypal_client_id": PAYPAL_CLIENT_ID,
        "paypal_client_secret": PAYPAL_SECRET,
    }
