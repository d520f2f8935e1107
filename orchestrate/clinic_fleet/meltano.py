"""Running a clinic's `meltano run` and `meltano invoke paypal-ops ...` as subprocesses.

`meltano --log-format=json` makes every line of the run (Meltano's and its plugins') one JSON
object: the run's log file gets them as readable lines, a few go to Dagster's event log, and a
failure is told in one line, the sync's own last error (`target-paypal stopped: ...`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

JOB = "cliniko-to-paypal"
# target-paypal's summary line names the run in its store: "target-paypal run 12: read ...".
STORE_RUN = re.compile(r"^target-paypal run (\d+):")
# Meltano's closing lines say only that a block failed; the plugin's own line says why.
GENERIC = (
    "Block run completed",
    "Run completed",
    "Extractor failed",
    "Loader failed",
    "Mapper failed",
    "Extraction failed",
    "Loading failed",
)
MAX_LINE = 600
# Meltano's refusal while its system database still counts an earlier run of the same state id
# as running (it calls it stale only 5 minutes after its last heartbeat).
ALREADY_RUNNING = "pipeline is already running"
Notify = Callable[[str, str], None]  # (level, text): lines worth showing in Dagster's event log


class MeltanoFailed(RuntimeError):
    """A meltano command failed; the message is one line saying why."""


@dataclass
class RunOutcome:
    """What a `meltano run` left behind."""

    returncode: int
    error_line: str | None
    store_run_id: int | None
    log: Path


@dataclass
class _Reading:
    """What is kept from the lines as they go by."""

    stopped: str | None = None  # a plugin's own "... stopped: ..." line: the best explanation
    plugin_error: str | None = None
    meltano_error: str | None = None
    raw: str | None = None  # a line that was not JSON (a traceback's last line, a usage error)
    last: str | None = None  # the last line of all
    store_run_id: int | None = None


def run_sync(
    meltano: str,
    clinic: str,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    notify: Notify | None = None,
    force: bool = False,
) -> RunOutcome:
    """`meltano run --state-id-suffix <clinic> cliniko-to-paypal`, its lines into `log`.

    `force`: run even though Meltano still counts an earlier run of the clinic as running.
    """
    args = [meltano, "--log-format=json", "run", "--state-id-suffix", clinic, JOB]
    args += ["--force"] if force else []
    log.parent.mkdir(parents=True, exist_ok=True)
    reading = _Reading()
    with log.open("a") as out:
        process = _start(args, cwd, env, stderr=subprocess.STDOUT)
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                _read(raw, reading, out, notify)
            returncode = process.wait()
        except BaseException:  # Dagster's termination, or anything else: no orphaned sync
            stop(process)
            raise
    return RunOutcome(returncode, _explain(returncode, reading), reading.store_run_id, log)


def invoke(
    meltano: str, args: list[str], env: Mapping[str, str], cwd: Path, log: Path
) -> tuple[int, str, str]:
    """`meltano invoke <args>`: exit code, standard output, and the line that says why it failed.

    The line is "" when it did not fail; Meltano's and the command's error output go to `log`.
    """
    process = _start(
        [meltano, "--log-format=json", "invoke", *args], cwd, env, stderr=subprocess.PIPE
    )
    try:
        stdout, stderr = process.communicate()
    except BaseException:
        stop(process)
        raise
    reading = _Reading()
    with log.open("a") as out:
        for raw in stderr.splitlines():
            _read(raw, reading, out, None)
    why = ""
    if process.returncode:
        # A command's own error line comes through Meltano as one of its lines: the last one.
        why = (
            reading.stopped
            or reading.plugin_error
            or reading.meltano_error
            or reading.last
            or (f"meltano invoke {' '.join(args)} failed with exit code {process.returncode}")
        )
    return process.returncode, stdout, why


def _start(
    args: list[str], cwd: Path, env: Mapping[str, str], stderr: int
) -> subprocess.Popen[str]:
    """Start `meltano` in a session of its own, or say in one line that it cannot be started.

    Its own session: `stop` ends its plugins with it.
    """
    try:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as error:
        raise MeltanoFailed(
            f"cannot start {args[0]} ({error.strerror}): set FLEET_MELTANO to the project's "
            "meltano executable"
        ) from None


def stop(process: subprocess.Popen[Any], grace_seconds: float = 10) -> None:
    """End a meltano process and its plugins (its own session): SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _read(raw: str, reading: _Reading, out: IO[str] | None, notify: Notify | None) -> None:
    """Keep what a line says about the run; write it to the log in a readable form."""
    line = raw.rstrip("\n")
    if not line.strip():
        return
    reading.last = _one_line(line)
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict) or "event" not in event:
        reading.raw = _one_line(line)
        if " stopped: " in line:
            reading.stopped = reading.raw
        if out:
            out.write(line + "\n")
        return
    text = reading.last = _one_line(str(event["event"]))
    level = str(event.get("level", "info"))
    plugin = event.get("name") if event.get("stdio") else None
    if out:
        out.write(f"{event.get('timestamp', '')} {level:<8} {plugin or 'meltano'}: {text}\n")
    if plugin:
        if " stopped: " in text:
            reading.stopped = text
        elif level in ("error", "critical"):
            reading.plugin_error = text if text.startswith(str(plugin)) else f"{plugin}: {text}"
        if match := STORE_RUN.match(text):
            reading.store_run_id = int(match.group(1))
    elif level in ("error", "critical") and not text.startswith(GENERIC):
        reading.meltano_error = f"meltano: {text}"
    if notify and _worth_showing(event, plugin, text, level):
        notify(level, f"{plugin}: {text}" if plugin and not text.startswith(plugin) else text)


def _worth_showing(event: dict[str, Any], plugin: Any, text: str, level: str) -> bool:
    """Progress, the run's summary, what was left out, and every warning of the sync."""
    if not plugin:
        return level in ("error", "critical") and not text.startswith(GENERIC)
    return (
        event.get("kind") in ("progress", "left_out")
        or STORE_RUN.match(text) is not None
        or level in ("error", "critical")
    )


def _explain(returncode: int, reading: _Reading) -> str | None:
    """The one line that says why the run failed (None when it did not)."""
    if returncode == 0:
        return None
    if reading.stopped:
        return reading.stopped
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"meltano run was stopped by {name} before it finished: run it again"
    return (
        reading.plugin_error
        or reading.meltano_error
        or (f"meltano: {reading.raw}" if reading.raw else None)
        or f"meltano run {JOB} failed with exit code {returncode}"
    )


def _one_line(text: str) -> str:
    """Text on one line, cut to a readable length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_LINE else flat[: MAX_LINE - 1] + "…"
