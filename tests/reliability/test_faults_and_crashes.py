"""Faults, SIGKILLs and a PayPal outage, all through the real `meltano run cliniko-to-paypal`.

What PayPal must hold at the end is worked out from the sandbox's Cliniko records by
`tests/paypal_expected.py` (independently of the mapper and the target) and compared to the cent.

The invariant checked after every kill ("the bookmark never covers a record that is nowhere"):
the tap asks Cliniko for `updated_at >= bookmark` and skips the ids it already sent at the
bookmark's second (`ids_at_bookmark`), so a record with `updated_at` before the saved bookmark,
or at it and among those ids, is never read again. Every such record must therefore already be
where the next run can find it: in PayPal as Cliniko says, or held in target-paypal's store
(staged, parked in a dead letter, or skipped by a rule). The target stages records in its store
before it passes STATE on, so staged-but-not-yet-applied is enough: the next run applies every
dirty invoice whatever it reads.

Each test runs on both store backends of target-paypal and paypal-ops (`[sqlite]`, and
`[postgresql]` on the session's throwaway cluster: the `store_url` fixture).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from leaks import CLINIKO_KEY, PAYPAL_CLIENT_ID, PAYPAL_SECRET
from meltano_project import MELTANO, REPO
from paypal_expected import (
    Clinic,
    invoice_problems,
    link_id,
    paypal_by_reference,
    paypal_problems,
    read_clinic,
    report,
)

from target_paypal.store import Store

JOB = "cliniko-to-paypal"
# `meltano run` keeps the job's state under <environment>:<extractor>-to-<loader>.
STATE_ID = "dev:tap-cliniko--billing-to-target-paypal"
CLINIC = {"seed": 42, "patients": 60, "invoices": 100}
# Fast retries: an injected 429's Retry-After is the limiter's window, so windows are 1 s.
FAST = {
    "TAP_CLINIKO_RETRY_BACKOFF_BASE_MS": "50",
    "TAP_CLINIKO_RATE_LIMIT_WINDOW_SECONDS": "1",
    "TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": "1000",
    "TARGET_PAYPAL_RETRY_BACKOFF_BASE_MS": "50",
    "TARGET_PAYPAL_RETRY_MAX_TRIES": "8",
}
FAULTS = {"error_5xx": 0.10, "error_429": 0.05, "drop": 0.02, "slow": 0.05, "slow_seconds": 0.3}


# --- the sandbox and the project -----------------------------------------------------------------


def clinic_sandbox(make_sandbox, leak_scan, **kwargs: Any):
    sandbox = make_sandbox(
        api_key=CLINIKO_KEY,
        paypal_client_id=PAYPAL_CLIENT_ID,
        paypal_client_secret=PAYPAL_SECRET,
        rate_limit=1000,
        rate_window=1,
        **{**CLINIC, **kwargs},
    )
    sandbox.set_paypal_rate_limit(limit=1000, window_seconds=1)
    leak_scan.sandbox(sandbox)
    return sandbox


def project_for(meltano_project, sandbox, store_url: str, leak_scan, **env: str):
    project = meltano_project(sandbox, store_url)
    project.env.update({**FAST, **env})
    leak_scan.path(project.workdir)
    leak_scan.store(store_url)
    return project


def run(project, leak_scan, *args: str) -> subprocess.CompletedProcess[str]:
    """`meltano run [args] cliniko-to-paypal`, its output handed to the leak scan."""
    done = project.meltano("run", *args, JOB, env=project.paypal_env(), timeout=600)
    leak_scan.text(f"meltano run {' '.join(args)} stdout", done.stdout)
    leak_scan.text(f"meltano run {' '.join(args)} stderr", done.stderr)
    return done


def ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, (
        f"meltano run failed with exit code {done.returncode}; stderr ends:\n{done.stderr[-4000:]}"
    )


def assert_exact(sandbox, clinic: Clinic) -> None:
    found = paypal_by_reference(sandbox)
    duplicates = {cid: len(c) for cid, c in found.items() if len(c) > 1}
    assert not duplicates, f"Cliniko invoices in PayPal more than once: {duplicates}"
    problems = paypal_problems(sandbox, clinic)
    assert not problems, report(problems)


def assert_xrefs(project, sandbox) -> None:
    """The store's cross-reference of every invoice in PayPal names that very invoice (what
    reconcile, replay and the next run's updates go by)."""
    store = Store(project.store_url)
    xrefs = {xref.invoice_id: xref.paypal_id for xref in store.xrefs()}
    wrong = {
        cid: (copies[0]["id"], xrefs.get(cid))
        for cid, copies in paypal_by_reference(sandbox).items()
        if xrefs.get(cid) != copies[0]["id"]
    }
    assert not wrong, f"cross-references (PayPal id, store's) that disagree: {wrong}"


