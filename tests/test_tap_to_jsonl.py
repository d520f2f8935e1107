"""`meltano run tap-cliniko target-jsonl` against a seeded clinic: the tap is reusable as is."""

from __future__ import annotations

import pytest

CORE = ["patients", "invoices", "invoice_items"]


def ids(records: list[dict]) -> list[str]:
    return sorted(r["id"] for r in records)


@pytest.mark.timeout(1200)
def test_full_then_incremental_runs_through_meltano(make_sandbox, meltano_project) -> None:
    # The sizes of the issue, 5,000 patients and 8,000 invoices, and its 200 requests a window,
    # with the window scaled from 60 s to 6 s (tap and sandbox alike) to keep CI short.
    sandbox = make_sandbox(patients=5000, invoices=8000, seed=5)
    sandbox.set_rate_limit(limit=200, window_seconds=6)
    project = meltano_project(sandbox)

    first = project.run_to_jsonl(CORE, env={"TAP_CLINIKO_RATE_LIMIT_WINDOW_SECONDS": "6"})
    for stream in CORE:
        assert ids(first[stream]) == ids(sandbox.cliniko.records(stream)), stream
    assert sandbox.stats()["by_status"].get("429", 0) == 0, "the tap must keep under the limit"

    sandbox.reset_stats()
    second = project.run_to_jsonl(CORE)
    assert sum(len(v) for v in second.values()) == 0
    assert sandbox.stats()["by_path"] == {f"/v1/{s}": 1 for s in CORE}

    store = sandbox.cliniko
    patient = store.records("patients")[10]["id"]
    invoices = [
        r for r in store.records("invoices") if not r["archived_at"] and not r["deleted_at"]
    ]
    item = store.records("invoice_items")[5]["id"]
    store.update("patients", patient, {"last_name": "Changed"})
    store.archive("invoices", invoices[0]["id"])
    store.delete("invoices", invoices[1]["id"])
    store.delete("invoice_items", item)
    third = project.run_to_jsonl(CORE)
    assert ids(third["patients"]) == [patient]
    assert ids(third["invoices"]) == sorted([invoices[0]["id"], invoices[1]["id"]])
    assert ids(third["invoice_items"]) == [item]
    assert third["invoice_items"][0]["deleted_at"]


def test_faults_do_not_change_what_is_written(make_sandbox, meltano_project) -> None:
    sandbox = make_sandbox(patients=300, invoices=400, seed=9)
    sandbox.set_faults(error_5xx=0.2, seed=4)
    project = meltano_project(sandbox)
    written = project.run_to_jsonl(CORE, env={"TAP_CLINIKO_RETRY_BACKOFF_BASE_MS": "50"})
    assert (
        sandbox.stats()["by_status"].get("500", 0)
        + sandbox.stats()["by_status"].get("502", 0)
        + sandbox.stats()["by_status"].get("503", 0)
        > 0
    )
    for stream in CORE:
        assert ids(written[stream]) == ids(sandbox.cliniko.records(stream)), stream


def test_stream_declared_in_config_is_synced(make_sandbox, meltano_project) -> None:
    sandbox = make_sandbox(patients=30, invoices=30, seed=2)
    project = meltano_project(sandbox)
    declared = (
        '[{"name": "inactive_practitioners", "path": "/practitioners/inactive", '
        '"records_key": "practitioners"}]'
    )
    written = project.run_to_jsonl(
        ["inactive_practitioners"], env={"TAP_CLINIKO_STREAMS": declared}
    )
    expected = [r for r in sandbox.cliniko.records("practitioners") if not r["active"]]
    assert expected and ids(written["inactive_practitioners"]) == ids(expected)
