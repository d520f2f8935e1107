"""Reconcile's files and the sync-health page are readable by their owner only (0600/0700)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from paypal_ops.reconcile import Reconciliation
from paypal_ops.reconcile_files import write
from target_paypal.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_reconcile_files_are_owner_only(tmp_path) -> None:
    os.umask(0o022)
    result = Reconciliation("2026-11-30T00:00:00Z", "UTC", True, {}, [], {}, [])
    folder = tmp_path / "output" / "reconcile"
    paths = write(result, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths.values())
    assert {p.name: mode(p) for p in paths.values()} == {p.name: 0o600 for p in paths.values()}
    assert (mode(folder), mode(folder.parent)) == (0o700, 0o700)


def test_the_sync_health_page_is_owner_only(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store(url).start_run()
    page = tmp_path / "site" / "sync-health.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "paypal_ops.cli",
            "--store-url",
            url,
            "report",
            "--output",
            str(page),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PAYPAL_OPS_RECONCILE_DIR": str(tmp_path / "none")},
    )
    assert done.returncode == 0, done.stderr
    assert (mode(page), mode(page.parent)) == (0o600, 0o700)
