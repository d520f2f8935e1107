"""target-paypal on PostgreSQL as Meltano runs it: first runs on fresh stores, two clinics at once.

Deadlocks showed on first runs (3 of 4 died when singer-sdk drained the sinks in parallel), so
8 first runs on fresh PostgreSQL stores must all succeed with PayPal exact: at that rate all 8
pass by chance once in 65,000 (20 runs took 80 s of CI for nothing more).
"""

from __future__ import annotations

import subprocess
import threading

from target_harness import TargetRunner
from test_upsert import assert_paypal_matches

from target_paypal.store import Store

FIRST_RUNS = 8


def test_first_runs_on_fresh_postgres_stores_never_deadlock(
    make_sandbox, postgres_server, clinic, by_reference, tmp_path
) -> None:
    data = clinic(customers=30, invoices=60)
    failures = []
    for n in range(FIRST_RUNS):
        target = TargetRunner(make_sandbox(patients=5, invoices=5), tmp_path)
        target.config["store_url"] = postgres_server.create_database(f"first_run_{n}")
        done = target.run(data.messages())
        if done.returncode != 0 or "deadlock" in done.stderr.lower():
            failures.append(f"run {n + 1}: exit {done.returncode}: {done.stderr[-600:]}")
            continue
        assert_paypal_matches(target, data, by_reference)
        target.sandbox.stop()
    assert not failures, f"{len(failures)} of {FIRST_RUNS} first runs failed:\n" + "\n".join(
        failures[:3]
    )


def test_two_clinics_run_at_once_on_one_store_each_exact(
    make_sandbox, postgres_url, clinic, by_reference, tmp_path
) -> None:
    runs = {}
    for name, seed in (("north", 1), ("south", 2)):
        target = TargetRunner(make_sandbox(patients=5, invoices=5), tmp_path / name)
        (tmp_path / name).mkdir()
        target.config.update(store_url=postgres_url, clinic=name, max_concurrency=8)
        runs[name] = (target, clinic(customers=20, invoices=50, seed=seed))
    done: dict[str, subprocess.CompletedProcess] = {}
    threads = [
        threading.Thread(target=lambda n=n, t=t, d=d: done.__setitem__(n, t.run(d.messages())))
        for n, (t, d) in runs.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, (target, data) in runs.items():
        assert done[name].returncode == 0, done[name].stderr[-2000:]
        assert_paypal_matches(target, data, by_reference)
        store = Store(postgres_url, clinic=name)
        paypal_ids = {x.paypal_id for x in store.xrefs() if x.paypal_id}
        in_paypal = {i["id"] for i in target.sandbox.paypal.invoices()}
        assert paypal_ids == in_paypal, f"{name}'s store holds another clinic's invoices"
