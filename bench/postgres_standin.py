"""STAND-IN, to delete when clinic_sandbox.postgres.PostgresServer lands on this branch.

The smallest copy of that class's API the fleet benchmark uses (start, stop, context manager,
url, create_database): a throwaway cluster from Debian's binaries in a temporary folder, on
127.0.0.1 and a free port, trust authentication, no fsync; as root it runs as `postgres`.
bench/fleet.py imports the real class first and falls back to this one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BINDIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "autovacuum": "off", "max_connections": "200", "shared_buffers": "'64MB'"}


class PostgresServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, 0
        self.root: Path | None = None
        self._as_user = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []

    def start(self) -> PostgresServer:
        self.root = Path(tempfile.mkdtemp(prefix="bench-pg-", dir="/tmp"))
        (self.root / "run").mkdir()
        if self._as_user:
            user = pwd.getpwnam(SUPERUSER)
            for path in (self.root, self.root / "run"):
                os.chown(path, user.pw_uid, user.pw_gid)
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port = probe.getsockname()[1]
        settings = {**SETTINGS, "listen_addresses": f"'{self.host}'",
                    "unix_socket_directories": f"'{self.root / 'run'}'"}
        with open(data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run("pg_ctl", "start", "-D", str(data), "-l", str(self.root / "postgres.log"),
                  "-w", "-o", f"-p {self.port}")
        return self

    def stop(self) -> None:
        root, self.root = self.root, None
        if root is None:
            return
        try:
            if (root / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(root / "data"), "-m", "fast", "-w",
                          check=False, cwd=root)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        subprocess.run([str(BINDIR / "psql"), "-X", "-q", "-h", self.host, "-p", str(self.port),
                        "-U", SUPERUSER, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'],
                       check=True, capture_output=True, text=True)
        return self.url(name)

    def _run(self, program: str, *args: str, check: bool = True,
             cwd: Path | None = None) -> None:
        done = subprocess.run([*self._as_user, str(BINDIR / program), *args],
                              cwd=cwd or self.root, capture_output=True, text=True,
                              start_new_session=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip()[-500:]}")
