"""pytest fixtures for any test in the repository (registered through the `pytest11` entry point).

The sandboxes:

* `cliniko_sandbox`: a started `SandboxServer` (seed 42, 60 patients, 80 invoices), one per test;
  it serves PayPal too (`sb.paypal_url`, `sb.paypal`, ...).
* `paypal_sandbox`: the same fixture under a name that reads better in PayPal tests.
* `make_sandbox(**kwargs)`: start servers with your own settings; all are stopped at teardown.

The store's backends (target-paypal's `store_url`, a SQLAlchemy URL):

* `postgres_server` (session): one throwaway PostgreSQL cluster (`PostgresServer`) for the whole
  session, started on first use from Debian's binaries and stopped at the end. When it cannot
  start, every test that asks for it FAILS (never skips) with one line saying what to install.
* `postgres_url` (function): a fresh, empty database on that cluster for this test, dropped at
  teardown; its URL, `postgresql+psycopg://postgres@127.0.0.1:<port>/test_<n>`.
* `store_backend` (module, parametrized `sqlite` / `postgresql`): a test (or fixture) that asks
  for it, or for `store_url`, runs once per backend, with ids `[sqlite]` and `[postgresql]`.
  Module-scoped, so that a module-scoped fixture can take it too and the tests of a module run
  backend by backend (the cluster only starts when a `postgresql` test runs).
* `store_url` (function): a fresh store on `store_backend`: `sqlite:///<tmp_path>/store.db`, or
  a `postgres_url`.
* `make_store_url(backend, folder)` (session): a fresh store URL on `backend` from a fixture of a
  broader scope (a SQLite file in `folder`, or a new database on `postgres_server`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from .postgres import PostgresError, PostgresServer
from .server import SandboxServer

SMALL = {"seed": 42, "patients": 60, "invoices": 80}
STORE_BACKENDS = ["sqlite", "postgresql"]


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


# --- the store's backends ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session; a test that needs it fails if it cannot start."""
    server, problem = PostgresServer(), None
    try:
        server.start()
    except PostgresError as error:
        problem = str(error)
    if problem:  # outside the except: one line, no chained traceback
        pytest.fail(f"the test PostgreSQL cluster: {problem}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's cluster for this test; dropped at teardown."""
    url = postgres_server.create_database()
    yield url
    with suppress(PostgresError):  # best effort: the whole cluster goes at the session's end
        postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="module", params=STORE_BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The store's backend this test runs on: "sqlite" or "postgresql" (parametrized)."""
    return str(request.param)


@pytest.fixture(scope="session")
def make_store_url(request: pytest.FixtureRequest) -> Callable[[str, Path], str]:
    """`make(backend, folder)`: a fresh store URL, a SQLite file in `folder` or a new database."""

    def make(backend: str, folder: Path) -> str:
        if backend == "sqlite":
            return f"sqlite:///{folder / 'store.db'}"
        if backend == "postgresql":
            server: PostgresServer = request.getfixturevalue("postgres_server")
            return server.create_database()
        raise ValueError(f"unknown store backend {backend!r}: one of {STORE_BACKENDS}")

    return make


@pytest.fixture
def store_url(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh store for this test on `store_backend` (a SQLite file, or a `postgres_url`)."""
    if store_backend == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'store.db'}"
