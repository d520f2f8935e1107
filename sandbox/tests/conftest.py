"""Shared helpers: an HTTP session that talks to a sandbox like a well-behaved client."""

from __future__ import annotations

import pytest
import requests

from clinic_sandbox import SandboxServer


@pytest.fixture(scope="module")
def shared_sandbox():
    """One read-only sandbox for a whole test module (tests must not write to it)."""
    with SandboxServer(seed=42, patients=120, invoices=160) as sb:
        sb.set_rate_limit(None)
        yield sb


@pytest.fixture
def api(shared_sandbox: SandboxServer) -> requests.Session:
    return shared_sandbox.cliniko_session()
