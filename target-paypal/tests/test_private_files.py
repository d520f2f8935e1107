"""The store, its WAL, SHM and lock, and the plan are readable by their owner only (0600/0700)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from target_harness import TargetRunner

from target_paypal.plan import write_plan
from target_paypal.store import Store
from target_paypal.target import scratch_copy


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_run_makes_its_store_files_and_folders_owner_only(make_sandbox, tmp_path, clinic):
    os.umask(0o022)  # the usual umask, which would leave SQLite's file 0644
    folder = tmp_path / "state" / "target-paypal"
    target = TargetRunner(make_sandbox(patients=3, invoices=3), tmp_path)
    done = target.run(
        clinic(customers=3, invoices=4).messages(), store_url=f"sqlite:///{folder}/store.db"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(folder.iterdir())
    assert {p.name for p in files} >= {"store.db", "store.db.lock"}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
    # While a connection writes, SQLite's -wal and -shm exist: the database file's mode.
    store = Store(f"sqlite:///{folder}/store.db")
    store.start_run()
    with store.engine.connect():
        companions = [folder / "store.db-wal", folder / "store.db-shm"]
        assert all(p.exists() for p in companions)
        assert [mode(p) for p in companions] == [0o600, 0o600]
    store.engine.dispose()
    assert "readable or writable by other users" not in done.stderr


def test_a_store_open_to_others_is_tightened_once_with_one_warning(make_sandbox, tmp_path, clinic):
    path = tmp_path / "store.db"
    Store(f"sqlite:///{path}").engine.dispose()
    os.chmod(path, 0o644)
    target = TargetRunner(make_sandbox(patients=3, invoices=3), tmp_path)
    data = clinic(customers=3, invoices=4)
    first = target.run(data.messages())
    assert first.returncode == 0, first.stderr[-3000:]
    warned = [line for line in first.stderr.splitlines() if "readable or writable" in line]
    assert len(warned) == 1 and str(path) in warned[0] and "0644" in warned[0], warned
    assert mode(path) == 0o600
    again = target.run(data.messages())
    assert again.returncode == 0 and "readable or writable" not in again.stderr


def test_the_plan_is_owner_only(tmp_path):
    os.umask(0o022)
    plan = {"invoices": {}, "operations": {}, "run_id": 1}
    folder = tmp_path / "output" / "plan"
    as_json, as_text = write_plan(plan, folder)
    assert (mode(as_json), mode(as_text)) == (0o600, 0o600)
    assert (mode(folder), mode(folder.parent)) == (0o700, 0o700)
    as_json.chmod(0o644)  # a plan left by an earlier version is tightened when rewritten
    write_plan(plan, folder)
    assert mode(as_json) == 0o600


def test_a_dry_runs_scratch_copy_of_the_store_is_owner_only(tmp_path):
    os.umask(0o022)
    source = tmp_path / "store.db"
    Store(f"sqlite:///{source}").engine.dispose()
    (tmp_path / "scratch").mkdir()
    url = scratch_copy(f"sqlite:///{source}", None, tmp_path / "scratch", logging.getLogger())
    assert url == f"sqlite:///{tmp_path / 'scratch' / 'store.db'}"
    assert mode(tmp_path / "scratch" / "store.db") == 0o600