def assert_nothing_refused(sandbox) -> None:
    """PayPal refused no write (a 422 means the sync wrote without knowing PayPal's state)."""
    refused = [f"{c.method} {c.path}" for c in sandbox.paypal.call_log if c.status == 422]
    assert not refused, f"PayPal answered 422 to {len(refused)} call(s): {refused[:10]}"


def parked_for_paypal(project) -> list[str]:
    """Invoices parked because PayPal refused or failed a call (their reason names HTTP)."""
    store = Store(project.store_url)
    return [
        f"{d['record_id']}: {d['reason']}"
        for d in store.open_dead_letters("invoices")
        if "HTTP" in (d["reason"] or "") or "Error" in (d["reason"] or "")
    ]


# --- Meltano's state ------------------------------------------------------------------------------


def saved_state(project, leak_scan) -> dict[str, Any]:
    """`meltano state get` for the job: the state the next run starts from ({} for none)."""
    got = project.meltano("state", "get", STATE_ID)
    leak_scan.text("meltano state get", got.stdout + got.stderr)
    assert got.returncode == 0, got.stderr[-2000:]
    return json.loads(got.stdout) if got.stdout.strip() else {}


def state_row(project) -> tuple[Any, ...] | None:
    """Meltano's raw state row, polled while a run goes (read-only; changes when it saves)."""
    db = project.workdir / "meltano.db"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute(
                "SELECT partial_state, completed_state FROM state WHERE state_id = ?", (STATE_ID,)
            ).fetchone()
    except sqlite3.OperationalError:  # table not created yet, or locked for a moment
        return None


@dataclass
class Covered:
    """The records of one stream a saved bookmark says were read: never read again."""

    bookmark: str | None
    ids_at_bookmark: set[str] = field(default_factory=set)

    def covers(self, record: dict[str, Any]) -> bool:
        if not self.bookmark:
            return False
        updated = norm(record["updated_at"])
        bookmark = norm(self.bookmark)
        return updated < bookmark or (updated == bookmark and record["id"] in self.ids_at_bookmark)


def norm(timestamp: str) -> str:
    """Cliniko's second-precision UTC timestamps, comparable as text."""
    return timestamp.replace("+00:00", "Z").split(".")[0].rstrip("Z") + "Z"


def covered(state: dict[str, Any], stream: str) -> Covered:
    bookmark = ((state.get("singer_state") or {}).get("bookmarks") or {}).get(stream) or {}
    value = bookmark.get("replication_key_value")
    at_bookmark = bookmark.get("ids_at_bookmark") or {}
    same = value and at_bookmark.get("at") and norm(at_bookmark["at"]) == norm(value)
    return Covered(value, set(at_bookmark.get("ids") or []) if same else set())


def held_in_store(project) -> dict[str, set[str]]:
    """What the target's store holds, by kind: staged ids, dead letters and skips by stream."""
    url = project.store_url
    held: dict[str, set[str]] = {}
    if url.startswith("sqlite:///"):  # read-only, and never created here
        db = Path(url.removeprefix("sqlite:///"))
        if not db.exists():
            return held
        url = f"sqlite:///file:{db}?mode=ro&uri=true"
    engine = sa.create_engine(url)
    try:
        queries = {
            "invoices": "SELECT invoice_id FROM invoices",
            "dirty": "SELECT invoice_id FROM invoices WHERE dirty",
            "invoice_items": "SELECT line_id FROM invoice_lines",
            "patients": "SELECT customer_id FROM customers",
            "letters": "SELECT stream || ':' || record_id FROM dead_letters "
            "WHERE resolved_at IS NULL",
            "skipped": "SELECT stream || ':' || record_id FROM skipped",
            "reversals": "SELECT reversal_id FROM reversals",  # Cliniko invoices, kept apart
        }
        for kind, query in queries.items():
            try:
                with engine.connect() as conn:
                    held[kind] = {str(row[0]) for row in conn.execute(sa.text(query))}
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # not created yet
                held[kind] = set()
    finally:
        engine.dispose()
    return held


