"""tap-cliniko against the Cliniko sandbox: completeness, incremental runs, limits and faults."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

CORE = ["patients", "invoices", "invoice_items"]


def seconds_from_now(seconds: int) -> str:
    """A Cliniko timestamp relative to now: edits 'a moment ago' fall in a second already over."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sandbox_ids(sandbox, collection: str) -> list[str]:
    return sorted(r["id"] for r in sandbox.cliniko.records(collection))


def test_first_run_reads_every_record_including_archived_and_deleted(
    cliniko_sandbox, run_tap, tap_config
) -> None:
    result = run_tap(tap_config(), CORE)
    for stream in CORE:
        assert sorted(result.ids(stream)) == sandbox_ids(cliniko_sandbox, stream), stream
    invoices = result.records["invoices"]
    assert any(r["deleted_at"] for r in invoices), "deleted invoices must reach downstream"
    assert any(r["archived_at"] for r in invoices), "archived invoices must reach downstream"


def test_records_carry_plain_foreign_keys_and_string_ids(
    cliniko_sandbox, run_tap, tap_config
) -> None:
    result = run_tap(tap_config(), ["invoices", "invoice_items"])
    for invoice in result.records["invoices"]:
        assert isinstance(invoice["id"], str)
        assert invoice["patient"]["links"]["self"].endswith("/" + invoice["patient_id"])
        assert invoice["business_id"]
    for item in result.records["invoice_items"]:
        assert item["invoice"]["links"]["self"].endswith("/" + item["invoice_id"])
        assert isinstance(item["quantity"], str)


def test_rerun_without_changes_writes_nothing_and_asks_once_per_stream(
    cliniko_sandbox, run_tap, tap_config
) -> None:
    config = tap_config()
    first = run_tap(config, CORE)
    cliniko_sandbox.reset_stats()
    second = run_tap(config, CORE, state=first.state)
    assert not any(second.records.values())
    by_path = cliniko_sandbox.stats()["by_path"]
    assert {p: n for p, n in by_path.items()} == {f"/v1/{s}": 1 for s in CORE}


def test_edits_archives_and_deletes_arrive_exactly_once(
    cliniko_sandbox, run_tap, tap_config
) -> None:
    config = tap_config()
    first = run_tap(config, CORE)
    store = cliniko_sandbox.cliniko
    live = [r for r in store.records("invoices") if not r["archived_at"] and not r["deleted_at"]]
    edited_patient = store.records("patients")[0]["id"]
    earlier = seconds_from_now(-3)
    store.update("patients", edited_patient, {"email": "changed@example.com"}, at=earlier)
    store.archive("invoices", live[0]["id"], at=earlier)
    store.delete("invoices", live[1]["id"], at=earlier)
    created = store.create("patients", {"first_name": "New", "last_name": "Patient"}, at=earlier)

    second = run_tap(config, CORE, state=first.state)
    assert sorted(second.ids("patients")) == sorted([edited_patient, created["id"]])
    assert sorted(second.ids("invoices")) == sorted([live[0]["id"], live[1]["id"]])
    by_id = {r["id"]: r for r in second.records["invoices"]}
    assert by_id[live[0]["id"]]["archived_at"] and by_id[live[1]["id"]]["deleted_at"]

    third = run_tap(config, CORE, state=second.state)
    assert not any(third.records.values())


def test_record_written_later_in_the_bookmarks_second_is_not_lost(
    cliniko_sandbox, run_tap, tap_config
) -> None:
    config = tap_config()
    store = cliniko_sandbox.cliniko
    first = run_tap(config, ["patients"])
    bookmark = max(r["updated_at"] for r in store.records("patients"))
    late = store.create("patients", {"first_name": "Late", "last_name": "Arrival"}, at=bookmark)
    assert store.get("patients", late["id"])["updated_at"] == bookmark
    second = run_tap(config, ["patients"], state=first.state)
    assert second.ids("patients") == [late["id"]]
    third = run_tap(config, ["patients"], state=second.state)
    assert third.ids("patients") == []


def test_edit_in_a_second_not_yet_over_is_read_again(cliniko_sandbox, run_tap, tap_config) -> None:
    # Cliniko's clock a minute ahead of the edit being read: the run reads the record, then it
    # changes again within the same second. The next run must not skip it as already sent.
    config = tap_config()
    store = cliniko_sandbox.cliniko
    first = run_tap(config, ["patients"])
    patient = store.records("patients")[3]["id"]
    ahead = seconds_from_now(60)
    store.update("patients", patient, {"first_name": "Once"}, at=ahead)
    second = run_tap(config, ["patients"], state=first.state)
    assert second.ids("patients") == [patient]
    store.update("patients", patient, {"first_name": "Twice"}, at=ahead)
    third = run_tap(config, ["patients"], state=second.state)
    assert [r["first_name"] for r in third.records["patients"]] == ["Twice"]


