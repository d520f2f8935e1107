"""Running one command while watching it: wall time, and the peak memory of every process in
its tree (meltano and each plugin it starts), by process name."""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

POLL_SECONDS = 0.2
# What a pipeline process is called in the results: the project's executables by name.
KNOWN = ("meltano", "tap-cliniko", "map-cliniko-paypal", "target-paypal")


@dataclass
class Measured:
    """One finished command."""

    returncode: int
    seconds: float
    peak_mb: dict[str, float] = field(default_factory=dict)  # process name -> peak RSS (MB)
    # process name -> CPU seconds (user + system): on a loaded machine wall time says little
    # about which process does the work; CPU time does.
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    # Every process of the command's tree, exactly (getrusage of reaped children: each parent
    # waits for its children, so the sum is complete; processes running beside it, such as the
    # bench's sandbox, are not in it).
    cpu_total: float = 0.0


def process_name(process: psutil.Process) -> str:
    """`tap-cliniko` for `.../bin/python .../bin/tap-cliniko --config ...`, and so on."""
    try:
        argv = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"
    words = [os.path.basename(a) for a in argv[:2]]
    for known in KNOWN:
        if known in words:
            return known
    return words[0] if words else "?"


def peak_rss_mb(process: psutil.Process) -> float:
    """The process's high-water mark of resident memory (Linux VmHWM): a peak between two
    polls is not missed. Elsewhere the current RSS, which a poll can miss."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return process.memory_info().rss / 1024**2


class TreeWatcher:
    """Polls a process and its descendants until it ends; keeps each name's largest peak."""

    def __init__(self, root: int) -> None:
        self.root = psutil.Process(root)
        self.peaks: dict[str, float] = {}
        self._names: dict[int, str] = {}
        self._cpu: dict[int, float] = {}  # pid -> CPU seconds when last seen
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-watcher", daemon=True)

    def start(self) -> TreeWatcher:
        self._thread.start()
        return self

    def stop(self) -> tuple[dict[str, float], dict[str, float]]:
        """(peak MB by name, CPU seconds by name)."""
        self._done.set()
        self._thread.join()
        cpu: dict[str, float] = {}
        for pid, seconds in self._cpu.items():
            cpu[self._names[pid]] = cpu.get(self._names[pid], 0.0) + seconds
        peaks = {name: round(mb, 1) for name, mb in sorted(self.peaks.items())}
        return peaks, {name: round(s, 1) for name, s in sorted(cpu.items())}

    def _run(self) -> None:
        while not self._done.is_set():
            self._poll()
            self._done.wait(POLL_SECONDS)

    def _poll(self) -> None:
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for process in tree:
            try:
                # A name is read once: an exec'd child keeps its pid, and its argv can change.
                name = self._names.get(process.pid) or process_name(process)
                self._names[process.pid] = name
                mb = peak_rss_mb(process)
                times = process.cpu_times()
                self._cpu[process.pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            self.peaks[name] = max(self.peaks.get(name, 0.0), mb)


def run(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: IO[Any] | None = None,
    stdout: IO[Any] | int | None = subprocess.DEVNULL,
    log: Path | None = None,
    watch_memory: bool = False,
    timeout: float = 3600,
) -> Measured:
    """Runs `command` to its end; stderr goes to `log` (kept for a failed run's reason)."""
    errors = log.open("w") if log else subprocess.DEVNULL
    before = _children_cpu()
    started = time.perf_counter()
    try:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=errors
        )
        watcher = TreeWatcher(process.pid).start() if watch_memory else None
        returncode = process.wait(timeout=timeout)
        seconds = time.perf_counter() - started
        peaks, cpu = watcher.stop() if watcher else ({}, {})
    finally:
        if log:
            errors.close()  # type: ignore[union-attr]
    return Measured(returncode, seconds, peaks, cpu, round(_children_cpu() - before, 1))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check(measured: Measured, what: str, log: Path | None) -> Measured:
    """A failed command stops the bench with the end of its log, not with wrong figures."""
    if measured.returncode != 0:
        tail = log.read_text()[-3000:] if log and log.exists() else ""
        raise RuntimeError(f"{what} failed with exit code {measured.returncode}:\n{tail}")
    return measured