def bookmark_problems(project, sandbox, clinic: Clinic, state: dict[str, Any]) -> list[str]:
    """Records the saved bookmarks cover that are neither in PayPal as expected nor held."""
    held = held_in_store(project)
    letters, skipped = held.get("letters", set()), held.get("skipped", set())
    found = paypal_by_reference(sandbox)

    def right_in_paypal(cid: str) -> bool:
        copies = found.get(cid, [])
        if cid not in clinic.expected:
            return not copies
        return len(copies) == 1 and not invoice_problems(clinic.expected[cid], copies[0])

    problems = []
    invoices = covered(state, "invoices")
    for cid, invoice in sorted(clinic.invoices.items()):
        if not invoices.covers(invoice):
            continue
        parked = f"invoices:{cid}" in letters or f"rejects:invoices:{cid}" in letters
        if cid in held.get("invoices", set()):
            # Staged: dirty (to apply next run), parked, or applied, which PayPal must show.
            done = cid not in held.get("dirty", set()) and not parked
            if done and cid in clinic.expected and not right_in_paypal(cid):
                problems.append(f"invoice {cid}: the store says applied, PayPal disagrees")
        elif not (parked or f"invoices:{cid}" in skipped or right_in_paypal(cid)):
            problems.append(
                f"invoice {cid} (updated {invoice['updated_at']}, bookmark "
                f"{invoices.bookmark}): neither in PayPal nor in the store"
            )
    items = covered(state, "invoice_items")
    for item in clinic.all_items:
        iid, cid = item["id"], str(link_id(item, "invoice"))
        if not items.covers(item) or iid in held.get("invoice_items", set()):
            continue
        if f"rejects:invoice_items:{iid}" in letters or f"invoice_lines:{iid}" in skipped:
            continue
        if cid in held.get("invoices", set()) and cid not in clinic.expected:
            continue  # a void invoice's line: nothing to write
        if not right_in_paypal(cid):
            problems.append(f"invoice item {iid} of {cid}: neither in PayPal nor in the store")
    patients = covered(state, "patients")
    for pid, patient in sorted(clinic.patients.items()):
        if not patients.covers(patient) or pid in held.get("patients", set()):
            continue
        if f"rejects:patients:{pid}" in letters or f"customers:{pid}" in skipped:
            continue
        problems.append(f"patient {pid}: covered by the bookmark, not in the store")
    return problems


# --- killing a run --------------------------------------------------------------------------------


@dataclass
class Killed:
    point: str
    killed: bool
    returncode: int


def run_and_kill(
    project, leak_scan, name: str, trigger: Callable[[], bool], timeout: float = 300
) -> Killed:
    """Start `meltano run --force` in its own session and SIGKILL its whole process group as soon
    as `trigger()` holds (a short poll loop on a condition); returns whether it was killed."""
    out = project.workdir / f"{name}.out.log"
    err = project.workdir / f"{name}.err.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [str(MELTANO), "run", "--force", JOB],
            cwd=REPO,
            env={**project.env, **project.paypal_env()},
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        killed = False
        try:
            while True:
                try:
                    process.wait(timeout=0.02)
                    break  # finished before the trigger
                except subprocess.TimeoutExpired:
                    pass
                if trigger():
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=30)
                    killed = True
                    break
                timeout -= 0.02
                assert timeout > 0, f"{name}: neither finished nor triggered"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    return Killed(name, killed, process.returncode)


def after_cliniko_requests(sandbox, n: int) -> Callable[[], bool]:
    start = sandbox.stats()["requests"]
    return lambda: sandbox.stats()["requests"] >= start + n