def later(timestamp: str, seconds: int) -> str:
    moment = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return (moment + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_edit_later_in_the_second_reading_began_is_read_again(
    cliniko_sandbox, run_tap, tap_config
) -> None:
    """Cliniko stamps updated_at to the second. A patient edited in the very second the tap
    begins reading (by Cliniko's clock) is read, then edited again later in that same second:
    the run must not take that second as done, so the next run reads the new version. The run
    after that sends nothing again."""
    config = tap_config()
    store = cliniko_sandbox.cliniko
    first = run_tap(config, ["patients"])
    patient = store.records("patients")[5]["id"]
    began = store.now()  # the current second, after every earlier write
    store.update("patients", patient, {"first_name": "Once"}, at=began)

    second = run_tap(config, ["patients"], state=first.state, cliniko_clock=began)
    assert [(r["id"], r["first_name"]) for r in second.records["patients"]] == [
        (patient, "Once")
    ], "the run that began in the edit's second did not read the edit"

    store.update("patients", patient, {"first_name": "Twice"}, at=began)  # same second, later
    third = run_tap(config, ["patients"], state=second.state, cliniko_clock=later(began, 5))
    assert [(r["id"], r["first_name"]) for r in third.records["patients"]] == [
        (patient, "Twice")
    ], (
        f"patient {patient} edited again within {began}, the second the previous run began "
        "reading in, was not read again: the edit is lost downstream "
        f"(bookmark state {second.state['bookmarks']['patients']})"
    )

    fourth = run_tap(config, ["patients"], state=third.state, cliniko_clock=later(began, 10))
    assert fourth.ids("patients") == [], "a record was sent again with nothing changed"


def test_start_date_limits_the_first_run(cliniko_sandbox, run_tap, tap_config) -> None:
    records = cliniko_sandbox.cliniko.records("patients")
    cut = sorted(r["updated_at"] for r in records)[len(records) // 2]
    result = run_tap(tap_config(start_date=cut), ["patients"])
    expected = sorted(r["id"] for r in records if r["updated_at"] >= cut)
    assert sorted(result.ids("patients")) == expected


def test_stays_under_the_rate_limit_without_a_429(cliniko_sandbox, run_tap, tap_config) -> None:
    cliniko_sandbox.set_rate_limit(limit=10, window_seconds=1)
    config = tap_config(max_requests_per_minute=10, rate_limit_window_seconds=1, per_page=10)
    result = run_tap(config, CORE)
    stats = cliniko_sandbox.stats()
    assert stats["requests"] > 20, "the run must span several windows"
    assert stats["by_status"].get("429", 0) == 0
    assert sorted(result.ids("invoices")) == sandbox_ids(cliniko_sandbox, "invoices")


def test_429_waits_for_the_reset_and_loses_nothing(cliniko_sandbox, run_tap, tap_config) -> None:
    cliniko_sandbox.set_rate_limit(limit=5, window_seconds=1)  # tap unaware: it will hit 429s
    result = run_tap(tap_config(per_page=20), CORE)
    assert cliniko_sandbox.stats()["by_status"].get("429", 0) > 0
    for stream in CORE:
        assert sorted(result.ids(stream)) == sandbox_ids(cliniko_sandbox, stream)


@pytest.mark.parametrize("fault", ["error_5xx", "drop", "error_429"])
def test_transient_faults_are_retried_to_the_same_records(
    cliniko_sandbox, run_tap, tap_config, fault
) -> None:
    cliniko_sandbox.set_rate_limit(limit=10_000, window_seconds=1)  # injected 429s reset in 1 s
    cliniko_sandbox.set_faults(**{fault: 0.2}, seed=3)
    result = run_tap(tap_config(per_page=25), CORE)
    by_status = cliniko_sandbox.stats()["by_status"]
    assert sum(n for status, n in by_status.items() if status != "200") > 0, "faults happened"
    for stream in CORE:
        assert sorted(result.ids(stream)) == sandbox_ids(cliniko_sandbox, stream), stream


def test_declared_stream_is_discovered_and_synced(cliniko_sandbox, run_tap, tap_config) -> None:
    declared = {
        "name": "inactive_practitioners",
        "path": "/practitioners/inactive",
        "records_key": "practitioners",
    }
    result = run_tap(tap_config(streams=[declared]), ["inactive_practitioners"])
    expected = sorted(
        r["id"] for r in cliniko_sandbox.cliniko.records("practitioners") if not r["active"]
    )
    assert expected and sorted(result.ids("inactive_practitioners")) == expected
    assert "first_name" in result.records["inactive_practitioners"][0], "fields pass through"


def test_refused_key_ends_the_run_with_one_line_and_no_key(
    cliniko_sandbox, run_tap, tap_config, tmp_path
) -> None:
    secret = "wrong-secret-key-au1"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(api_key=secret)))
    catalog = tmp_path / "catalog.json"
    done = subprocess.run(
        [sys.executable, "-m", "tap_cliniko.tap", "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        check=True,
    )
    catalog.write_text(done.stdout)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tap_cliniko.tap",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    # singer-sdk adds a generic "error while syncing '<stream>'" line; ours is the last word.
    assert errors[-1].endswith("names the shard."), run.stderr[-2000:]
    assert sum("refused the API key" in line for line in errors) == 1
    assert "Traceback" not in run.stderr
    assert secret not in run.stderr + run.stdout


def test_a_refused_connection_stops_after_three_quick_tries(run_tap, tap_config) -> None:
    """A wrong base_url (nothing listening) is not retried for minutes: one line, exit 1."""
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tap_config(base_url=f"http://127.0.0.1:{port}/v1", retry_backoff_base_ms=10)
    from tap_cliniko.client import ClinikoUnreachable

    started = time.monotonic()
    with pytest.raises(ClinikoUnreachable, match=r"cannot connect to Cliniko at .*, 3 tries\)"):
        run_tap(config, ["users"])
    assert time.monotonic() - started < 30


def test_a_missing_key_or_a_malformed_url_is_named() -> None:
    from tap_cliniko.tap import config_problem

    assert "TAP_CLINIKO_API_KEY" in (config_problem({"api_key": " "}) or "")
    assert "TAP_CLINIKO_BASE_URL" in (config_problem({"api_key": "k", "base_url": "htp:/x"}) or "")
    assert config_problem({"api_key": "k", "base_url": "http://127.0.0.1:1/v1"}) is None
