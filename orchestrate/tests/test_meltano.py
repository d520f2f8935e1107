"""Reading a `meltano run`: the one line that says why it failed, and a readable log."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from clinic_fleet.meltano import MeltanoFailed, run_sync, stop


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "meltano"
    path.write_text(f"#!{sys.executable}\nimport json, os, sys, time\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def event(text: str, level: str = "info", plugin: str | None = None) -> str:
    record = {"event": text, "level": level, "timestamp": "T"}
    if plugin:
        record.update(name=plugin, stdio="stderr")
    return f"print({json.dumps(json.dumps(record))}, file=sys.stderr)"


def outcome(tmp_path: Path, body: str):
    log = tmp_path / "logs" / "run.log"
    return run_sync(script(tmp_path, body), "north", {}, tmp_path, log), log


def test_a_plugins_stopped_line_is_the_reason(tmp_path: Path) -> None:
    body = "\n".join(
        [
            event(
                "tap-cliniko stopped: Cliniko refused the API key (401): set TAP_CLINIKO_API_KEY"
                "\nsecond line",
                "error",
                "tap-cliniko--billing",
            ),
            event("Some later plugin error", "error", "target-paypal"),
            event("Extractor failed", "error"),
            "sys.exit(1)",
        ]
    )
    result, log = outcome(tmp_path, body)
    assert result.returncode == 1
    assert result.error_line == (
        "tap-cliniko stopped: Cliniko refused the API key (401): set TAP_CLINIKO_API_KEY "
        "second line"
    )
    assert "T error    tap-cliniko--billing: tap-cliniko stopped:" in log.read_text()


def test_else_a_plugins_error_else_meltanos_own(tmp_path: Path) -> None:
    result, _ = outcome(tmp_path, event("boom", "error", "target-paypal") + "\nsys.exit(1)")
    assert result.error_line == "target-paypal: boom"
    body = event("Environment 'nope' not found", "error") + "\n" + event("Run completed", "error")
    result, _ = outcome(tmp_path, body + "\nsys.exit(1)")
    assert result.error_line == "meltano: Environment 'nope' not found"
    result, _ = outcome(
        tmp_path, "print('Error: no such option: --x', file=sys.stderr)\nsys.exit(2)"
    )
    assert result.error_line == "meltano: Error: no such option: --x"
    result, _ = outcome(tmp_path, "sys.exit(3)")
    assert result.error_line == "meltano run cliniko-to-paypal failed with exit code 3"


def test_a_killed_run_says_so(tmp_path: Path) -> None:
    result, _ = outcome(tmp_path, "os.kill(os.getpid(), 9)")
    assert (
        result.error_line == "meltano run was stopped by SIGKILL before it finished: run it again"
    )


def test_the_target_run_id_is_read_from_its_summary_line(tmp_path: Path) -> None:
    line = event("target-paypal run 12: read nothing; invoices: none", plugin="target-paypal")
    result, _ = outcome(tmp_path, line)
    assert (result.returncode, result.error_line, result.store_run_id) == (0, None, 12)


def test_a_meltano_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(MeltanoFailed, match="cannot start /nowhere/meltano .*FLEET_MELTANO"):
        run_sync("/nowhere/meltano", "north", {}, tmp_path, tmp_path / "run.log")


def test_stop_ends_meltano_and_its_plugins(tmp_path: Path) -> None:
    body = (
        "import subprocess\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "time.sleep(60)"
    )
    process = subprocess.Popen([script(tmp_path, body)], start_new_session=True)
    time.sleep(1)
    children = psutil.Process(process.pid).children(recursive=True)
    assert children
    stop(process, grace_seconds=2)
    time.sleep(0.2)
    assert process.poll() is not None
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
