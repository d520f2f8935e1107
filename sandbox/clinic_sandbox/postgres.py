"""A throwaway PostgreSQL cluster for tests and benchmarks, from Debian's `postgresql` binaries.

`PostgresServer().start()` runs `initdb` and `pg_ctl` from the newest
`/usr/lib/postgresql/<version>/bin` into a fresh temporary folder (data and unix socket), listens
on 127.0.0.1 on a free port with trust authentication, and is tuned for tests (no fsync, no
autovacuum, 200 connections for several pipeline runs at once). `stop()` shuts it down and removes
the folder; it is a context manager too. Nothing is left behind and no system service is used.

PostgreSQL refuses to run as root: as root, `initdb` and `pg_ctl` run as the `postgres` system
user (created by Debian's package) through `runuser`, and the folder is handed to that user.

    with PostgresServer() as pg:
        url = pg.create_database("store_1")  # postgresql+psycopg://postgres@127.0.0.1:PORT/store_1
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

ADVICE = "run `make install` (installs Debian's postgresql)"
BINARIES = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# postgresql.conf additions: speed over durability (a test's cluster is thrown away), enough
# connections for several `meltano run`s (target and paypal-ops) against one cluster at once.
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "autovacuum": "off",
    "shared_buffers": "'64MB'",
    "max_wal_size": "'1GB'",
    "log_min_messages": "warning",
    "log_lock_waits": "on",
}


class PostgresError(RuntimeError):
    """The test cluster could not be set up, started or used (one line, with what to do)."""


def find_bindir(root: Path | None = None) -> Path:
    """The `bin` folder of the newest PostgreSQL version installed under /usr/lib/postgresql."""
    root = root or BINARIES
    found = [
        path.parent
        for path in root.glob("*/bin/initdb")
        if (path.parent / "pg_ctl").exists() and path.parent.parent.name.split(".")[0].isdigit()
    ]
    if not found:
        raise PostgresError(
            f"PostgreSQL's server is not installed (no {root}/*/bin/initdb): {ADVICE}"
        )
    return max(found, key=lambda bindir: [int(p) for p in re.findall(r"\d+", bindir.parent.name)])


def free_port(host: str) -> int:
    """A TCP port free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A PostgreSQL cluster of its own in a temporary folder, on 127.0.0.1 and a free port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        max_connections: int = 200,
        start_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port or 0
        self.max_connections = max_connections
        self.start_timeout = start_timeout
        self.bindir: Path | None = None
        self.root: Path | None = None
        self._as_user: list[str] = []
        self._databases = 0

    # --- starting and stopping -----------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster, start it and wait until it accepts connections; returns self."""
        if self.root is not None:
            return self
        self.bindir = find_bindir()
        self._as_user = self._run_as()
        self.root = Path(tempfile.mkdtemp(prefix="clinic-pg-", dir="/tmp"))
        try:
            (self.root / "run").mkdir()
            if self._as_user:
                user = pwd.getpwnam(SUPERUSER)
                for path in (self.root, self.root / "run"):
                    os.chown(path, user.pw_uid, user.pw_gid)
            self._initdb()
            self._start_cluster()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the cluster at once (fast, else immediate shutdown) and remove its folder."""
        root, self.root = self.root, None
        if root is None:
            return
        try:
            if (root / "data" / "postmaster.pid").exists():
                for mode in ("fast", "immediate"):
                    stopped = self._command(
                        "pg_ctl", "stop", "-D", str(root / "data"), "-m", mode, "-w", "-t", "30",
                        cwd=root,
                    )
                    if stopped.returncode == 0:
                        break
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- using it --------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` on this cluster (psycopg 3, no password)."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh, empty database (`test_<n>` unless named); returns its URL."""
        self._databases += 1
        name = name or f"test_{self._databases}"
        if not NAME.match(name):
            raise ValueError(f"{name!r} is not a plain lower-case database name")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections are still open to it."""
        if not NAME.match(name):
            raise ValueError(f"{name!r} is not a plain lower-case database name")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with `psql` (stops at the first error); returns its unaligned output."""
        if self.root is None:
            raise PostgresError("the test PostgreSQL cluster is not running: call start() first")
        done = self._command(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.host,
            "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql, as_user=False,
        )
        if done.returncode != 0:
            raise PostgresError(f"psql on {database} failed: {_last_line(done.stderr)}")
        return done.stdout

    # --- the parts of start() --------------------------------------------------------------------

    def _run_as(self) -> list[str]:
        """`runuser -u postgres --` when root (PostgreSQL will not run as root), else nothing."""
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresError(
                f"no `{SUPERUSER}` system user to run PostgreSQL as (it refuses root): {ADVICE}"
            ) from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresError(f"no `runuser` to run PostgreSQL as `{SUPERUSER}`: {ADVICE}")
        return [runuser, "-u", SUPERUSER, "--"]

    def _initdb(self) -> None:
        assert self.root is not None
        done = self._command(
            "initdb", "-D", str(self.root / "data"), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync", cwd=self.root,
        )
        if done.returncode != 0:
            raise PostgresError(f"initdb failed ({_last_line(done.stderr)}): {ADVICE}")
        settings = {
            **TEST_SETTINGS,
            "listen_addresses": f"'{self.host}'",
            "unix_socket_directories": f"'{self.root / 'run'}'",
            "max_connections": str(self.max_connections),
        }
        with open(self.root / "data" / "postgresql.conf", "a") as conf:  # keeps its owner
            conf.write("\n# clinic_sandbox.postgres: a throwaway cluster for tests\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _start_cluster(self) -> None:
        """`pg_ctl start` on a free port (another if that one was taken meanwhile), then wait."""
        assert self.root is not None
        log = self.root / "postgres.log"
        for attempt in range(3):
            port = self.port if self.port and attempt == 0 else free_port(self.host)
            started = self._command(
                "pg_ctl", "start", "-D", str(self.root / "data"), "-l", str(log), "-w",
                "-t", str(int(self.start_timeout)), "-o", f"-p {port}", cwd=self.root,
            )
            if started.returncode == 0:
                self.port = port
                self._wait_ready()
                return
            text = log.read_text(errors="replace") if log.exists() else started.stderr
            if self.port or "could not" not in text or "bind" not in text:
                break
        raise PostgresError(
            f"PostgreSQL did not start on {self.host} "
            f"({_last_line(text) or _last_line(started.stderr)}): {ADVICE}"
        )

    def _wait_ready(self) -> None:
        """Wait, up to the start timeout, until `pg_isready` says the server accepts connections."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            ready = self._command(
                "pg_isready", "-q", "-h", self.host, "-p", str(self.port), "-U", SUPERUSER,
                "-t", "5", as_user=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"PostgreSQL on {self.host}:{self.port} does not accept connections after "
                    f"{self.start_timeout:g} s: {ADVICE}"
                )
            time.sleep(0.1)  # polled against the deadline above

    def _command(
        self, program: str, *args: str, cwd: Path | None = None, as_user: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run one of PostgreSQL's programs (as `postgres` when root), capturing its output."""
        assert self.bindir is not None
        binary = self.bindir / program
        command = [*(self._as_user if as_user else []), str(binary), *args]
        env = {**os.environ, "LC_ALL": "C", "PGCONNECT_TIMEOUT": "10"}
        try:
            return subprocess.run(
                command,
                cwd=cwd or self.root,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.start_timeout + 30,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not the server
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PostgresError(f"{program} failed ({error}): {ADVICE}") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
