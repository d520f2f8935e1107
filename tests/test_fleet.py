"""The fleet: Dagster runs four sandbox clinics, two at a time, on one PostgreSQL.

A real Dagster deployment as README "Running many clinics" describes it, on this machine: the
daemon and the webserver started through `meltano invoke dagster:daemon|webserver`, the
instance of orchestrate/dagster.yaml (runs, event logs and schedules on PostgreSQL, the queue's
limits), Meltano's system database on the same PostgreSQL. Runs are submitted through Dagster's
Python GraphQL client and read back through `DagsterInstance`. Each clinic is its own sandbox
(its own Cliniko and its own PayPal account, own credentials), and PayPal is checked field by
field against its own Cliniko (tests/paypal_expected.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests
import yaml
from dagster import DagsterEventType, RunsFilter
from meltano_project import own_sys_dir
from paypal_expected import paypal_problems, project_invoicer, read_clinic, report

from clinic_sandbox import SandboxServer

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
SEEDS = {"alpha": 101, "bravo": 102, "charlie": 103, "delta": 104}
SMALL = {"patients": 60, "invoices": 80}
AT_ONCE = 2
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Fleet:
    workdir: Path
    env: dict[str, str]
    sandboxes: dict[str, SandboxServer]
    registry: dict[str, dict]
    port: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def client(self):
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient("127.0.0.1", port_number=self.port)

    _instance: object = None

    @property
    def instance(self):
        """The deployment's instance (orchestrate/dagster.yaml), as any Dagster process sees it."""
        from dagster import DagsterInstance

        if self._instance is None:
            old = dict(os.environ)
            os.environ.update(self.env)  # dagster.yaml reads DAGSTER_POSTGRES_URL, ...
            try:
                self._instance = DagsterInstance.get()
            finally:
                os.environ.clear()
                os.environ.update(old)
        return self._instance

    def submit(self, *clinics: str) -> list[str]:
        """One run per clinic named, in this order, through the run queue."""
        return [
            self.client.submit_job_execution(f"sync_{c}", repository_location_name="clinic_fleet")
            for c in clinics
        ]

    def wait(self, run_ids: list[str], timeout: float = 400, while_waiting=None) -> dict:
        instance = self.instance
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if while_waiting:
                while_waiting()
            records = instance.get_run_records(filters=RunsFilter(run_ids=run_ids))
            if len(records) == len(run_ids) and all(
                r.dagster_run.status.value in FINISHED for r in records
            ):
                return {r.dagster_run.run_id: r for r in records}
            time.sleep(0.5)
        raise AssertionError(f"runs not finished in {timeout} s: {self.tail_logs()}")

    def expected(self, clinic: str):
        invoicer = project_invoicer(self.registry[clinic]["env"])
        return read_clinic(self.sandboxes[clinic].cliniko, invoicer=invoicer)

    def problems(self, clinic: str) -> list[str]:
        return paypal_problems(self.sandboxes[clinic], self.expected(clinic))

    def explain(self, runs: dict) -> str:
        """Why each run that failed did, and the deployment's logs."""
        lines = []
        for run_id, record in runs.items():
            if record.dagster_run.status.value != "SUCCESS":
                for event in self.instance.all_logs(run_id):
                    kind = event.dagster_event.event_type_value if event.dagster_event else "LOG"
                    if kind in ("STEP_FAILURE", "ENGINE_EVENT", "PIPELINE_FAILURE"):
                        data = event.dagster_event.event_specific_data
                        detail = data.user_failure_data if kind == "STEP_FAILURE" else ""
                        job = record.dagster_run.job_name
                        lines.append(f"{job} {kind}: {event.dagster_event.message} {detail}")
        return "\n".join(lines) + "\n" + self.tail_logs()

    def tail_logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.workdir.glob("*.log"))
        )


