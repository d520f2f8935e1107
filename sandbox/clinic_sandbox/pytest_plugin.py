"""pytest fixtures for any test in the repository (registered through the `pytest11` entry point).

* `cliniko_sandbox`: a started `SandboxServer` (seed 42, 60 patients, 80 invoices), one per test;
  it serves PayPal too (`sb.paypal_url`, `sb.paypal`, ...).
* `paypal_sandbox`: the same fixture under a name that reads better in PayPal tests.
* `make_sandbox(**kwargs)`: start servers with your own settings; all are stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .server import SandboxServer

SMALL = {"seed": 42, "patients": 60, "invoices": 80}


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Start a `SandboxServer` per call (small seed data by default); stop them all at teardown."""
    started: list[SandboxServer] = []

    def make(**kwargs: Any) -> SandboxServer:
        server = SandboxServer(**{**SMALL, **kwargs}).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def cliniko_sandbox(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    """A started sandbox with the small seed data (60 patients, 80 invoices)."""
    return make_sandbox()


@pytest.fixture
def paypal_sandbox(cliniko_sandbox: SandboxServer) -> SandboxServer:
    """The `cliniko_sandbox` fixture, named for PayPal tests."""
    return cliniko_sandbox
