"""singer-sdk's standard target tests (their streams are not ours: they are parked, not written)."""

from __future__ import annotations

import atexit
import tempfile

import pytest
from singer_sdk.testing import get_target_test_class

from clinic_sandbox import SandboxServer
from target_paypal.target import TargetPayPal

_SANDBOX = SandboxServer(seed=3, patients=5, invoices=5).__enter__()
atexit.register(_SANDBOX.__exit__, None, None, None)
_STORE = tempfile.mkdtemp(prefix="target-paypal-sdk-tests-")

_StandardTests = get_target_test_class(
    TargetPayPal,
    config={
        "client_id": _SANDBOX.paypal_client_id,
        "client_secret": _SANDBOX.paypal_client_secret,
        "base_url": _SANDBOX.paypal_url,
        "store_url": f"sqlite:///{_STORE}/store.db",
        "max_requests_per_second": 0,
    },
)


class TestTargetPayPal(_StandardTests):  # type: ignore[misc,valid-type]
    def test_target_record_missing_key_property(self) -> None:
        # The SDK's suite expects the run to fail; target-paypal parks that one record and goes
        # on ("one bad record never stops the others"), as test_upsert.py checks.
        pytest.skip("parked, not fatal: see test_a_bad_date_or_a_missing_key_is_parked_not_fatal")

    def test_target_invalid_schema(self) -> None:
        # The SDK's suite expects the run to fail; target-paypal parks the bad line and goes on.
        pytest.skip("parked, not fatal: see tests/reliability/test_bad_input.py")

    def test_target_record_before_schema(self) -> None:
        # As above: the record is parked under its stream and id, and replay can stage it.
        pytest.skip("parked, not fatal: see tests/reliability/test_bad_input.py")
