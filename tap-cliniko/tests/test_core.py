"""singer-sdk's standard tap tests, run against a sandbox started for this module."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from clinic_sandbox import SandboxServer
from tap_cliniko.tap import TapCliniko

# The SDK builds its test class from a config at import time, so the sandbox starts here.
_SANDBOX = SandboxServer(seed=11, patients=40, invoices=50).__enter__()
atexit.register(_SANDBOX.__exit__, None, None, None)

TestTapCliniko = get_tap_test_class(
    TapCliniko,
    config={
        "api_key": _SANDBOX.api_key,
        "base_url": _SANDBOX.cliniko_url,
        "user_agent": "tap-cliniko standard tests (tests@example.com)",
        "retry_backoff_base_ms": 10,
    },
    suite_config=SuiteConfig(max_records_limit=500),
)