def registry_entry(name: str, sandbox: SandboxServer, workdir: Path) -> dict:
    env = {
        "TARGET_PAYPAL_INVOICER_EMAIL": f"accounts@{name}-clinic.example",
        "TARGET_PAYPAL_INVOICER_BUSINESS_NAME": f"{name.title()} Allied Health",
        # A PayPal outage is told after two quick tries, not the production minute of backoff.
        "TARGET_PAYPAL_RETRY_MAX_TRIES": "2",
        "TARGET_PAYPAL_RETRY_BACKOFF_BASE_MS": "100",
    }
    if name == "charlie":  # slowed down in the test, to be killed halfway
        env["TARGET_PAYPAL_MAX_CONCURRENCY"] = "1"
    upper = name.upper()
    return {
        "name": name,
        "time_zone": "Australia/Sydney",
        "rules": str(REPO / "transforms" / "map_cliniko_paypal" / "mapping.yaml"),
        "cliniko_api_key_env": f"{upper}_CLINIKO_API_KEY",
        "paypal_client_id_env": f"{upper}_PAYPAL_CLIENT_ID",
        "paypal_client_secret_env": f"{upper}_PAYPAL_CLIENT_SECRET",
        "cliniko_base_url": sandbox.cliniko_url,
        "paypal_base_url": sandbox.paypal_url,
        "env": env,
    }


