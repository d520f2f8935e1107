"""Retention through real runs, on both backends: the target applies it at the end of a run,
`paypal-ops purge` shows or applies it under the run lock, and what the store keeps for years
(audit log, outcomes, reasons) holds IDs and amounts, never a name, email or item name."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import sqlalchemy as sa
from target_harness import TargetRunner, input_messages, reject

from target_paypal.store import Store
from target_paypal.store.schema import audit, dead_letters, outcomes, runs


def ops(store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "paypal_ops.cli", "--store-url", store_url, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def years_ago(years: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=365 * years + 2)


def test_a_run_drops_expired_records_and_old_audit_and_replay_says_re_read(
    make_sandbox, tmp_path, clinic, store_url
) -> None:
    target = TargetRunner(make_sandbox(patients=3, invoices=3), tmp_path, store_url)
    data = clinic(customers=4, invoices=6)
    in_nzd = next(iter(data.invoices))
    data.invoices[in_nzd]["currency_code"] = "NZD"  # parked, its record kept
    leaked = "ann.leak@example.com"
    rejects = input_messages(
        "rejects", "record_id", [reject("patients", "55", reason=f"no usable email: {leaked}")]
    )
    first = target.run(data.messages() + rejects)
    assert first.returncode == 0, first.stderr[-3000:]
    store = Store(store_url)
    [letter] = [d for d in store.open_dead_letters("invoices") if d["record_id"] == in_nzd]
    assert letter["record"]["invoice_id"] == in_nzd

    # What the store keeps for years: IDs and amounts only.
    names = {
        v for c in data.customers.values() for v in (c["email"], c["given_name"], c["surname"])
    }
    items = {ln["name"] for lines in data.lines.values() for ln in lines}
    with store.begin() as conn:
        kept_text = [
            *conn.execute(sa.select(audit.c.outcome)).scalars(),
            *conn.execute(sa.select(outcomes.c.reason)).scalars(),
            *conn.execute(sa.select(dead_letters.c.reason)).scalars(),
        ]
    kept_text = [t for t in kept_text if t]
    assert kept_text and any("no usable email: <email>" in t for t in kept_text)
    found = [(word, t) for t in kept_text for word in (*names, *items, leaked) if word in t]
    assert found == [], found

    # Parked 91 days ago; the first run 8 years ago: the next run's end removes both.
    with store.begin() as conn:
        conn.execute(
            dead_letters.update().values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=91))
        )
        conn.execute(runs.update().where(runs.c.id == 1).values(started_at=years_ago(8)))
        conn.execute(audit.update().where(audit.c.run_id == 1).values(at=years_ago(8)))
    second = target.run(data.messages(only={"customers"}))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "re-read from Cliniko to replay" in second.stderr
    letters = {d["record_id"]: d for d in store.open_dead_letters()}
    assert in_nzd in letters and letters[in_nzd]["record"] is None, (
        "the letter stays, its record goes"
    )
    assert letters[in_nzd]["reason"].startswith("currency_code is not AUD")
    assert [r["id"] for r in store.runs()] == [2] and all(
        e["run_id"] == 2 for e in store.audit_log()
    )

    listed = ops(store_url, "dead-letters", "list")
    assert "[record dropped: re-read from Cliniko to replay]" in listed.stdout
    replayed = ops(store_url, "dead-letters", "replay", "--id", in_nzd)
    assert replayed.returncode == 0, replayed.stderr
    assert f"Kept record dropped (1: invoices {in_nzd}): re-read from Cliniko" in replayed.stdout
    assert in_nzd in {d["record_id"] for d in store.open_dead_letters()}
    store.engine.dispose()


def test_purge_shows_then_removes_and_waits_for_no_sync(tmp_path, store_url) -> None:
    store = Store(store_url)
    store.park("customers", "7", "email is not valid", record={"email": "ann@example.com"})
    old = store.start_run()
    store.start_run()
    with store.begin() as conn:
        conn.execute(dead_letters.update().values(created_at=years_ago(1)))
        conn.execute(runs.update().where(runs.c.id == old).values(started_at=years_ago(8)))

    shown = ops(store_url, "purge", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(" 1  records of open letters parked over 90 days ago (oldest" in x for x in lines)
    assert any(" 1  runs over 2557 days old (oldest" in x for x in lines)
    assert "ann@example.com" not in shown.stdout and "Nothing removed" in shown.stdout
    assert len(store.runs()) == 2 and store.open_dead_letters()[0]["record"] is not None

    # The same settings as the target's, from the environment: a year is within 400 days.
    env_kept = subprocess.run(
        [sys.executable, "-m", "paypal_ops.cli", "--store-url", store_url, "purge", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TARGET_PAYPAL_DEAD_LETTER_RETENTION_DAYS": "400"},
    )
    assert " 0  records of open letters parked over 400 days ago" in env_kept.stdout

    store.hold_run_lock()  # a sync of this clinic is running
    refused = ops(store_url, "purge")
    assert refused.returncode == 1 and "has held the store since" in refused.stderr
    assert len(store.runs()) == 2
    store.release_run_lock()

    done = ops(store_url, "purge")
    assert done.returncode == 0, done.stderr
    assert "1 open dead letter(s) now need Cliniko's record" in done.stdout
    assert [r["id"] for r in store.runs()] == [old + 1]
    assert store.open_dead_letters()[0]["record"] is None
    assert json.loads(ops(store_url, "dead-letters", "list", "--json").stdout)[0][
        "record_dropped_at"
    ]
    store.engine.dispose()
