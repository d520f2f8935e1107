"""The throwaway PostgreSQL cluster (`PostgresServer`) and its pytest fixtures."""

from __future__ import annotations

import os
import pwd
import re
import socket

import pytest

from clinic_sandbox.postgres import ADVICE, PostgresError, PostgresServer, find_bindir

URL = re.compile(r"^postgresql\+psycopg://postgres@127\.0\.0\.1:(\d+)/(test_\d+)$")


def test_each_test_gets_a_fresh_database_of_the_sessions_cluster(postgres_server, postgres_url):
    port, name = URL.match(postgres_url).groups()
    assert int(port) == postgres_server.port
    assert postgres_server.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                                name).strip() == "0"
    postgres_server.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)", name)
    other = postgres_server.create_database().rsplit("/", 1)[1]
    assert postgres_server.psql("SELECT to_regclass('t') IS NULL", other).strip() == "t"
    settings = postgres_server.psql("SHOW fsync; SHOW max_connections").split()
    assert settings == ["off", "200"]


def test_the_cluster_runs_as_postgres_when_root(postgres_server):
    owner = os.stat(postgres_server.root / "data").st_uid
    assert owner == (pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid())


def test_stop_shuts_it_down_and_removes_its_folder():
    with PostgresServer() as server:
        root, port = server.root, server.port
        assert (root / "data" / "postmaster.pid").exists()
    assert not root.exists()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))
    server.stop()  # twice is harmless


def test_without_postgresql_it_says_what_to_install_in_one_line(tmp_path):
    with pytest.raises(PostgresError) as error:
        find_bindir(tmp_path)
    assert str(error.value) == (
        f"PostgreSQL's server is not installed (no {tmp_path}/*/bin/initdb): {ADVICE}"
    )
    assert "make install" in ADVICE and "postgresql" in ADVICE


def test_the_newest_version_is_chosen(tmp_path):
    for version in ("9.6", "15", "13"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        (bindir / "initdb").touch()
        (bindir / "pg_ctl").touch()
    assert find_bindir(tmp_path) == tmp_path / "15" / "bin"


@pytest.mark.parametrize("name", ["Store", "a-b", "x; DROP DATABASE postgres"])
def test_only_plain_database_names(postgres_server, name):
    with pytest.raises(ValueError):
        postgres_server.create_database(name)


def test_store_url_is_a_fresh_store_on_each_backend(store_backend, store_url, tmp_path):
    if store_backend == "sqlite":
        assert store_url == f"sqlite:///{tmp_path / 'store.db'}"
    else:
        assert URL.match(store_url)
