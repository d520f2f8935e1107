"""`MeltanoProject`: the real `meltano` of this repository, run with a test's own system
database, `.meltano` and output, against a sandbox."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MELTANO = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "meltano"


def own_sys_dir(workdir: Path) -> Path:
    """A `.meltano` of this test's own: Meltano writes each plugin's config and catalog into
    `.meltano/run/<plugin>/` under fixed names, so tests running at once (pytest-xdist) would
    overwrite each other's. The installed plugins are shared through symlinks."""
    sys_dir = workdir / "meltano-sys"
    sys_dir.mkdir(exist_ok=True)
    for kind in ("extractors", "loaders", "mappers", "utilities"):
        link = sys_dir / kind
        if not link.exists():
            link.symlink_to(REPO / ".meltano" / kind, target_is_directory=True)
    return sys_dir


class MeltanoProject:
    """Runs meltano commands in the repository with an isolated system database and output.

    target-paypal and paypal-ops share the store at `store_url` (by default a SQLite file of
    the test's own; a test on PostgreSQL passes the `store_url` fixture's).
    """

    def __init__(self, workdir: Path, sandbox, store_url: str | None = None) -> None:
        self.workdir = workdir
        self.sandbox = sandbox
        self.store_url = store_url or f"sqlite:///{workdir / 'store.db'}"
        self.env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_SYS_DIR_ROOT": str(own_sys_dir(workdir)),
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_CLINIKO_BASE_URL": sandbox.cliniko_url,
            "TAP_CLINIKO_API_KEY": sandbox.api_key,
        }
        self.runs = 0

    def meltano(self, *args: str, env: dict | None = None, timeout: int = 900):
        return subprocess.run(
            [str(MELTANO), *args],
            cwd=REPO,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def paypal_env(self) -> dict[str, str]:
        """target-paypal and paypal-ops pointed at the sandbox and at this test's own store."""
        sandbox, store = self.sandbox, self.store_url
        return {
            "TARGET_PAYPAL_BASE_URL": sandbox.paypal_url,
            "TARGET_PAYPAL_CLIENT_ID": sandbox.paypal_client_id,
            "TARGET_PAYPAL_CLIENT_SECRET": sandbox.paypal_client_secret,
            "TARGET_PAYPAL_STORE_URL": store,
            "PAYPAL_OPS_STORE_URL": store,
            "PAYPAL_OPS_CLINIKO_BASE_URL": sandbox.cliniko_url,
            "PAYPAL_OPS_CLINIKO_API_KEY": sandbox.api_key,
            "PAYPAL_OPS_PAYPAL_BASE_URL": sandbox.paypal_url,
            "PAYPAL_OPS_PAYPAL_CLIENT_ID": sandbox.paypal_client_id,
            "PAYPAL_OPS_PAYPAL_CLIENT_SECRET": sandbox.paypal_client_secret,
            "PAYPAL_OPS_RECONCILE_DIR": str(self.workdir / "reconcile"),
            "TARGET_PAYPAL_PLAN_DIR": str(self.workdir / "plan"),
        }

    def run(self, *blocks: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`meltano run <blocks>` with the PayPal side on the sandbox."""
        done = self.meltano("run", *blocks, env=self.paypal_env(), timeout=600)
        assert done.returncode == 0 or not check, (
            f"meltano run {' '.join(blocks)} failed with exit code {done.returncode}; "
            f"stderr ends:\n{done.stderr[-4000:]}"
        )
        return done

    def run_to_jsonl(self, select: list[str], env: dict | None = None) -> dict[str, list[dict]]:
        """`meltano run tap-cliniko target-jsonl`; returns the records written, by stream."""
        self.runs += 1
        out = self.workdir / f"run{self.runs}"
        out.mkdir()
        extra = {
            "TAP_CLINIKO__SELECT": json.dumps([f"{s}.*" for s in select]),
            "TARGET_JSONL_DESTINATION_PATH": str(out),
            **(env or {}),
        }
        done = self.meltano("run", "tap-cliniko", "target-jsonl", env=extra)
        assert done.returncode == 0, done.stderr[-4000:]
        return {
            f.stem: [json.loads(line) for line in f.read_text().splitlines()]
            for f in out.glob("*.jsonl")
        }

    def saved_states(self) -> dict[str, dict]:
        """Meltano's saved states by state id, read from the system database without starting
        Meltano for each look: {"completed": ..., "partial": ...} as Meltano keeps them."""
        db = self.workdir / "meltano.db"
        if not db.exists():
            return {}
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            try:
                rows = conn.execute(
                    "SELECT state_id, completed_state, partial_state FROM state"
                ).fetchall()
            except sqlite3.OperationalError:  # no run has created the table yet
                return {}
        return {
            sid: {"completed": json.loads(done or "{}"), "partial": json.loads(part or "{}")}
            for sid, done, part in rows
        }