def after_paypal_writes(sandbox, n: int) -> Callable[[], bool]:
    start = len(sandbox.paypal.writes())
    return lambda: len(sandbox.paypal.writes()) >= start + n


def after_paypal_calls(sandbox, n: int) -> Callable[[], bool]:
    start = sandbox.paypal.call_count()
    return lambda: sandbox.paypal.call_count() >= start + n


def either(*triggers: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: any(trigger() for trigger in triggers)


def when_bookmark_saved(project, stream: str) -> Callable[[], bool]:
    """Meltano saved a state with a bookmark for `stream` that differs from the one it had."""

    def bookmark() -> Any:
        row = state_row(project) or ()
        for column in row:
            try:
                state = json.loads(column) if column else {}
            except ValueError:
                continue
            found = covered(state, stream).bookmark
            if found:
                return found
        return None

    before = bookmark()
    return lambda: bookmark() not in (None, before)


def when_state_saved(project) -> Callable[[], bool]:
    before = state_row(project)
    return lambda: (row := state_row(project)) is not None and row != before


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_faults_on_both_apis_still_give_the_exact_paypal_state(
    make_sandbox, meltano_project, store_url, leak_scan
) -> None:
    """10 % 5xx, 5 % 429, 2 % dropped connections and 5 % slow answers on Cliniko and PayPal,
    seeded: one run still puts every invoice in PayPal once, as Cliniko says, to the cent."""
    sandbox = clinic_sandbox(make_sandbox, leak_scan)
    # Ten records a page: enough Cliniko requests for every kind of fault to happen.
    project = project_for(meltano_project, sandbox, store_url, leak_scan, TAP_CLINIKO_PER_PAGE="10")
    clinic = read_clinic(sandbox.cliniko)
    sandbox.set_faults(**FAULTS, seed=7)
    sandbox.set_paypal_faults(**FAULTS, seed=8)

    ok(run(project, leak_scan))

    assert_xrefs(project, sandbox)
    for api, stats in (("Cliniko", sandbox.stats()), ("PayPal", sandbox.paypal_stats())):
        statuses = stats["by_status"]
        fives = sum(n for status, n in statuses.items() if status.startswith("5"))
        assert fives and statuses.get("429") and statuses.get("dropped"), (
            f"{api}: the faults did not all happen: {statuses}"
        )
        assert stats["delay_seconds"] > 0, f"{api}: no slow answer: {stats}"
    assert_exact(sandbox, clinic)


# On PostgreSQL only: the SQLite store's side of a SIGKILL anywhere is target-paypal's own
# test_resilience.py (more kill points, faults too), and a whole run is 80 s a backend in CI.
@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
@pytest.mark.timeout(420)
def test_sigkills_anywhere_lose_and_duplicate_nothing(
    make_sandbox, meltano_project, store_url, leak_scan
) -> None:
    """SIGKILL the whole `meltano run` at seeded random points (reading Cliniko, writing to
    PayPal, just after Meltano saved state), rerun each time: after every kill the saved
    bookmark covers nothing that is nowhere, and a last clean run gives the exact PayPal state."""
    sandbox = clinic_sandbox(make_sandbox, leak_scan)
    project = project_for(meltano_project, sandbox, store_url, leak_scan, TAP_CLINIKO_PER_PAGE="20")
    clinic = read_clinic(sandbox.cliniko)
    chance = random.Random(2026)
    expected_writes = sum(
        3 if w.status == "MARKED_AS_PAID" else 2 for w in clinic.expected.values()
    )

    def kill(name: str, trigger: Callable[[], bool]) -> Killed:
        outcome = run_and_kill(project, leak_scan, name, trigger)
        state = saved_state(project, leak_scan)
        problems = bookmark_problems(project, sandbox, clinic, state)
        assert not problems, f"after {name}: the saved bookmark skips records:\n" + "\n".join(
            problems[:30]
        )
        return outcome

    # The back-fill: killed while the tap reads Cliniko; then the moment the invoices' bookmark
    # could reach Meltano (it saved one, or the target began on PayPal: everything read is
    # staged by then); then while writing to PayPal; then just after Meltano saved the state.
    point = after_cliniko_requests(sandbox, chance.randint(2, 14))
    outcomes = [kill("reading Cliniko", point)]
    point = either(when_bookmark_saved(project, "invoices"), after_paypal_calls(sandbox, 1))
    outcomes.append(kill("invoices bookmark or first PayPal call", point))
    left = expected_writes - len(sandbox.paypal.writes())
    point = after_paypal_writes(sandbox, chance.randint(1, max(1, left // 2)))
    outcomes.append(kill("writing to PayPal", point))
    outcomes.append(kill("just after Meltano saved state", when_state_saved(project)))
    # Cliniko changes, so the next run has work beyond the saved bookmark: killed again.
    change_cliniko(sandbox, clinic, chance)
    clinic = read_clinic(sandbox.cliniko, was_in_paypal=set(paypal_by_reference(sandbox)))
    point = after_paypal_writes(sandbox, chance.randint(1, 4))
    outcomes.append(kill("writing to PayPal (2)", point))

    started = (project.workdir / "reading Cliniko.err.log").read_text()
    assert f"Running job with name '{STATE_ID}'" in started, "the job's state id changed"
    killed = [o.point for o in outcomes if o.killed]
    assert len(killed) >= 5, f"killed only at {killed}; finished: {outcomes}"
    for name in ("reading Cliniko", "writing to PayPal", "writing to PayPal (2)"):
        assert name in killed, f"never killed {name}: {outcomes}"

    ok(run(project, leak_scan, "--force"))
    assert_exact(sandbox, clinic)
    assert_xrefs(project, sandbox)
    assert_nothing_refused(sandbox)


def change_cliniko(sandbox, clinic: Clinic, chance: random.Random) -> None:
    """A day at the clinic: four open invoices paid, one archived."""
    store = sandbox.cliniko
    open_ids = sorted(w.cliniko_id for w in clinic.expected.values() if w.status == "UNPAID")
    for cid in chance.sample(open_ids, 4):
        closed = f"{clinic.invoices[cid]['issue_date']}T23:30:00Z"
        store.update(
            "invoices", cid, {"status": 20, "status_description": "Paid", "closed_at": closed}
        )
    store.archive("invoices", chance.choice([c for c in open_ids if store.get("invoices", c)]))


@pytest.mark.timeout(300)
def test_paypal_down_for_a_whole_run_loses_nothing(
    make_sandbox, meltano_project, store_url, leak_scan
) -> None:
    """PayPal down for a whole run: the run fails fast with one clear line, keeps what it read
    in the store and does not move the bookmark; with PayPal back the next run applies it all."""
    sandbox = clinic_sandbox(make_sandbox, leak_scan)
    project = project_for(meltano_project, sandbox, store_url, leak_scan)
    clinic = read_clinic(sandbox.cliniko)
    sandbox.set_paypal_outage(True)

    down = run(project, leak_scan)

    assert down.returncode != 0, "a run with PayPal down for all of it reported success"
    output = down.stdout + down.stderr
    stopped = [line for line in output.splitlines() if "target-paypal stopped" in line]
    assert stopped, f"no clear error; stderr ends:\n{down.stderr[-3000:]}"
    assert "PayPal" in stopped[0] and "503" in stopped[0] and "next run" in stopped[0], stopped
    assert not [c for c in sandbox.paypal.call_log if c.status < 500], "PayPal answered?"
    assert not sandbox.paypal.invoices()
    assert saved_state(project, leak_scan) == {}, "the bookmark moved while nothing was applied"
    held = held_in_store(project)
    not_kept = [
        cid
        for cid in clinic.invoices
        if cid not in held["invoices"] | held["reversals"]
        and f"rejects:invoices:{cid}" not in held["letters"]
    ]
    assert not not_kept, f"invoices read but not kept in the store: {not_kept}"
    assert set(clinic.expected) <= held["dirty"], "invoices to write not left to the next run"
    parked = sorted(letter for letter in held["letters"] if letter.startswith("invoices:"))
    assert not parked, f"invoices parked for an outage (they are not bad records): {parked}"

    sandbox.set_paypal_outage(False)
    ok(run(project, leak_scan))
    assert_exact(sandbox, clinic)
    assert_xrefs(project, sandbox)


# --- lost answers: PayPal did the write, the client never heard ---------------------------------

# PayPal's faults of the issue "exact state after every run": on every call, 10 % 5xx and 5 % 429
# before PayPal does anything, and 5 % of writes done whose answer is then lost (a 5xx or a cut
# connection). The sizes are CI's; the full size runs by hand with the environment variables.
LOST_ANSWERS = {"error_5xx": 0.10, "error_429": 0.05, "answer_lost": 0.05}
LOST_INVOICES = int(os.environ.get("RELIABILITY_LOST_ANSWERS_INVOICES", "150"))
TOKEN_PATH = "/v1/oauth2/token"
TOKEN_SECONDS = int(os.environ.get("RELIABILITY_TOKEN_SECONDS", "3"))


@pytest.mark.timeout(1800)
def test_one_run_is_exact_though_paypal_loses_answers_and_tokens_expire(
    make_sandbox, meltano_project, store_url, leak_scan
) -> None:
    """One run on a fresh clinic under PayPal's 5xx, 429 and lost answers, with tokens expiring
    every few seconds: PayPal is exactly as Cliniko says, field by field; it refused nothing
    (no 422), nothing is parked for a PayPal refusal and nothing is duplicated."""
    size = {"invoices": LOST_INVOICES, "patients": max(60, LOST_INVOICES * 2 // 3)}
    sandbox = clinic_sandbox(make_sandbox, leak_scan, **size)
    sandbox.paypal.set_token_expiry(TOKEN_SECONDS)
    project = project_for(meltano_project, sandbox, store_url, leak_scan)
    clinic = read_clinic(sandbox.cliniko)
    sandbox.set_paypal_faults(**LOST_ANSWERS, seed=11)

    started = time.monotonic()
    ok(run(project, leak_scan))
    took = time.monotonic() - started

    stats = sandbox.paypal_stats()
    tokens = [c for c in sandbox.paypal.call_log if c.path == TOKEN_PATH and c.status == 200]
    print(
        f"\n{LOST_INVOICES} invoices ({len(clinic.expected)} for PayPal) in {took:.0f} s: "
        f"{stats['requests']} PayPal calls, answers lost {stats['answers_lost']}, by status "
        f"{dict(sorted(stats['by_status'].items()))}, tokens fetched {len(tokens)} "
        f"(lifetime {TOKEN_SECONDS} s)"
    )
    assert stats["answers_lost"] > 0, f"no answer was lost: {stats}"
    assert len(tokens) > 1, "no token expired during the run"
    assert_nothing_refused(sandbox)
    assert not parked_for_paypal(project), parked_for_paypal(project)
    assert_exact(sandbox, clinic)
    assert_xrefs(project, sandbox)


@pytest.mark.timeout(420)
def test_a_kill_right_after_a_create_whose_answer_was_lost(
    make_sandbox, meltano_project, store_url, leak_scan
) -> None:
    """PayPal created the invoice, its answer was lost, and the run was killed before it could
    read back: the next run adopts that invoice instead of creating it again or parking it."""
    sandbox = clinic_sandbox(make_sandbox, leak_scan)
    project = project_for(meltano_project, sandbox, store_url, leak_scan)
    clinic = read_clinic(sandbox.cliniko)
    sandbox.set_paypal_faults(answer_lost=0.2, seed=5)

    def lost_create() -> bool:
        return any(
            c.answer_lost and c.method == "POST" and c.path == "/v2/invoicing/invoices"
            for c in sandbox.paypal.call_log
        )

    killed = run_and_kill(project, leak_scan, "lost create", lost_create)
    assert killed.killed, "the run ended before any create lost its answer"
    problems = bookmark_problems(project, sandbox, clinic, saved_state(project, leak_scan))
    assert not problems, "\n".join(problems[:30])

    ok(run(project, leak_scan, "--force"))
    assert_exact(sandbox, clinic)
    assert_xrefs(project, sandbox)
    assert_nothing_refused(sandbox)
    assert not parked_for_paypal(project), parked_for_paypal(project)
