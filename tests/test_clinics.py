"""Many clinics, one store, through the real `meltano run`: one run per clinic, clinics apart.

* Two runs of the same clinic started together: one runs, the other refuses with one line and
  writes nothing; PayPal is exact (SQLite and PostgreSQL).
* Two clinics on one PostgreSQL store at once: each PayPal exact, each clinic's records apart,
  and a database user confined to one clinic cannot read another's.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import sqlalchemy as sa
from meltano_project import MELTANO, REPO, MeltanoProject
from paypal_expected import paypal_problems, project_invoicer, read_clinic, report

from target_paypal.store import Store, StoreError

JOB = "cliniko-to-paypal"
REFUSED = "target-paypal stopped: another run of clinic north has held the store since"


def clinic_env(project: MeltanoProject, clinic: str) -> dict[str, str]:
    """The project's PayPal settings (on its store), as `clinic`."""
    return {**project.paypal_env(), "TARGET_PAYPAL_CLINIC": clinic, "PAYPAL_OPS_CLINIC": clinic}


def start(project: MeltanoProject, env: dict[str, str], *options: str) -> subprocess.Popen[str]:
    """`meltano run cliniko-to-paypal` started in the background."""
    return subprocess.Popen(
        [str(MELTANO), "run", *options, JOB],
        cwd=REPO,
        env={**project.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, what: str, seconds: float = 120) -> None:
    """Wait for a state of the system (not for time to pass), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def exact(sandbox, project: MeltanoProject) -> None:
    expected = read_clinic(sandbox.cliniko, invoicer=project_invoicer(project.env))
    problems = paypal_problems(sandbox, expected)
    assert not problems, report(problems)


def test_a_second_run_of_the_same_clinic_refuses_and_writes_nothing(
    make_sandbox, meltano_project, store_url
) -> None:
    sandbox = make_sandbox()
    project = meltano_project(sandbox, store_url)
    env = clinic_env(project, "north")
    # The first run is slowed while it writes to PayPal, so that it holds the store for as
    # long as the second one takes to start and stop.
    sandbox.set_paypal_faults(latency_ms=1500)
    first = start(project, env)
    wait_for(lambda: sandbox.paypal.writes() or first.poll() is not None, "the first run to write")
    # Then it is held at PayPal until the second run has ended, however slowly a loaded machine
    # starts that one: each call now waits 30 s (under the client's 60 s timeout).
    sandbox.set_paypal_faults(latency_ms=30_000)
    # Meltano itself refuses a second run of a job whose state it holds as running; --force
    # (what one types after a crash) or a worker with its own Meltano database gets past that,
    # and then the store's lock must hold.
    second = start(project, env, "--force")
    out, err = second.communicate(timeout=300)
    sandbox.set_paypal_faults()  # the first run may finish now
    first_out, first_err = first.communicate(timeout=600)

    assert first.returncode == 0, first_err[-3000:]
    assert second.returncode != 0, "the second run of the clinic was not refused"
    logged = out + err
    assert logged.count(REFUSED) == 1, logged[-3000:]
    refusal = next(line for line in logged.splitlines() if REFUSED in line)
    assert "nothing was written" in refusal
    exact(sandbox, project)
    runs = Store(store_url, clinic="north").runs()
    assert [r["status"] for r in runs] == ["succeeded"], "the refused run wrote to the store"


def test_two_clinics_share_one_postgres_store_and_stay_apart(
    make_sandbox, meltano_project, tmp_path, postgres_url
) -> None:
    clinics = {}
    for name, seed in (("north", 42), ("south", 7)):
        sandbox = make_sandbox(seed=seed)
        (tmp_path / name).mkdir()
        project = MeltanoProject(tmp_path / name, sandbox, postgres_url)
        clinics[name] = (sandbox, project, clinic_env(project, name))
    running = {name: start(project, env) for name, (_, project, env) in clinics.items()}
    for name, run in running.items():
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, f"{name}: {err[-3000:]}"

    for name, (sandbox, project, env) in clinics.items():
        exact(sandbox, project)
        in_paypal = {invoice["id"] for invoice in sandbox.paypal.invoices()}
        recorded = {x.paypal_id for x in Store(postgres_url, clinic=name).xrefs() if x.paypal_id}
        assert recorded == in_paypal, f"{name}'s store holds invoices of another clinic"
        summary = project.meltano("invoke", "paypal-ops", "summary", "--json", env=env)
        assert summary.returncode == 0, summary.stderr[-2000:]
        created = json.loads(summary.stdout)["invoices"]["created"]
        assert created == len(in_paypal), f"{name}'s summary counts another clinic's run"


def test_a_user_confined_to_one_clinic_cannot_read_another(postgres_url) -> None:
    Store(postgres_url, clinic="north").stage_invoices(
        [{"invoice_id": "1", "customer_id": "1", "note": ""}]
    )
    Store(postgres_url, clinic="south").stage_invoices(
        [{"invoice_id": "1", "customer_id": "2", "note": ""}]
    )
    role = f"{sa.make_url(postgres_url).database}_north"  # roles are the server's, not the db's
    with sa.create_engine(postgres_url).begin() as conn:  # what an integrator grants a clinic
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA clinic_north TO {role}"))
        conn.execute(sa.text(f"GRANT ALL ON ALL TABLES IN SCHEMA clinic_north TO {role}"))
        conn.execute(sa.text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA clinic_north TO {role}"))
    confined = sa.make_url(postgres_url).set(username=role).render_as_string(False)

    assert Store(confined, clinic="north").dirty_invoice_ids() == ["1"]
    with pytest.raises((StoreError, sa.exc.ProgrammingError), match="permission denied"):
        Store(confined, clinic="south").dirty_invoice_ids()