def start(fleet: Fleet, command: str) -> None:
    log = (fleet.workdir / f"{command}.log").open("w")
    fleet.processes.append(
        subprocess.Popen(
            [str(BIN / "meltano"), "invoke", f"dagster:{command}"],
            cwd=REPO,
            env=fleet.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    )


def stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group (the daemon's and the webserver's code servers with them),
    then SIGKILL what is left after a few seconds."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, postgres_server) -> Iterator[Fleet]:
    workdir = tmp_path_factory.mktemp("fleet")
    postgres = postgres_server
    sandboxes: dict[str, SandboxServer] = {}
    fleet = None
    try:
        for name, seed in SEEDS.items():
            sandboxes[name] = SandboxServer(
                seed=seed,
                **SMALL,
                api_key=f"{name}-key-au1",
                paypal_client_id=f"{name}-client-id",
                paypal_client_secret=f"{name}-secret",
            ).start()
            # Each clinic its own PayPal account: an invoice from any other invoicer is refused.
            sandboxes[name].paypal.rules.merchant_email = f"accounts@{name}-clinic.example"
        registry = {n: registry_entry(n, s, workdir) for n, s in sandboxes.items()}
        (workdir / "clinics.yml").write_text(yaml.safe_dump({"clinics": list(registry.values())}))
        home = workdir / "dagster-home"
        home.mkdir()
        shutil.copy(REPO / "orchestrate" / "dagster.yaml", home / "dagster.yaml")
        postgres.create_database("dagster")
        env = {k: v for k, v in os.environ.items() if not k.startswith(PIPELINE_PREFIXES)}
        env.update(
            {
                "DAGSTER_HOME": str(home),
                # Dagster's own driver is psycopg2: a plain postgresql:// URL.
                "DAGSTER_POSTGRES_URL": postgres.url("dagster").replace("+psycopg", ""),
                "DAGSTER_WEBSERVER_PORT": str(free_port()),
                "FLEET_CLINICS_FILE": str(workdir / "clinics.yml"),
                "FLEET_MAX_CONCURRENT_RUNS": str(AT_ONCE),
                "FLEET_SCHEDULES": "stopped",  # no 02:00 run may fall inside the test
                "FLEET_OUTPUT_DIR": str(workdir / "output"),
                "FLEET_MELTANO": str(BIN / "meltano"),
                "MELTANO_DATABASE_URI": postgres.create_database("meltano"),
                "MELTANO_ENVIRONMENT": "dev",
                "MELTANO_SYS_DIR_ROOT": str(own_sys_dir(workdir)),
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            }
        )
        # One store for the fleet: each clinic's tables in its own schema.
        env["TARGET_PAYPAL_STORE_URL"] = postgres.create_database("store")
        for name, sandbox in sandboxes.items():
            env[f"{name.upper()}_CLINIKO_API_KEY"] = sandbox.api_key
            env[f"{name.upper()}_PAYPAL_CLIENT_ID"] = sandbox.paypal_client_id
            env[f"{name.upper()}_PAYPAL_CLIENT_SECRET"] = sandbox.paypal_client_secret
        fleet = Fleet(workdir, env, sandboxes, registry, int(env["DAGSTER_WEBSERVER_PORT"]))
        # Meltano's system database is created once, before any worker runs.
        subprocess.run(
            [str(BIN / "meltano"), "upgrade", "database"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        start(fleet, "daemon")
        start(fleet, "webserver")
        wait_for_webserver(fleet)
        yield fleet
    finally:
        if fleet:
            stop_all(fleet.processes)
        for sandbox in sandboxes.values():
            sandbox.stop()


PIPELINE_PREFIXES = ("TAP_CLINIKO_", "TARGET_PAYPAL_", "PAYPAL_OPS_", "MAP_CLINIKO_", "DAGSTER_")


def wait_for_webserver(fleet: Fleet, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{fleet.port}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        assert all(p.poll() is None for p in fleet.processes), fleet.tail_logs()
        time.sleep(0.5)
    raise AssertionError(f"the webserver did not answer in {timeout} s: {fleet.tail_logs()}")


# --- reading what Dagster recorded ------------------------------------------------------------


def events(fleet: Fleet, run_id: str, kind: DagsterEventType) -> list:
    return list(fleet.instance.all_logs(run_id, of_type=kind))


def failure_line(fleet: Fleet, run_id: str) -> str:
    [failure] = events(fleet, run_id, DagsterEventType.STEP_FAILURE)
    return failure.dagster_event.step_failure_data.user_failure_data.description


def materialization_metadata(fleet: Fleet, run_id: str) -> dict:
    [event] = events(fleet, run_id, DagsterEventType.ASSET_MATERIALIZATION)
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def check_results(fleet: Fleet, run_id: str) -> dict[str, tuple[bool, str]]:
    found = {}
    for event in events(fleet, run_id, DagsterEventType.ASSET_CHECK_EVALUATION):
        data = event.dagster_event.event_specific_data
        found[data.check_name] = (data.passed, data.severity.value)
    return found


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most runs in progress at the same moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    now = most = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        now += step
        most = max(most, now)
    return most


def kill_worker(clinic: str) -> list[str] | None:
    """SIGKILL the run worker syncing `clinic` and everything under it, as a lost machine would
    end it: the worker's process, its `meltano run`, the tap, the mapper and the target."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "--state-id-suffix" in cmdline and clinic in cmdline and "run" in cmdline:
            worker = process.parent()
            victims = [worker, *worker.children(recursive=True)]
            what = [" ".join(v.cmdline()[:4]) for v in victims]
            for victim in victims:
                victim.kill()
            return what
    return None


# --- the test -----------------------------------------------------------------------------------


def messages(fleet: Fleet, run_id: str) -> list[str]:
    return [
        (e.dagster_event.message if e.dagster_event else e.user_message) or ""
        for e in fleet.instance.all_logs(run_id)
    ]


def saved_state_ids(fleet: Fleet) -> list[str]:
    """The state ids in the one Meltano system database every clinic's runs share."""
    import sqlalchemy as sa

    engine = sa.create_engine(fleet.env["MELTANO_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(sa.text("SELECT state_id FROM state")))
    finally:
        engine.dispose()


@pytest.mark.timeout(900)
def test_the_fleet_syncs_each_clinic_exactly_two_at_a_time(fleet: Fleet) -> None:
    clinics = list(SEEDS)
    for clinic in clinics:
        assert fleet.sandboxes[clinic].paypal.invoices() == []
    expected_in_paypal = {c: len(fleet.expected(c).expected) for c in clinics}

    # Round 1: every clinic, and delta twice. Bravo's PayPal is down; charlie's worker is killed
    # while it writes to PayPal (slowed down so that it is caught halfway).
    fleet.sandboxes["bravo"].set_paypal_outage(True)
    fleet.sandboxes["charlie"].set_paypal_faults(latency_ms=250)
    killed: list[tuple[int, list[str]]] = []

    def kill_charlie_halfway() -> None:
        written = len(fleet.sandboxes["charlie"].paypal.invoices())
        if not killed and written >= 3 and (victims := kill_worker("charlie")):
            killed.append((written, victims))

    names = ["alpha", "bravo", "charlie", "delta", "delta again"]
    first = dict(zip(names, fleet.submit(*clinics, "delta"), strict=True))
    runs = fleet.wait(list(first.values()), while_waiting=kill_charlie_halfway)
    status = {name: runs[run_id].dagster_run.status.value for name, run_id in first.items()}
    assert status == {
        "alpha": "SUCCESS",
        "bravo": "FAILURE",
        "charlie": "FAILURE",
        "delta": "SUCCESS",
        "delta again": "SUCCESS",
    }, fleet.explain(runs)
    assert killed, "charlie's run was never caught writing to PayPal"
    written, victims = killed[0]
    assert written < expected_in_paypal["charlie"], "charlie's run had finished when killed"
    assert any("meltano" in v for v in victims) and any("target-paypal" in v for v in victims)
    said = messages(fleet, first["charlie"])
    assert any("was terminated by signal 9" in m for m in said), said

    # The limits held: never more than AT_ONCE runs at once, never two of one clinic.
    spans = {name: (runs[i].start_time, runs[i].end_time) for name, i in first.items()}
    assert most_at_once(list(spans.values())) == AT_ONCE, spans
    assert most_at_once([spans["delta"], spans["delta again"]]) == 1, spans

    # Bravo failed with the sync's own one line; nothing reached its PayPal.
    line = failure_line(fleet, first["bravo"])
    assert line.startswith("target-paypal stopped: PayPal unreachable"), line
    assert "\n" not in line and len(line) < 600, line
    assert fleet.sandboxes["bravo"].paypal.invoices() == []

    # The others are exact, with the run's summary and checks on their runs.
    for clinic in ("alpha", "delta"):
        problems = fleet.problems(clinic)
        assert not problems, f"{clinic}: {report(problems)}"
    metadata = materialization_metadata(fleet, first["alpha"])
    assert metadata["created"] == expected_in_paypal["alpha"] > 0, metadata
    assert metadata["updated"] == metadata["conflicts"] == 0, metadata
    assert metadata["parked"] > 0, metadata  # the seed has patients without a usable email
    again = materialization_metadata(fleet, first["delta again"])
    assert again["created"] == again["updated"] == 0, again
    assert check_results(fleet, first["alpha"]) == {
        "nothing_parked": (False, "WARN"),
        "reconciled": (True, "ERROR"),
    }
    tags = runs[first["alpha"]].dagster_run.tags
    assert tags["clinic"] == "alpha" and tags["fleet/created"] == str(metadata["created"]), tags

    # Round 2: bravo's PayPal is back; charlie's next run picks up after the kill.
    fleet.sandboxes["bravo"].set_paypal_outage(False)
    fleet.sandboxes["charlie"].set_paypal_faults()
    second = dict(zip(["bravo", "charlie"], fleet.submit("bravo", "charlie"), strict=True))
    runs = fleet.wait(list(second.values()))
    status = {name: runs[run_id].dagster_run.status.value for name, run_id in second.items()}
    assert status == {"bravo": "SUCCESS", "charlie": "SUCCESS"}, fleet.explain(runs)
    assert any(
        "its worker died; running with --force" in m for m in messages(fleet, second["charlie"])
    )
    for clinic in clinics:  # every PayPal exact, and only its own clinic's invoices in it
        problems = fleet.problems(clinic)
        assert not problems, f"{clinic}: {report(problems)}"
        latest = second.get(clinic) or first[clinic]
        assert check_results(fleet, latest)["reconciled"] == (True, "ERROR"), clinic
    assert saved_state_ids(fleet) == [
        f"dev:tap-cliniko--billing-to-target-paypal:{c}" for c in clinics
    ]
