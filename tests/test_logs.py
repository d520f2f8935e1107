"""`meltano --log-format=json run cliniko-to-paypal`: every line is JSON, and the progress lines of
the tap and the target carry fields a log system can chart (`stream`, `done`, `total`,
`eta_seconds`), counts and IDs only."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from leaks import LeakScan

JOB = "cliniko-to-paypal"
CLINIC = {"seed": 42, "patients": 60, "invoices": 100}
FIELDS = ("stream", "done", "total", "eta_seconds")


@pytest.mark.timeout(600)
def test_json_logs_carry_progress_fields(make_sandbox, meltano_project) -> None:
    sandbox = make_sandbox(**CLINIC)
    project = meltano_project(sandbox)
    project.env.update(
        {
            "TAP_CLINIKO_PER_PAGE": "20",  # several pages a stream
            "TAP_CLINIKO_PROGRESS_INTERVAL_SECONDS": "0",  # a line a page: counts, not timing
            "TARGET_PAYPAL_PROGRESS_INTERVAL_SECONDS": "0",
        }
    )

    done = project.meltano("--log-format=json", "run", JOB, env=project.paypal_env())

    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines), "lines that are not JSON in a JSON log"
    progress = [r for r in records if r.get("kind") == "progress"]
    missing = [r for r in progress if any(f not in r for f in FIELDS)]
    assert progress and not missing, f"progress lines without {FIELDS}: {missing[:3]}"

    last: dict[tuple[str, str], dict] = {}
    totals: dict[tuple[str, str], set[int]] = defaultdict(set)
    for record in progress:
        key = (record["name"], record["stream"])
        assert 0 <= record["done"] <= record["total"], record
        last[key] = record
        totals[key].add(record["total"])
    tap = {stream: r for (name, stream), r in last.items() if name.startswith("tap-cliniko")}
    for stream, collection in (("invoices", "invoices"), ("patients", "patients")):
        record = tap.get(stream)
        assert record, f"no progress for the tap's {stream}: {sorted(tap)}"
        held = sandbox.cliniko.count(collection)
        assert record["done"] == record["total"] == held, (stream, record, held)
    applied = [r for (name, _), r in last.items() if name.startswith("target-paypal")]
    assert applied and all(r["done"] == r["total"] for r in applied), applied

    scan = LeakScan()
    scan.sandbox(sandbox)
    scan.text("meltano --log-format=json run", done.stderr + done.stdout)
    assert not scan.leaks(), scan.leaks()
