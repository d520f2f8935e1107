"""Bad configuration and a broken store, through the real `meltano run cliniko-to-paypal`.

Each case must be refused before anything is written to PayPal, with one line from the plugin
(`tap-cliniko stopped: ...` / `target-paypal stopped: ...`) that names what to fix, a non-zero
exit code, no traceback, no secret; Meltano's state must not move, and a run with the config
fixed must then apply everything exactly once.
"""

from __future__ import annotations

import re
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import paypal_expected as pipeline
import pytest
from leaks import CLINIKO_KEY, PAYPAL_CLIENT_ID, PAYPAL_SECRET
from meltano_project import MELTANO, REPO, MeltanoProject

from clinic_sandbox import SandboxServer

CREDENTIALS = {
    "api_key": CLINIKO_KEY,
    "paypal_client_id": PAYPAL_CLIENT_ID,
    "paypal_client_secret": PAYPAL_SECRET,
}
JOB = "cliniko-to-paypal"
SMALL = {"seed": 42, "patients": 40, "invoices": 50}
WRONG_KEY = "MS0wrongReliabilityKey5551234-au1"
WRONG_SECRET = "EKwrongReliabilitySecret-0a1b2c3d"
STOPPED = re.compile(r"\b(tap-cliniko|target-paypal) stopped: .*")
# A refused connection may be retried a little at start-up (3 tries: 2 + 4 s of backoff for
# Cliniko, 1 + 2 s for PayPal), never for minutes: the whole run must end well within this.
REFUSAL_SECONDS = 90


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_job(project, changes: dict[str, str | None] | None = None, args: tuple[str, ...] = ()):
    """`meltano run` (or other meltano args) with the sandbox config changed: None unsets."""
    env = {**project.env, **project.paypal_env(), **(changes or {})}
    started = time.monotonic()
    done = subprocess.run(
        [str(MELTANO), *(args or ("run", JOB))],
        cwd=REPO,
        env={k: v for k, v in env.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=600,
    )
    done.seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return done


def states(project) -> dict[str, dict]:
    """Every saved Meltano state, by state id."""
    return project.saved_states()


def assert_refused(done, leak_scan, expected: str) -> str:
    """Non-zero, exactly one `... stopped:` line, containing `expected`; no traceback."""
    output = done.stdout + done.stderr
    leak_scan.text("meltano output", output)
    lines = [m.group(0) for m in STOPPED.finditer(output)]
    assert done.returncode != 0, f"the run was not refused:\n{done.stderr[-3000:]}"
    assert len(lines) == 1, f"expected one '... stopped:' line, got {lines}:\n{output[-3000:]}"
    assert expected in lines[0], f"{lines[0]!r} does not say {expected!r}"
    assert "Traceback" not in output and "BrokenPipe" not in output, output[-4000:]
    assert done.seconds < REFUSAL_SECONDS, f"refusal took {done.seconds:.0f} s"
    return lines[0]


# --- settings -------------------------------------------------------------------------------
# One sandbox and one Meltano project for every refused setting, then the fixed configuration:
# a refused run must leave nothing behind that changes what the fixed run does.


@pytest.fixture(scope="module")
def clinic() -> Iterator[SandboxServer]:
    with SandboxServer(**SMALL, **CREDENTIALS) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def project(clinic, tmp_path_factory):
    return MeltanoProject(tmp_path_factory.mktemp("bad-config"), clinic)


def _cases() -> list:
    cliniko_down = f"http://127.0.0.1:{closed_port()}/v1"
    paypal_down = f"http://127.0.0.1:{closed_port()}"
    prod = {"MELTANO_ENVIRONMENT": "prod"}  # no sandbox credentials in meltano.yml to fall back on
    case = pytest.param
    return [
        case(
            {**prod, "TAP_CLINIKO_API_KEY": None},
            "tap-cliniko stopped: no Cliniko API key: set tap-cliniko's api_key "
            "(TAP_CLINIKO_API_KEY)",
            id="cliniko-key-missing",
        ),
        case(
            {"TAP_CLINIKO_API_KEY": WRONG_KEY},
            "tap-cliniko stopped: Cliniko refused the API key (HTTP 401): set tap-cliniko's "
            "api_key (TAP_CLINIKO_API_KEY)",
            id="cliniko-key-wrong",
        ),
        case(
            {"TAP_CLINIKO_BASE_URL": cliniko_down},
            f"tap-cliniko stopped: cannot connect to Cliniko at {cliniko_down} (ConnectionError, "
            "3 tries): check base_url (TAP_CLINIKO_BASE_URL)",
            id="cliniko-unreachable",
        ),
        case(
            {"TAP_CLINIKO_BASE_URL": "htp:/x"},
            "tap-cliniko stopped: base_url is not an http(s) URL: set TAP_CLINIKO_BASE_URL",
            id="cliniko-url-malformed",
        ),
        case(
            {**prod, "TARGET_PAYPAL_CLIENT_ID": None, "TARGET_PAYPAL_CLIENT_SECRET": None},
            "target-paypal stopped: no PayPal client id or client secret: set "
            "TARGET_PAYPAL_CLIENT_ID and TARGET_PAYPAL_CLIENT_SECRET",
            id="paypal-credentials-missing",
        ),
        case(
            {"TARGET_PAYPAL_CLIENT_SECRET": WRONG_SECRET},
            "target-paypal stopped: PayPal refused the client id/secret (HTTP 401 invalid_client)",
            id="paypal-secret-wrong",
        ),
        case(
            {"TARGET_PAYPAL_BASE_URL": paypal_down},
            f"target-paypal stopped: cannot connect to PayPal at {paypal_down} "
            "(NewConnectionError, 3 tries): check base_url (TARGET_PAYPAL_BASE_URL)",
            id="paypal-unreachable",
        ),
        case(
            {"TARGET_PAYPAL_BASE_URL": "htp:/x"},
            "target-paypal stopped: base_url is not an http(s) URL: set TARGET_PAYPAL_BASE_URL",
            id="paypal-url-malformed",
        ),
    ]


@pytest.mark.parametrize(("changes", "expected"), _cases())
def test_a_bad_setting_is_refused_with_one_line(clinic, project, leak_scan, changes, expected):
    leak_scan.sandbox(clinic)
    leak_scan.secret(WRONG_KEY, WRONG_SECRET)
    clinic.paypal.clear_call_log()

    done = run_job(project, changes)

    assert_refused(done, leak_scan, expected)
    assert not clinic.paypal.writes(), "a refused run wrote to PayPal"
    assert not clinic.paypal.invoices()
    assert states(project) == {}, "a refused run saved Meltano state"


def test_then_the_fixed_configuration_applies_everything_once(clinic, project, leak_scan):
    leak_scan.sandbox(clinic)
    expected = set(pipeline.read_clinic(clinic.cliniko).expected)

    done = run_job(project)

    leak_scan.text("meltano output", done.stdout + done.stderr)
    leak_scan.path(project.workdir / "store.db")
    assert done.returncode == 0, done.stderr[-3000:]
    found = pipeline.paypal_by_reference(clinic)
    assert {cid: len(copies) for cid, copies in found.items() if len(copies) > 1} == {}
    assert set(found) == expected and expected, "PayPal does not hold what Cliniko says"
    assert list(states(project)) == ["dev:tap-cliniko--billing-to-target-paypal"]
    listed = project.meltano("state", "list").stdout.split()  # as Meltano itself sees it
    assert listed == ["dev:tap-cliniko--billing-to-target-paypal"]


# --- the store ------------------------------------------------------------------------------


def garbage(path: Path) -> None:
    path.write_bytes(b"not a database, just bytes \x00\xff" * 200)


def truncated(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


def test_a_corrupt_or_locked_store_stops_the_run_and_is_left_as_it_was(
    make_sandbox, meltano_project, leak_scan
):
    sandbox = make_sandbox(**SMALL, **CREDENTIALS)
    leak_scan.sandbox(sandbox)
    project = meltano_project(sandbox)
    store = project.workdir / "store.db"
    first = run_job(project)
    assert first.returncode == 0, first.stderr[-3000:]
    clinic = pipeline.read_clinic(sandbox.cliniko)
    backup = project.workdir / "backup.db"
    # Closed at once: a connection left open while the file is replaced below would confuse
    # SQLite's locks in this process (and so the lock case).
    with closing(sqlite3.connect(store)) as source, closing(sqlite3.connect(backup)) as copy:
        source.backup(copy)
    state = states(project)
    in_paypal = pipeline.paypal_by_reference(sandbox)

    # A change in Cliniko while the store is broken: the run after the restore must apply it.
    want = next(w for w in sorted(clinic.expected.values(), key=str) if w.status == "UNPAID")
    new_email = f"billing.{want.patient_id}@restored-store.example.com.au"
    sandbox.cliniko.update("patients", want.patient_id, {"invoice_email": new_email})
    sandbox.paypal.clear_call_log()

    for damage in (garbage, truncated):
        shutil.copyfile(backup, store)
        damage(store)
        damaged = store.read_bytes()
        done = run_job(project)
        line = assert_refused(
            done, leak_scan, f"target-paypal stopped: the store {store} is corrupt or not a SQLite"
        )
        assert "restore it from a backup" in line
        assert store.read_bytes() == damaged, f"{damage.__name__}: the store was overwritten"
        if damage is truncated:
            continue
        ops = run_job(project, args=("invoke", "paypal-ops", "summary"))
        leak_scan.text("paypal-ops output", ops.stdout + ops.stderr)
        assert ops.returncode != 0 and "Traceback" not in ops.stdout + ops.stderr
        assert f"the store {store} is corrupt" in ops.stderr, ops.stderr[-2000:]
        assert store.read_bytes() == damaged, f"{damage.__name__}: paypal-ops overwrote the store"

    shutil.copyfile(backup, store)
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
    try:
        done = run_job(project, {"TARGET_PAYPAL_STORE_LOCK_TIMEOUT_SECONDS": "1"})
        assert_refused(
            done,
            leak_scan,
            f"target-paypal stopped: the store {store} is locked by another process (waited 1 s)",
        )
        assert holder.in_transaction
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert not sandbox.paypal.writes(), "a refused run wrote to PayPal"
    assert states(project) == state, "a refused run moved Meltano's state"

    fixed = run_job(project)

    leak_scan.text("meltano output", fixed.stdout + fixed.stderr)
    leak_scan.path(store)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    found = pipeline.paypal_by_reference(sandbox)
    expected = pipeline.read_clinic(sandbox.cliniko, was_in_paypal=set(in_paypal)).expected
    assert {cid: len(copies) for cid, copies in found.items() if len(copies) > 1} == {}
    assert set(found) == set(expected)
    recipient = found[want.cliniko_id][0]["primary_recipients"][0]["billing_info"]
    assert recipient["email_address"].lower() == new_email.lower(), "the change was lost"
    assert states(project) != state, "the fixed run did not move Meltano's state"
