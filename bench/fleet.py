"""Benchmark 6: a fleet of clinics synced at once on one machine.

For N in 1, 2 and 4: N sandboxes (one clinic's Cliniko and PayPal each) of 2,000 invoices (and
as many patients), 100 ms added to every PayPal call; the N clinics' first syncs started
together, each `meltano run --state-id-suffix <clinic> cliniko-to-paypal` with its own sandbox
and TARGET_PAYPAL_CLINIC, all on one PostgreSQL store database (a schema per clinic) and one
Meltano system database on the same PostgreSQL. Measured: wall time until the last run ends,
and CPU seconds of every process the runs started (meltano and its plugins, from
getrusage(RUSAGE_CHILDREN)), of PostgreSQL and of the sandboxes, apart.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import psutil

from bench import e2e, measure, sandbox
from bench.paths import BIN, REPO
from bench.sandbox import API_KEY, CLIENT_ID, CLIENT_SECRET, Sandbox
from clinic_sandbox.postgres import PostgresServer
from target_paypal.store import Store

FLEETS = (1, 2, 4)
INVOICES = 2_000  # per clinic at BENCH_SCALE=1, and as many patients
LATENCY_MS = 100
TARGET_RATIO = 1.5  # wall(4) / wall(1)
JOB = "cliniko-to-paypal"
# Every clinic has its own Cliniko user and PayPal account, so each keeps its own limits:
# Cliniko's 200 requests a minute (a 2,000-invoice first sync needs fewer), and the dev
# environment's PayPal settings, where at 100 ms a call 8 workers make at most ~80 calls a
# second, under the cap of 100: max_concurrency governs, not the cap.
CLINIKO_PER_MINUTE = 200
MAX_CONCURRENCY = 8
MAX_REQUESTS_PER_SECOND = 100


def own_sys_dir(folder: Path) -> Path:
    """A `.meltano` of the clinic's own, as every worker running beside others needs: Meltano
    writes each plugin's config and catalog to `.meltano/run/<plugin>/` under fixed names, and
    runs of one project at once overwrite each other's (seen here: `Invalid catalog`). The
    installed plugins are shared through symlinks (as tests/meltano_project.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("extractors", "loaders", "mappers", "utilities"):
        link = folder / kind
        if not link.exists():
            link.symlink_to(REPO / ".meltano" / kind, target_is_directory=True)
    return folder


def clinic_env(sb: Sandbox, clinic: str, store_url: str, meltano_url: str,
               sys_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_SYS_DIR_ROOT": str(sys_dir),
        "MELTANO_DATABASE_URI": meltano_url,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_CLINIKO_BASE_URL": sb.cliniko_url,
        "TAP_CLINIKO_API_KEY": API_KEY,
        "TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": str(CLINIKO_PER_MINUTE),
        "TARGET_PAYPAL_BASE_URL": sb.paypal_url,
        "TARGET_PAYPAL_CLIENT_ID": CLIENT_ID,
        "TARGET_PAYPAL_CLIENT_SECRET": CLIENT_SECRET,
        "TARGET_PAYPAL_STORE_URL": store_url,
        "TARGET_PAYPAL_CLINIC": clinic,
        "TARGET_PAYPAL_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
        "TARGET_PAYPAL_MAX_REQUESTS_PER_SECOND": str(MAX_REQUESTS_PER_SECOND),
    }


def children_cpu(who: int = resource.RUSAGE_CHILDREN) -> float:
    """CPU seconds of this process's ended and waited-for descendants: meltano waits for its
    plugins, so a finished `meltano run` brings theirs too, to the last millisecond.
    (RUSAGE_SELF: the bench's own, its watchers' polling.)"""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def tree_cpu(pid: int) -> float:
    """CPU seconds of a running process, its reaped children and its live ones (PostgreSQL's
    postmaster reaps the backend of every closed connection)."""
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children(recursive=True):
            with suppress(psutil.Error):  # a backend that ended meanwhile
                c = child.cpu_times()
                total += c.user + c.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every process, ours and others')."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def postmaster_pid(pg: Any) -> int:
    return int((Path(pg.root) / "data" / "postmaster.pid").read_text().split()[0])


def migrate(meltano_url: str, log: Path) -> None:
    """Create Meltano's tables before the clock starts: N meltanos on a fresh system database
    would otherwise race to migrate it, and the first run would pay for it alone."""
    env = {**os.environ, "MELTANO_DATABASE_URI": meltano_url,
           "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "MELTANO_ENVIRONMENT": "dev"}
    done = measure.run([str(BIN / "meltano"), "state", "list"], env=env, cwd=REPO, log=log)
    measure.check(done, "meltano state list (migrating the system database)", log)


def run_clinic(env: dict[str, str], clinic: str, log: Path) -> tuple[float, measure.Measured]:
    started = time.perf_counter()
    command = [str(BIN / "meltano"), "run", "--state-id-suffix", clinic, JOB]
    return started, measure.run(command, env=env, cwd=REPO, log=log, watch_memory=True)


def check_clinic(sb: Sandbox, store_url: str, clinic: str, done: measure.Measured,
                 log: Path) -> dict[str, Any]:
    """A sanity check, not a test: the run succeeded and the clinic's PayPal holds exactly the
    invoices its own schema of the shared store says it created, and its own Cliniko was read."""
    measure.check(done, f"meltano run of clinic {clinic}", log)
    store = Store(store_url, clinic=clinic)
    try:
        recorded = sum(1 for x in store.xrefs() if x.paypal_id)
        status = store.runs(1)[0]["status"]
    finally:
        store.engine.dispose()
    in_paypal, requests = sb.paypal_invoice_count(), sb.stats()["requests"]
    if status != "succeeded" or in_paypal != recorded or not in_paypal or not requests:
        raise RuntimeError(f"clinic {clinic}: run {status}, {in_paypal} invoices in PayPal, "
                           f"{recorded} in its store, {requests} Cliniko requests; see {log}")
    return {"seconds": round(done.seconds, 1), "paypal_invoices": in_paypal,
            "cliniko_requests": requests, "phases": e2e.phases(log),
            "cpu_seconds": done.cpu_seconds, "peak_memory_mb": done.peak_mb}


def one_fleet(pg: Any, n: int, invoices: int, folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    store_url = pg.create_database(f"store_{n}")
    meltano_url = pg.create_database(f"meltano_{n}")
    clinics = [f"c{i + 1}" for i in range(n)]
    with ExitStack() as stack:
        sandboxes = {}
        for i, clinic in enumerate(clinics):
            sb = stack.enter_context(sandbox.start(invoices, invoices,
                                                   folder / f"sandbox-{clinic}.log", seed=42 + i))
            sb.set_paypal_latency(LATENCY_MS)
            sandboxes[clinic] = sb
        migrate(meltano_url, folder / "migrate.log")
        for sb in sandboxes.values():
            sb.reset_stats()
        envs = {c: clinic_env(sandboxes[c], c, store_url, meltano_url,
                              own_sys_dir(folder / f"meltano-sys-{c}")) for c in clinics}
        postmaster = postmaster_pid(pg)
        pg_before, sb_before = tree_cpu(postmaster), {c: tree_cpu(s.process.pid)
                                                      for c, s in sandboxes.items()}
        cpu_before, machine_before = children_cpu(), machine_busy()
        bench_before = children_cpu(resource.RUSAGE_SELF)
        load = [round(x, 2) for x in os.getloadavg()]
        with ThreadPoolExecutor(n) as pool:
            futures = {c: pool.submit(run_clinic, envs[c], c, folder / f"{c}.log")
                       for c in clinics}
            runs = {c: f.result() for c, f in futures.items()}
        pipeline_cpu, machine_cpu = children_cpu() - cpu_before, machine_busy() - machine_before
        bench_cpu = children_cpu(resource.RUSAGE_SELF) - bench_before
        wall = (max(start + done.seconds for start, done in runs.values())
                - min(start for start, _ in runs.values()))
        time.sleep(0.5)  # the last backends' exits reach the postmaster
        pg_cpu = tree_cpu(postmaster) - pg_before
        sandbox_cpu = sum(tree_cpu(s.process.pid) - sb_before[c] for c, s in sandboxes.items())
        per_clinic = {c: check_clinic(sandboxes[c], store_url, c, runs[c][1],
                                      folder / f"{c}.log") for c in clinics}
    result = summarise(n, invoices, wall, pipeline_cpu, pg_cpu, sandbox_cpu, per_clinic)
    # Other work on the machine meanwhile (other users' processes): a busy machine slows a
    # fleet without any fault of the fleet's.
    others = machine_cpu - pipeline_cpu - pg_cpu - sandbox_cpu - bench_cpu
    return {**result, "load_average_at_start": load, "bench_cpu_seconds": round(bench_cpu, 1),
            "other_cores_busy": round(max(others, 0.0) / wall, 2) if wall else 0.0}


def summarise(n: int, invoices: int, wall: float, pipeline_cpu: float, pg_cpu: float,
              sandbox_cpu: float, per_clinic: dict[str, dict[str, Any]]) -> dict[str, Any]:
    thousands = n * invoices / 1000
    by_process: dict[str, float] = {}
    for run in per_clinic.values():
        for name, seconds in run["cpu_seconds"].items():
            by_process[name] = round(by_process.get(name, 0.0) + seconds, 1)
    busy = pipeline_cpu + pg_cpu + sandbox_cpu
    return {
        "clinics": n,
        "invoices_per_clinic": invoices,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": {"pipeline": round(pipeline_cpu, 1), "postgres": round(pg_cpu, 1),
                        "sandboxes": round(sandbox_cpu, 1)},
        "pipeline_cpu_per_1000_invoices": round(pipeline_cpu / thousands, 1),
        "postgres_cpu_per_1000_invoices": round(pg_cpu / thousands, 1),
        "sandbox_cpu_per_1000_invoices": round(sandbox_cpu / thousands, 1),
        # Cores kept busy on average over the wall time, all processes together; and the
        # shortest wall time that CPU allows on this machine's cores, were they all ours.
        "cores_busy": round(busy / wall, 2) if wall else 0.0,
        "cpu_bound_wall_seconds": round(busy / (os.cpu_count() or 1), 1),
        "pipeline_cpu_by_process": dict(sorted(by_process.items(), key=lambda kv: -kv[1])),
        "per_clinic": per_clinic,
    }


def check_drivers() -> None:
    """psycopg where the runs need it: in meltano's venv (its system database) and in
    target-paypal's (the store); a missing one would fail each run only after its start-up."""
    target = REPO / ".meltano" / "loaders" / "target-paypal" / "venv" / "bin" / "python"
    for python in (BIN / "python", target):
        found = subprocess.run([str(python), "-c", "import psycopg"], capture_output=True)
        if found.returncode != 0:
            raise RuntimeError(f"the fleet needs psycopg 3 in {python.parents[1]}: "
                               "`make install` (psycopg[binary] comes with target-paypal)")


def run(invoices: int, folder: Path, say: Any = print) -> dict[str, Any]:
    """Every fleet size on one PostgreSQL cluster, each size on fresh databases."""
    check_drivers()
    results: dict[str, Any] = {
        "latency_ms": LATENCY_MS, "cliniko_max_requests_per_minute": CLINIKO_PER_MINUTE,
        "max_concurrency": MAX_CONCURRENCY, "max_requests_per_second": MAX_REQUESTS_PER_SECOND,
        "postgres": PostgresServer.__module__, "fleets": {},
    }
    with PostgresServer() as pg:
        for n in FLEETS:
            say(f"bench: fleet of {n} clinic(s), {invoices:,} invoices each ...")
            fleet = one_fleet(pg, n, invoices, folder / f"fleet-{n}")
            say(f"bench: fleet of {n}: {fleet['wall_seconds']} s wall, "
                f"{fleet['pipeline_cpu_per_1000_invoices']} CPU s/1000 invoices")
            results["fleets"][str(n)] = fleet
    one, four = results["fleets"]["1"]["wall_seconds"], results["fleets"]["4"]["wall_seconds"]
    results["ratio_4_to_1"] = round(four / one, 2) if one else None
    results["target_ratio"] = TARGET_RATIO
    return results
